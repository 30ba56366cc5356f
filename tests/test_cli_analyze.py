"""`callqa analyze`: one file per call, bad files reported without stopping the rest,
exit codes per CONTRACTS.md (0 all ok, 1 any failed, 2 bad usage)."""

from __future__ import annotations

import json
import subprocess
import sys

from callqa.cli import main

TRANSCRIPT = {"call_id": "t-001", "language": "en", "operator_id": "op-3", "role": "inbound",
              "turns": [{"speaker": "operator", "start": 0.5, "end": 3.0,
                         "text": "Thank you for calling Northwind Bank, my name is Anna. How can I help you?"},
                        {"speaker": "client", "start": 3.4, "end": 6.0, "text": "Hi, my card was blocked."}]}


def _transcript(tmp_path, name="t.json", data=TRANSCRIPT):
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


def test_analyze_transcript_writes_call_result(tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(_transcript(tmp_path)), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "t-001.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 1 and data["call_id"] == "t-001" and data["operator_id"] == "op-3"
    assert data["source"]["sha256"] and len(data["source"]["sha256"]) == 64
    assert data["config_hash"] and data["models"]["asr"] == "import"
    assert [t["speaker"] for t in data["transcript"]["turns"]] == ["operator", "client"]


def test_bad_files_do_not_stop_the_others(tmp_path, capsys):
    good = _transcript(tmp_path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text_as_wav = tmp_path / "notes.wav"
    text_as_wav.write_text("this is not audio\n" * 50, encoding="utf-8")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    bad_json = _transcript(tmp_path, "broken.json", {"turns": [{"speaker": "boss", "start": 0, "end": 1, "text": ""}]})
    out = tmp_path / "out"
    code = main(["analyze", str(empty), str(text_as_wav), str(good), str(corrupt), str(bad_json),
                 str(tmp_path / "missing.flac"), "--out", str(out), "--no-progress"])
    assert code == 1
    assert [p.name for p in out.glob("*.json")] == ["t-001.json"]
    err = capsys.readouterr().err
    for f in (empty, text_as_wav, corrupt, bad_json, tmp_path / "missing.flac"):
        assert str(f) in err  # each failure names its file
    assert "Traceback" not in err


def test_invalid_config_fails_before_processing(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  asr:\n    beam_size: -3\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(_transcript(tmp_path)), "--out", str(out), "--config", str(cfg)]) == 2
    assert not out.exists() or not any(out.iterdir())
    assert "models.asr.beam_size" in capsys.readouterr().err


def test_bad_usage_exits_2():
    r = subprocess.run([sys.executable, "-m", "callqa.cli", "analyze"], capture_output=True, text=True)
    assert r.returncode == 2 and "PATH" in r.stderr


def test_meta_file_applies(tmp_path):
    meta = tmp_path / "m.yaml"
    meta.write_text("operator_id: op-99\nteam: blue\n", encoding="utf-8")
    out = tmp_path / "out"
    data = dict(TRANSCRIPT)
    data.pop("operator_id")
    assert main(["analyze", str(_transcript(tmp_path, data=data)), "--out", str(out), "--meta", str(meta),
                 "--no-progress"]) == 0
    res = json.loads((out / "t-001.json").read_text(encoding="utf-8"))
    assert res["operator_id"] == "op-99" and res["team"] == "blue"


def test_personal_data_never_reaches_the_result(tmp_path):
    data = {"call_id": "pii", "language": "ru", "turns": [
        {"speaker": "operator", "start": 0, "end": 3, "text": "Здравствуйте, меня зовут Ольга, чем могу помочь?"},
        {"speaker": "client", "start": 3.5, "end": 9,
         "text": "Мой телефон +7 916 123-45-67, почта ivan.petrov@mail.ru, карта 4111 1111 1111 1111"}]}
    out = tmp_path / "out"
    assert main(["analyze", str(_transcript(tmp_path, data=data)), "--out", str(out), "--no-progress"]) == 0
    text = (out / "pii.json").read_text(encoding="utf-8")
    for secret in ("916", "ivan.petrov", "4111"):
        assert secret not in text  # transcript and every evidence quote
    assert "[PHONE]" in text and "[EMAIL]" in text and "[CARD]" in text
    cfg = tmp_path / "keep.yaml"
    cfg.write_text("privacy:\n  redact: false\n", encoding="utf-8")
    assert main(["analyze", str(tmp_path / "t.json"), "--out", str(out), "--config", str(cfg), "--no-progress"]) == 0
    assert "ivan.petrov@mail.ru" in (out / "pii.json").read_text(encoding="utf-8")


def test_the_table_shows_no_talk_share_or_script_for_a_call_whose_roles_are_unknown(tmp_path, capsys):
    """Two voices and nothing that tells operator from client: the table does not print a talk share
    or script compliance that would belong to a guessed operator."""
    turns, start = [], 0.5
    for label, text in [("SPEAKER_00", "Hello."), ("SPEAKER_01", "Hello."), ("SPEAKER_00", "Okay."),
                        ("SPEAKER_01", "Fine, thanks. Goodbye."), ("SPEAKER_00", "Goodbye.")]:
        turns.append({"speaker": label, "start": start, "end": start + 1.2, "text": text})
        start += 2.0
    path = tmp_path / "unclear.json"
    path.write_text(json.dumps({"call_id": "unclear", "turns": turns}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(path), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "unclear.json").read_text(encoding="utf-8"))
    assert "role_uncertain" in {f["id"] for f in data["flags"]}
    row = next(line for line in capsys.readouterr().out.splitlines() if "unclear" in line)
    assert "%" not in row and "role_uncertain" in row
