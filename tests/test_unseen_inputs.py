"""Inputs a new user gives that no sample call had (found by trying the CLI on unseen calls)."""

from __future__ import annotations

import json

from callqa.cli import main

TRANSCRIPT = {"language": "en", "turns": [
    {"speaker": "operator", "start": 0.5, "end": 3.0,
     "text": "Thank you for calling Northwind Bank, my name is Anna. How can I help you?"},
    {"speaker": "client", "start": 3.4, "end": 6.0, "text": "Hi, my card was blocked."}]}


def test_sidecars_named_with_their_recordings_are_not_calls(tmp_path, capsys):
    """`callqa analyze calls/*` names each call's `.meta.json` too: it is read with the call, not
    analysed as a recording of its own (it used to fail as 'not a readable audio file', exit 1)."""
    (tmp_path / "c1.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    (tmp_path / "c1.meta.json").write_text(json.dumps({"operator_id": "op-9"}), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["analyze", str(tmp_path / "c1.json"), str(tmp_path / "c1.meta.json"), "--out", str(out),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "c1.json").read_text(encoding="utf-8"))
    assert data["operator_id"] == "op-9"  # the sidecar was applied to its call
    assert [p.name for p in out.glob("*.json")] == ["c1.json"]


def test_sidecar_alone_fails_with_a_clear_message(tmp_path, capsys):
    side = tmp_path / "c2.meta.json"
    side.write_text(json.dumps({"operator_id": "op-9"}), encoding="utf-8")
    assert main(["analyze", str(side), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert str(side) in err and "sidecar" in err and "not a readable audio" not in err


def test_batch_users_and_serve_share_one_default_store(tmp_path, monkeypatch, capsys):
    """`callqa batch INBOX`, `callqa users add ...`, `callqa serve` without --store must meet in one store
    (users and serve used ./store while batch used data/store: serve found 'no callqa store here')."""
    import io

    from callqa.commands.batch import default_store

    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert default_store() == tmp_path / "data" / "store"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password-42\n"))
    assert main(["users", "add", "anna", "--role", "admin", "--password-stdin"]) == 0
    assert (tmp_path / "data" / "store" / "users.json").is_file()
    assert not (tmp_path / "store").exists()
    capsys.readouterr()
    assert main(["serve"]) == 2  # no batch has run: the message names the default store batch would fill
    assert str(tmp_path / "data" / "store") in capsys.readouterr().err


def _silent_wav(path, seconds=6.0, rate=8000):
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


def test_a_recording_without_speech_is_flagged_no_speech_not_scored_as_missing_script(tmp_path, capsys):
    """Silence (a dead line, a recording that failed) said 'every script stage missing' and scored
    script_compliance 0.0: a confident verdict on an operator who never spoke."""
    wav = _silent_wav(tmp_path / "dead_line.wav")
    out = tmp_path / "out"
    assert main(["analyze", str(wav), "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    data = json.loads((out / "dead_line.json").read_text(encoding="utf-8"))
    assert data["transcript"]["turns"] == []
    assert [f["id"] for f in data["flags"]] == ["no_speech"]
    assert data["flags"][0]["reason"].startswith("No speech transcribed")
    assert all(i["score"] is None for i in data["indicators"])
    assert all(c["score"] is None for c in data["competencies"])


def test_imported_transcript_with_only_empty_turns_is_no_speech(tmp_path, capsys):
    doc = {"language": "ru", "turns": [{"speaker": "operator", "start": 0.0, "end": 5.0, "text": ""},
                                       {"speaker": "client", "start": 5.0, "end": 9.0, "text": "  "}]}
    (tmp_path / "empty_turns.json").write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "empty_turns.json"), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "empty_turns.json").read_text(encoding="utf-8"))
    assert [f["id"] for f in data["flags"]] == ["no_speech"]
    assert data["flags"][0]["reason"].startswith("Речь не распознана")
    assert all(i["score"] is None for i in data["indicators"])


def test_the_page_of_a_call_that_failed_shows_why(tmp_path):
    """A failed file sits in the review queue (processing_error); its call page answered 503
    'no analysed call' (the evaluation forms needed an analysis) instead of showing the error."""
    import re

    from fastapi.testclient import TestClient

    from callqa.pipeline.config import load_config
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB
    from callqa.web.app import create_app

    store = Store(tmp_path / "store")
    store.save_error("notes", tmp_path / "notes.wav", "not a readable audio file (Invalid data found)")
    UserDB(store.path).add("ada", "admin", "a-long-enough-password-42", [])
    client = TestClient(create_app(store.path, load_config()))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "ada", "password": "a-long-enough-password-42", "csrf_token": token})
    r = client.get("/calls/notes", headers={"accept": "text/html"})
    assert r.status_code == 200
    assert "not a readable audio file" in r.text


