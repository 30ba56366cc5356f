"""A realistic store for the web-app tests (built once per session with `process_call`
on hand-written transcripts), and tests of the users file and the exemplary-call
library that the web app builds on."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
import wave
import zipfile
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct horse 42"
USERS = {  # name: (role, teams)
    "ada": ("admin", ()),
    "sam": ("supervisor", ("blue",)),
    "rex": ("supervisor", ("red",)),
    "tia": ("trainer", ()),
}

_OP = "operator"
_CL = "client"


def _turns(*lines: tuple[str, float, float, str]) -> list[dict[str, Any]]:
    return [{"speaker": s, "start": a, "end": b, "text": t} for s, a, b, t in lines]


GOOD_EN = _turns(
    (_OP, 0.5, 5.0, "Hello, thank you for calling, my name is Anna. How can I help you today?"),
    (_CL, 5.5, 9.0, "Hi, my card was blocked this morning and I can't pay."),
    (_OP, 9.5, 14.0, "I'm sorry to hear that. Could you tell me what happened when you tried to pay?"),
    (_CL, 14.5, 17.0, "The terminal said declined, twice."),
    (_OP, 17.5, 24.0, "So what you're saying is the card was declined twice this morning. I have unblocked the card, "
                      "you can now pay again."),
    (_CL, 24.5, 28.0, "Great, it works now, thank you so much, that's perfect."),
    (_OP, 28.5, 31.0, "Is there anything else I can help you with?"),
    (_CL, 31.5, 34.0, "No, that's all, thank you, you were very helpful."),
    (_OP, 34.5, 37.0, "Thank you for calling, have a nice day, goodbye."),
)
BAD_EN = _turns(
    (_OP, 0.4, 4.1, "Hello, my name is Mark, how can I help you?"),
    (_CL, 4.6, 9.0, "This is outrageous, my card is blocked again. I want to speak to your manager right now."),
    (_OP, 9.4, 13.0, "Well, that's not my problem, calm down."),
    (_CL, 13.5, 17.0, "I will file a complaint about you."),
    (_OP, 17.5, 20.0, "Whatever. Bye."),
)
BAD_RU = _turns(
    (_OP, 0.4, 4.1, "Здравствуйте, меня зовут Анна, чем могу помочь?"),
    (_CL, 4.6, 8.0, "У меня заблокировали карту."),
    (_OP, 8.4, 12.0, "Это не моя проблема, звоните в отделение."),
    (_CL, 12.4, 16.0, "Это безобразие, позовите руководителя."),
    (_OP, 16.4, 19.0, "До свидания."),
)

# call id -> (team, operator, started_at, language, scenario, turns, with audio)
CALLS: dict[str, tuple[str, str, str, str, str | None, list[dict[str, Any]], bool]] = {
    "blue-bad-en": ("blue", "op-b1", "2026-11-03T09:15:00", "en", "card_block", BAD_EN, True),
    "blue-bad-ru": ("blue", "op-b1", "2026-11-02T11:00:00", "ru", "card_block", BAD_RU, False),
    "blue-good-en": ("blue", "op-b2", "2026-11-05T10:00:00", "en", "card_block", GOOD_EN, True),
    "blue-good-en-2": ("blue", "op-b1", "2026-11-12T16:30:00", "en", "billing", GOOD_EN, False),
    "red-bad-en": ("red", "op-r1", "2026-11-04T12:00:00", "en", "card_block", BAD_EN, True),
    "red-good-en": ("red", "op-r1", "2026-11-06T08:45:00", "en", "billing", GOOD_EN, True),
}


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A mono 16-bit WAV: a quiet tone, so a browser can decode and seek it."""
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(2000 * math.sin(2 * math.pi * 330 * i / rate))) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


_BUILT: dict[str, Any] = {}


