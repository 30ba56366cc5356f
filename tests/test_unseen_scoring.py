"""Scores on calls no sample had (found on unseen calls): a call where only the client speaks (a
message left for the company) must not score the operator, who said nothing."""

from __future__ import annotations

import json

from callqa.cli import main

CLIENT_ONLY = {"call_id": "msg-1", "language": "en", "operator_id": "op-72", "role": "inbound", "turns": [
    {"speaker": "client", "start": 0.0, "end": 12.0,
     "text": "Hi, this is Zoë Müller 👋 calling about my card, please call me back, my number is five five five."}]}
CLIENT_ONLY_RU = {"call_id": "msg-2", "language": "ru", "operator_id": "op-72", "role": "inbound", "turns": [
    {"speaker": "client", "start": 0.0, "end": 9.0,
     "text": "Здравствуйте, это Иван, звоню по поводу моей карты, она не работает, перезвоните мне, пожалуйста."},
    {"speaker": "client", "start": 9.5, "end": 14.0, "text": "Ужасный сервис, третий раз звоню!"}]}


def _analyze(tmp_path, capsys, data):
    src = tmp_path / f"{data['call_id']}.json"
    src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    return json.loads((out / f"{data['call_id']}.json").read_text(encoding="utf-8"))


def test_a_client_only_call_scores_nothing_of_the_operators(tmp_path, capsys):
    for data in (CLIENT_ONLY, CLIENT_ONLY_RU):
        result = _analyze(tmp_path, capsys, data)
        scored = {i["id"]: i["score"] for i in result["indicators"] if i["score"] is not None}
        assert scored == {}, (data["call_id"], scored)  # e.g. client_confirms 0 → result_orientation 0
        comps = {c["id"]: c["score"] for c in result["competencies"] if c["score"] is not None}
        assert comps == {}, (data["call_id"], comps)
        assert all(c["reason"] for c in result["competencies"])  # each null says why (CONTRACTS.md)
        notes = {i.get("reason") or i.get("note") for i in result["indicators"]}
        assert any(n and "operator" in n for n in notes), notes
        assert result["signals"]["script"].get("not_applicable")  # one-sided, as before