def test_stereo_with_one_silent_channel_is_treated_as_mono(tmp_path):
    """A mono call exported as stereo with an empty right channel: by the channel map the whole
    conversation (operator and client) was the operator's, with role confidence 1.0."""
    import numpy as np
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.config import load_config

    t = np.arange(32000) / 16000.0
    voice = 0.3 * np.sin(2 * np.pi * 440 * t)
    for name, stack in (("right_silent.wav", [voice, np.zeros_like(t)]), ("left_silent.wav", [np.zeros_like(t), voice])):
        sf.write(tmp_path / name, np.stack(stack, axis=1), 16000)
        audio = load_audio(tmp_path / name, load_config())
        assert audio.channels == 1 and audio.source.channels == 2
        assert any("silent" in n and "mono" in n for n in audio.notes)
        assert float(np.abs(audio.samples[0]).max()) > 0.2  # the live channel, not a mix halved with silence
    # Two live channels stay a stereo call (one side each).
    sf.write(tmp_path / "both.wav", np.stack([voice, 0.3 * np.sin(2 * np.pi * 900 * t)], axis=1), 16000)
    assert load_audio(tmp_path / "both.wav", load_config()).channels == 2


def test_russian_further_help_in_the_order_operators_say_it(tmp_path):
    """'Могу ещё чем-нибудь помочь?' (verb first) was no further_help stage: script_missing blamed the operator."""
    doc = {"language": "ru", "turns": [
        {"speaker": "operator", "start": 0.3, "end": 3.5, "text": "Здравствуйте, меня зовут Ольга, чем могу помочь?"},
        {"speaker": "client", "start": 4.0, "end": 8.0, "text": "У меня заблокировали карту."},
        {"speaker": "operator", "start": 8.5, "end": 14.0,
         "text": "Я разблокировала карту, она снова работает. Могу ещё чем-нибудь помочь?"},
        {"speaker": "client", "start": 14.5, "end": 15.5, "text": "Нет, спасибо."},
        {"speaker": "operator", "start": 16.0, "end": 17.5, "text": "Всего доброго, до свидания!"}]}
    (tmp_path / "ru_help.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "ru_help.json"), "--out", str(out), "--no-progress"]) == 0
    stages = {s["id"]: s for s in json.loads((out / "ru_help.json").read_text(encoding="utf-8"))["signals"]["script"]["stages"]}
    assert stages["further_help"]["found"] and "помочь" in stages["further_help"]["quote"]


def test_batch_with_a_bad_manifest_row_says_which_row_without_a_traceback(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "c1.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    (inbox / "manifest.csv").write_text("file,operator_id,direction\nc1.json,op-9,sideways\n", encoding="utf-8")
    assert main(["batch", str(inbox), "--store", str(tmp_path / "store"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert str(inbox / "manifest.csv") in err and "row 2" in err and "direction" in err
    assert "Traceback" not in err
    assert not (tmp_path / "store" / "callqa.duckdb").exists()  # nothing processed without the promised metadata


def test_batch_failure_from_a_bad_sidecar_names_the_sidecar(tmp_path):
    """A call failing on its `.meta.json` was listed under the recording with only "field 'num_speakers' ...":
    the user looked for the problem in the recording."""
    from callqa.pipeline.batch import run_batch

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    (inbox / "bad.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    (inbox / "bad.meta.json").write_text(json.dumps({"num_speakers": 0}), encoding="utf-8")
    summary = run_batch([inbox], tmp_path / "store")
    assert (summary.processed, summary.failed) == (1, 1)
    failure = summary.failures[0]
    assert failure["path"].endswith("bad.json")
    assert failure["reason"].startswith("bad.meta.json: ") and "num_speakers" in failure["reason"]


def test_a_text_file_named_wav_is_named_once_in_the_error(tmp_path, capsys):
    notes = tmp_path / "notes.wav"
    notes.write_text("hello, this is not audio\n", encoding="utf-8")
    assert main(["analyze", str(notes), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    line = [ln for ln in capsys.readouterr().err.splitlines() if "notes.wav" in ln][0]
    assert line.count(str(notes)) == 1 and "not a readable audio file" in line


def test_a_call_id_that_is_a_path_is_refused_not_written_outside_out(tmp_path, capsys):
    """call_id '../escaped' in a transcript wrote `../escaped.json` beside --out; 'a/b' crashed (FileNotFoundError)."""
    out = tmp_path / "runs" / "out"
    paths = []
    for name, cid in (("up.json", "../escaped"), ("slash.json", "a/b"), ("back.json", "a\\b"), ("dot.json", "..")):
        (tmp_path / name).write_text(json.dumps({**TRANSCRIPT, "call_id": cid}), encoding="utf-8")
        paths.append(str(tmp_path / name))
    (tmp_path / "ok.json").write_text(json.dumps({**TRANSCRIPT, "call_id": "+7 916 123-45-67 звонок"}), encoding="utf-8")
    assert main(["analyze", *paths, str(tmp_path / "ok.json"), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*.json") if p.parent != tmp_path) == ["+7 916 123-45-67 звонок.json"]
    for p in paths:
        assert f"{p}: field 'call_id' must not contain" in err
    assert "unexpected error" not in err


def test_one_label_holding_both_sides_is_role_uncertain(tmp_path):
    """A transcript whose diarizer gave every turn SPEAKER_00 (both people in one label): the whole dialogue,
    the client's complaint included, was the operator's with role confidence 0.62 and was scored."""
    turns = [
        {"speaker": "SPEAKER_00", "start": 0.3, "end": 3.5, "text": "Здравствуйте, Мейпл Банк, меня зовут Ольга, чем могу помочь?"},
        {"speaker": "SPEAKER_00", "start": 4.0, "end": 8.0,
         "text": "У меня опять заблокировали карту, это уже третий раз, безобразие!"},
        {"speaker": "SPEAKER_00", "start": 8.5, "end": 13.0,
         "text": "Понимаю ваше беспокойство. Назовите, пожалуйста, дату рождения."},
        {"speaker": "SPEAKER_00", "start": 13.5, "end": 15.0, "text": "Пятое мая восьмидесятого."},
        {"speaker": "SPEAKER_00", "start": 15.5, "end": 21.0,
         "text": "Спасибо. Я разблокировала карту, она снова работает. Могу ещё чем-нибудь помочь?"},
        {"speaker": "SPEAKER_00", "start": 21.5, "end": 22.5, "text": "Нет, спасибо."}]
    (tmp_path / "one_label.json").write_text(json.dumps({"language": "ru", "turns": turns}, ensure_ascii=False),
                                             encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "one_label.json"), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "one_label.json").read_text(encoding="utf-8"))
    assert data["transcript"]["role_method"] == "single_speaker"
    assert [f["id"] for f in data["flags"]] == ["role_uncertain"]
    assert all(c["score"] is None for c in data["competencies"])


def test_a_wrong_number_call_does_not_end_negative(tmp_path):
    """'Oh, sorry, wrong number.' (simulated wrong-number call) raised negative_end (-0.6): the number was wrong,
    not the client's mood."""
    doc = {"language": "en", "turns": [
        {"speaker": "operator", "start": 0.3, "end": 2.5, "text": "Riverside Insurance, good morning."},
        {"speaker": "client", "start": 3.0, "end": 4.8, "text": "Oh, sorry, wrong number."},
        {"speaker": "operator", "start": 5.2, "end": 6.5, "text": "That is okay, bye."}]}
    (tmp_path / "wrong.json").write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "wrong.json"), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "wrong.json").read_text(encoding="utf-8"))
    assert "negative_end" not in [f["id"] for f in data["flags"]]
    assert data["signals"]["sentiment"]["client_end"] >= 0


def test_analyze_prints_the_warning_for_a_language_not_configured(tmp_path, capsys):
    """A German transcript is analysed as English (languages.unknown: guess) "with a warning naming the call and its
    language" (README): the warning was kept in processing.warnings only, `callqa analyze` said nothing."""
    src = tmp_path / "de1.json"
    src.write_text(json.dumps({**TRANSCRIPT, "call_id": "h8-de", "language": "de", "turns": [
        {"speaker": "operator", "start": 0.0, "end": 3.0, "text": "Guten Tag, wie kann ich Ihnen helfen?"},
        {"speaker": "client", "start": 3.5, "end": 8.0, "text": "Meine Karte funktioniert nicht."}]}),
        encoding="utf-8")
    assert main(["analyze", str(src), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "callqa: warning: de1.json: h8-de: language 'de' is not configured" in err and "analysed as 'en'" in err
    # a call in a configured language prints no warning
    (tmp_path / "en1.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    assert main(["analyze", str(tmp_path / "en1.json"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err



def test_a_broken_category_query_in_the_customer_file_fails_before_any_call(tmp_path, capsys):
    """A customer's `categories.ID.query` that does not parse let the batch run every call (ASR included) and fail
    each at its analysis, naming configs/categories.yaml instead of the customer's file; now analyze, batch and
    rescore exit 2 at once naming the file and key (README: invalid configuration fails before any call)."""
    customer = tmp_path / "customer.yaml"
    customer.write_text("categories:\n  broken:\n    name: {en: Broken}\n    query: 'client:(refund'\n", encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "c1.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    expected = f"{customer}: categories.broken.query: unclosed '(': add ')' at column 8"
    assert main(["analyze", str(inbox / "c1.json"), "--out", str(tmp_path / "out"), "--config", str(customer),
                 "--no-progress"]) == 2
    assert expected in capsys.readouterr().err and not (tmp_path / "out" / "c1.json").exists()
    store = tmp_path / "store"
    assert main(["batch", str(inbox), "--store", str(store), "--config", str(customer), "--no-progress"]) == 2
    assert expected in capsys.readouterr().err and not store.exists()
