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