def build_web_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Once per session: process the calls above with `process_call`, store them,
    point the audio calls at a generated WAV, add the users. Returns paths and facts."""
    if "store" in _BUILT:
        return _BUILT
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB

    root = tmp_path_factory.mktemp("web")
    config = load_config()
    store = Store(root / "store")
    audio: dict[str, Path] = {}
    inbox = root / "inbox"
    inbox.mkdir()
    for cid, (team, op, started, lang, scenario, turns, with_audio) in CALLS.items():
        src = inbox / f"{cid}.json"
        src.write_text(json.dumps({"call_id": cid, "language": lang, "operator_id": op, "role": "inbound",
                                   "team": team, "started_at": started, "scenario": scenario, "turns": turns},
                                  ensure_ascii=False), encoding="utf-8")
        data = process_call(src, config).serialize()
        if with_audio:  # as if the call had been recorded: a WAV as long as the conversation
            audio[cid] = write_wav(root / f"{cid}.wav", turns[-1]["end"] + 1.0)
            data["source"] = {**data["source"], "path": str(audio[cid]), "format": "wav", "sample_rate": 8000,
                              "channels": 1}
        store.save(data)
    users = UserDB(store.path)
    for name, (role, teams) in USERS.items():
        users.add(name, role, PASSWORD, teams)
    _BUILT.update(store=store.path, audio=audio, config=config, root=root)
    return _BUILT


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_web_store(tmp_path_factory)


# ---------------------------------------------------------------- the data the app relies on

def test_store_has_what_the_pages_need(built):
    from callqa.pipeline.store.db import Store

    store = Store(built["store"])
    flags = store.flags()
    assert {f["call_id"] for f in flags} >= {"blue-bad-en", "red-bad-en"}
    assert any(f["flag_id"] == "forbidden_phrase" and f["quote"] for f in flags)
    noms = store.nominations()
    assert {n["call_id"] for n in noms} >= {"blue-good-en", "red-good-en"}
    assert store.get("blue-bad-en")["team"] == "blue"


# ---------------------------------------------------------------- users

def test_users_file_hashes_and_authenticates(tmp_path):
    from callqa.users import UserDB, UserError

    db = UserDB(tmp_path)
    db.add("anna", "supervisor", "s3cret-pass", ["blue", "green"])
    text = (tmp_path / "users.json").read_text()
    assert "s3cret-pass" not in text and "$argon2id$" in text
    assert oct((tmp_path / "users.json").stat().st_mode & 0o777) == "0o600"
    assert db.authenticate("anna", "s3cret-pass").teams == ("blue", "green")
    assert db.authenticate("anna", "wrong-pass!") is None
    assert db.authenticate("nobody", "s3cret-pass") is None
    with pytest.raises(UserError, match="at least one --team"):
        db.add("bob", "supervisor", "long-enough-1")
    with pytest.raises(UserError, match="at least 8"):
        db.add("bob", "admin", "short")
    with pytest.raises(UserError, match="already exists"):
        db.add("anna", "admin", "another-pass-1")
    old = db.get("anna").stamp
    db.update("anna", password="new-pass-123")
    assert db.get("anna").stamp != old
    assert db.authenticate("anna", "s3cret-pass") is None
    db.update("anna", disabled=True)
    assert db.authenticate("anna", "new-pass-123") is None


def test_user_permissions_and_team_scope():
    from callqa.users import User

    sup, trainer, admin = User("s", "supervisor", ("blue",)), User("t", "trainer"), User("a", "admin")
    assert sup.can_see_team("blue") and not sup.can_see_team("red") and not sup.can_see_team(None)
    assert trainer.can_see_team("red") and admin.can_see_team(None)
    assert sup.can("override") and not trainer.can("override") and trainer.can("library")


def test_users_cli_add_list_remove(tmp_path, monkeypatch, capsys):
    import io

    from callqa.cli import main
    from callqa.users import UserDB

    monkeypatch.setattr("sys.stdin", io.StringIO("cli-password-1\n"))
    assert main(["users", "add", "kate", "--role", "supervisor", "--team", "blue", "--team", "red",
                 "--store", str(tmp_path), "--password-stdin"]) == 0
    assert UserDB(tmp_path).authenticate("kate", "cli-password-1").teams == ("blue", "red")
    assert main(["users", "list", "--store", str(tmp_path)]) == 0
    assert "kate\tsupervisor\tblue,red" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main(["users", "add", "weak", "--role", "admin", "--store", str(tmp_path), "--password-stdin"]) == 1
    assert "at least 8" in capsys.readouterr().err
    assert main(["users", "remove", "kate", "--store", str(tmp_path)]) == 0
    assert UserDB(tmp_path).list() == []


# ---------------------------------------------------------------- library and human QA

def test_library_decide_tag_search_and_export(built, tmp_path):
    from callqa.pipeline.people.library import LibraryError, decide, export_zip, library_items
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path / "copy")
    src = Store(built["store"])
    for cid in ("blue-good-en", "red-good-en", "blue-bad-en"):
        store.save(src.get(cid, with_reviews=False))
    pending = library_items(store, status="pending")
    assert pending and {i.call_id for i in pending} == {"blue-good-en", "red-good-en"}
    comp = pending[0].competency
    item = decide(store, "blue-good-en", comp, "approved", author="tia", tags="Angry client, refund, refund")
    assert item.status == "approved" and item.tags == ("angry client", "refund") and item.decided_by == "tia"
    assert [i.call_id for i in library_items(store, status="approved", tag="refund")] == ["blue-good-en"]
    assert library_items(store, status="approved", scenario="billing") == []
    assert library_items(store, status="approved", teams=["red"]) == []
    assert [i.key for i in library_items(store, text="ANGRY")] == ["blue-good-en"]  # one item per call
    assert comp in dict(library_items(store, call_id="blue-good-en")[0].competencies)
    with pytest.raises(LibraryError, match="not nominated"):
        decide(store, "blue-bad-en", comp, "approved", author="tia")
    # a later decision wins, the earlier one stays in the history
    decide(store, "blue-good-en", comp, "rejected", author="ada")
    assert library_items(store, call_id="blue-good-en", competency=comp)[0].status == "rejected"
    assert len([r for r in store.reviews("blue-good-en") if r["kind"] == "nomination"]) == 2

    target = tmp_path / "lib.zip"
    names = export_zip(store, library_items(store, call_id="blue-good-en"), target)
    with zipfile.ZipFile(target) as zf:
        assert set(zf.namelist()) == set(names)
        assert "blue-good-en/audio.wav" in names
        assert zf.read("blue-good-en/audio.wav") == built["audio"]["blue-good-en"].read_bytes()
        assert "thank you for calling" in zf.read("blue-good-en/transcript.txt").decode().lower()
        ann = json.loads(zf.read("blue-good-en/annotations.json"))
        assert ann["competencies"] and ann["library"][0]["call_id"] == "blue-good-en"
        rows = list(csv.DictReader(io.StringIO(zf.read("index.csv").decode())))
        assert len(rows) == len(library_items(store, call_id="blue-good-en"))
        assert {r["audio"] for r in rows} == {"blue-good-en/audio.wav"} and rows[0]["tags"] == ""


def test_human_qa_rows_take_the_latest_override(built, tmp_path):
    from callqa.pipeline.people.library import human_qa_rows, write_human_qa_csv
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path / "qa")
    store.save(Store(built["store"]).get("blue-bad-en", with_reviews=False))
    store.add_review("blue-bad-en", "score_override", author="sam", target="active_listening",
                     value={"level": 1}, comment="interrupted twice")
    store.add_review("blue-bad-en", "score_override", author="sam", target="active_listening",
                     value={"level": 2, "score": 55}, comment="second look")
    rows = human_qa_rows(store)
    assert [(r["call_id"], r["competency"], r["level"], r["score"]) for r in rows] == \
        [("blue-bad-en", "active_listening", 2, 55)]
    assert write_human_qa_csv(store, tmp_path / "qa.csv") == 1
    assert (tmp_path / "qa.csv").read_text().splitlines()[0].startswith("call_id,competency,level,score")
