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


BLANK_TURN = {"call_id": "blank-1", "language": "ru", "operator_id": "op-73", "role": "support", "turns": [
    {"speaker": "operator", "start": 0.0, "end": 4.0, "text": "Добрый день, банк, меня зовут Анна, чем могу помочь?"},
    {"speaker": "client", "start": 4.5, "end": 9.0, "text": "У меня не работает кешбэк по кредитной карте."},
    {"speaker": "operator", "start": 9.5, "end": 30.0, "text": "   "},  # an export's empty segment
    {"speaker": "operator", "start": 30.5, "end": 35.0, "text": "Я проверила, кешбэк начислят завтра."},
    {"speaker": "client", "start": 35.5, "end": 38.0, "text": "Спасибо, до свидания."}]}


def test_a_blank_turn_is_no_slow_speech(tmp_path, capsys):
    """A turn without words (20 s of an imported transcript's empty segment) is not operator speech
    at 0 words a minute: the pace is measured over the turns with words."""
    with_blank = _analyze(tmp_path, capsys, BLANK_TURN)
    without = _analyze(tmp_path, capsys, {**BLANK_TURN, "call_id": "blank-2",
                                               "turns": [t for t in BLANK_TURN["turns"] if t["text"].strip()]})
    rate = with_blank["signals"]["speech_rate_wpm"]["operator"]
    assert rate is not None and rate > 60, rate  # 15 words in 8.5 s of speech, not 15 in 29 s
    assert rate == without["signals"]["speech_rate_wpm"]["operator"]
    score = {i["id"]: i["score"] for i in with_blank["indicators"]}["speech_rate"]
    assert score == {i["id"]: i["score"] for i in without["indicators"]}["speech_rate"]


def test_a_wrong_number_call_feeds_no_scores_into_the_operators_grades(tmp_path):
    """Simulated wrong-number call (seed 31337): 'Hello.' / 'Sorry, I think I have the wrong number.' /
    'No problem. Goodbye.' -- 6 s. It scored questions 0, resolution 0, problem_analysis 0 and failed the
    competencies form at 38.8, which went into the operator's grades. Under indicators.min_conversation_s (8 s)
    nothing is scored, each indicator says why; a 12 s call is scored as before."""
    import json

    from callqa.cli import main

    def call(name, seconds):
        turns = [{"speaker": "operator", "start": 0.5, "end": 1.5, "text": "Hello."},
                 {"speaker": "client", "start": 2.0, "end": 4.5, "text": "Sorry, I think I have the wrong number."},
                 {"speaker": "operator", "start": 5.0, "end": seconds, "text": "No problem. Goodbye."}]
        (tmp_path / f"{name}.json").write_text(json.dumps({"language": "en", "turns": turns}), encoding="utf-8")
        assert main(["analyze", str(tmp_path / f"{name}.json"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
        return json.loads((tmp_path / "out" / f"{name}.json").read_text(encoding="utf-8"))

    short = call("wrong_number", 6.5)
    assert all(i["score"] is None and "too_short" in (i.get("note") or "") for i in short["indicators"])
    assert all(c["score"] is None for c in short["competencies"])
    assert all(f.get("score") is None for f in short["forms"] if f["id"] == "competencies")
    longer = call("short_but_real", 12.0)
    assert any(i["score"] is not None for i in longer["indicators"])
