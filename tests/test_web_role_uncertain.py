"""The call page of a call flagged role_uncertain: talk share, talk time split, interruptions and the
other operator/client rows read "unknown" and why, never numbers under guessed labels; the API keeps
the raw signals."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

PASSWORD = "correct horse 42"
HTML = {"accept": "text/html"}
# Two voices and nothing that tells them apart (as in tests/test_roles.py).
LINES = [("SPEAKER_00", "Hello."), ("SPEAKER_01", "Hello."), ("SPEAKER_00", "Okay."),
         ("SPEAKER_01", "Fine, thanks. Goodbye."), ("SPEAKER_00", "Goodbye.")]


def _call(tmp_path, config, cid, lines):
    from callqa.pipeline.process import process_call

    turns, start = [], 0.5
    for label, text in lines:
        end = start + 0.5 + 0.35 * len(text.split())
        turns.append({"speaker": label, "start": round(start, 2), "end": round(end, 2), "text": text})
        start = end + 0.6
    src = tmp_path / f"{cid}.json"
    src.write_text(json.dumps({"call_id": cid, "language": "en", "operator_id": "op-1", "team": "blue",
                               "turns": turns}), encoding="utf-8")
    return process_call(src, config).serialize()


@pytest.fixture(scope="module")
def client(tmp_path_factory, sign_in):
    from callqa.pipeline.config import load_config
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB
    from callqa.web import create_app

    root = tmp_path_factory.mktemp("web_roles")
    config = load_config()
    store = Store(root / "store")
    data = _call(root, config, "unsure", LINES)
    assert "role_uncertain" in {f["id"] for f in data["flags"]}
    store.save(data)
    UserDB(store.path).add("sam", "supervisor", PASSWORD, ("blue",))
    c = sign_in(TestClient(create_app(store.path, config)), "sam", PASSWORD)
    return c, data


def _signal_table(page: str) -> dict[str, str]:
    table = page.split('<table class="signals">', 1)[1].split("</table>", 1)[0]
    return {re.sub(r"<[^>]+>", "", th).strip(): re.sub(r"<[^>]+>", "", td).strip()
            for th, td in re.findall(r"<th>(.*?)</th><td>(.*?)</td>", table, flags=re.S)}


@pytest.mark.parametrize("lang, unknown, rows", [
    ("en", "unknown: operator and client could not be told apart",
     ("Talk time (operator / client)", "Operator talk share", "Interruptions (by operator / by client)")),
    ("ru", "неизвестно: не удалось определить, кто оператор, а кто клиент",
     ("Время речи (оператор / клиент)", "Доля речи оператора", "Перебивания (оператором / клиентом)")),
])
def test_role_bound_signals_read_unknown_with_the_reason(client, lang, unknown, rows):
    c, data = client
    table = _signal_table(c.get(f"/calls/unsure?lang={lang}", headers=HTML).text)
    for label in rows:
        assert table[label].startswith(unknown), (label, table[label])
    assert not any(ch.isdigit() for label in rows for ch in table[label])
    # Rows that do not say who did what keep their numbers.
    silence = next(v for k, v in table.items() if k.startswith(("Silence", "Тишина")))
    assert any(ch.isdigit() for ch in silence)
    # The API keeps the raw signals.
    api = c.get("/api/calls/unsure").json()
    assert api["signals"]["talk_ratio_operator"] == pytest.approx(data["signals"]["talk_ratio_operator"])
    assert api["signals"]["talk_time_s"] == data["signals"]["talk_time_s"]


def test_call_with_known_roles_still_shows_the_numbers(tmp_path):
    from callqa.pipeline.config import load_config
    from callqa.web.views import signal_rows

    config = load_config()
    data = _call(tmp_path, config, "known", [("operator", "Thank you for calling Northwind Bank, my name is Anna."),
                                             ("client", "Hi, my card was blocked.")])
    assert "role_uncertain" not in {f["id"] for f in data["flags"]}
    rows, _ = signal_rows(data["signals"], lambda key, **kw: key if not kw else str(kw.get("value")))
    ratio = dict(rows)["signals.talk_ratio"]
    assert ratio.endswith("%") and ratio != "signals.roles_unknown"
