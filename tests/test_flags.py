"""Flags (severity, reason, evidence) and exemplary-call nominations."""

from __future__ import annotations

import pytest
from test_indicators import BAD_TURNS, GOOD_TURNS, bad_call, by_id, difficult_calm_call, ev, good_call, scored

from callqa.pipeline.config import load_config

CONTRACT_FLAGS = {"forbidden_phrase", "escalation", "negative_end", "long_silence", "script_missing",
                  "low_asr_confidence", "processing_error"}


def test_every_contract_flag_is_configured_with_both_languages(config):
    flags = config.section("flags").root
    assert CONTRACT_FLAGS <= set(flags)
    for rule in flags.values():
        assert rule.severity in ("high", "medium", "low") and rule.reason.ru and rule.reason.en


def test_a_good_call_raises_no_flag(config):
    assert scored(good_call(), config)["flags"] == []


def test_bad_call_flags_with_reason_and_the_exact_moments(config):
    flags = scored(bad_call(), config)["flags"]
    ids = [f["id"] for f in flags]
    assert set(ids) == {"forbidden_phrase", "escalation", "negative_end", "script_missing"}
    assert ids[0] == "forbidden_phrase"  # most severe first
    f = by_id(flags)
    assert [e["quote"] for e in f["forbidden_phrase"]["evidence"]] == ["I don't know", "not my department", "Calm down"]
    assert "not my department" in f["forbidden_phrase"]["reason"] and "(3)" in f["forbidden_phrase"]["reason"]
    assert [e["start"] for e in f["escalation"]["evidence"]] == [BAD_TURNS[3][1], BAD_TURNS[5][1]]
    neg = f["negative_end"]
    assert neg["evidence"][0]["turn"] == 5 and "-0.8" in neg["reason"]
    missing = f["script_missing"]
    assert "offer_help" in missing["reason"] and "greeting" not in missing["reason"].split(":")[1]
    assert len(missing["evidence"]) == 6
    # expected after the greeting (found in turn 0, ends at 2.0) and before the end of the call
    assert missing["evidence"][0]["start"] == 2.0 and missing["evidence"][0]["quote"] == "[offer_help]"


def test_reasons_follow_the_call_language(config):
    f = by_id(scored(bad_call(language="ru"), config)["flags"])
    assert f["forbidden_phrase"]["reason"].startswith("Запрещённые фразы (3)")


def test_long_silence_threshold_and_evidence(config):
    result = good_call()
    result.signals["longest_silence_s"] = 25.0
    result.signals["longest_silence"] = {"start": 31.0, "end": 56.0, "speaker": None, "quote": ""}
    f = by_id(scored(result, config)["flags"])["long_silence"]
    assert f["severity"] == "low" and "25.0" in f["reason"]
    assert f["evidence"][0]["start"] == 31.0 and f["evidence"][0]["end"] == 56.0
    cfg = load_config(overrides={"flags": {"long_silence": {"threshold": 30}}})
    assert "long_silence" not in by_id(scored(result, cfg)["flags"])
    cfg = load_config(overrides={"flags": {"long_silence": {"enabled": False}}})
    assert "long_silence" not in by_id(scored(result, cfg)["flags"])


def test_low_asr_confidence_from_turn_logprobs(config):
    threshold = config.section("models").asr.low_confidence_logprob
    # imports carry no confidence: never flagged
    assert "low_asr_confidence" not in by_id(scored(good_call(), config)["flags"])
    confident = good_call(logprobs={i: threshold + 0.5 for i in range(len(GOOD_TURNS))})
    assert "low_asr_confidence" not in by_id(scored(confident, config)["flags"])
    shaky = {i: threshold + 0.2 for i in range(len(GOOD_TURNS))}
    shaky.update({3: threshold - 1.5, 6: threshold - 1.0})
    f = by_id(scored(good_call(logprobs=shaky), config)["flags"])["low_asr_confidence"]
    assert [e["turn"] for e in f["evidence"]] == [3, 6]
    assert f["evidence"][0]["quote"] == GOOD_TURNS[3][3]


def test_speech_the_asr_left_without_words_is_flagged_with_where_it_is(config):
    """A quarter or more of the speech the audio heard, 5 s or more, without a transcribed word: the reader
    is told how much and shown the longest stretches; under either bound, no flag."""
    result = good_call()
    spans = [{"start": 40.0, "end": 52.0, "speaker": "operator"}, {"start": 60.0, "end": 63.0, "speaker": "client"}]
    result.signals["untranscribed"] = {"seconds": 15.0, "speech_s": 50.0, "share": 0.3, "spans": spans}
    f = by_id(scored(result, config)["flags"])["untranscribed_speech"]
    assert f["reason"].startswith("15 s of the 50 s of speech have no transcribed word (30% >= 25%)")
    assert [(e["start"], e["end"], e["speaker"]) for e in f["evidence"]] == [(40.0, 52.0, "operator"),
                                                                          (60.0, 63.0, "client")]
    result.signals["untranscribed"] = {"seconds": 4.0, "speech_s": 10.0, "share": 0.4, "spans": spans}
    assert "untranscribed_speech" not in by_id(scored(result, config)["flags"])  # under 5 s
    result.signals["untranscribed"] = {"seconds": 10.0, "speech_s": 50.0, "share": 0.2, "spans": spans}
    assert "untranscribed_speech" not in by_id(scored(result, config)["flags"])  # under the share
    cfg = load_config(overrides={"flags": {"untranscribed_speech": {"threshold": 0.15}}})
    assert "untranscribed_speech" in by_id(scored(result, cfg)["flags"])
    del result.signals["untranscribed"]  # an imported transcript: not measured, no flag
    assert "untranscribed_speech" not in by_id(scored(result, config)["flags"])


def test_operator_raised_voice_and_interruptions(config):
    result = difficult_calm_call()
    # the client's shouting is no flag against the operator
    assert "raised_voice" not in by_id(scored(result, config)["flags"])
    result = difficult_calm_call()
    result.signals["loudness"]["raised_voice"].append({**ev(result_turns(result), 6), "level": 90.0})
    assert by_id(scored(result, config)["flags"])["raised_voice"]["evidence"][0]["turn"] == 6
    result = bad_call()
    result.signals["interruptions"]["by_operator"] = 3
    assert "operator_interruptions" in by_id(scored(result, config)["flags"])


def result_turns(result):
    return [(t.speaker, t.start, t.end, t.text) for t in result.transcript.turns]


def test_processing_error_flag_for_the_batch_layer(config):
    from callqa.pipeline.scoring.flags import processing_error_flag

    f = processing_error_flag("inbox/broken.wav", "not an audio file", config).serialize()
    assert f["id"] == "processing_error" and f["severity"] == "high"
    assert "inbox/broken.wav" in f["reason"] and "not an audio file" in f["reason"]
    assert f["evidence"] == []
    ru = processing_error_flag("x.wav", "boom", config, lang="ru").serialize()
    assert ru["reason"].startswith("Звонок не обработан")
    assert processing_error_flag("x.wav", "boom").serialize()["reason"] == "x.wav: boom"


# ---------------------------------------------------------------- nominations


def test_nominations_need_stages_no_flags_and_a_positive_end(config):
    good = scored(good_call(), config)
    # one nomination for the call, listing every competency it shows, best first
    assert len(good["nominations"]) == 1
    nom = good["nominations"][0]
    comps = by_id(good["competencies"])
    high = {c for c, v in comps.items() if v["score"] is not None and v["score"] >= 80}
    listed = [c["id"] for c in nom["competencies"]]
    assert set(listed) == high and len(listed) == len(high) and "needs_discovery" in high
    scores = [c["score"] for c in nom["competencies"]]
    assert scores == sorted(scores, reverse=True) and nom["competency"] == listed[0] and nom["score"] == scores[0]
    assert nom["reason"] == "high_score"
    # a missing stage, a flag or a neutral ending each take the nomination away
    missing = good_call()
    missing.signals["script"]["stages"][2]["found"] = False
    assert scored(missing, config)["nominations"] == []
    flagged = good_call()
    flagged.signals["forbidden_phrases"] = [ev(GOOD_TURNS, 6, "calm down", id="calm_down")]
    assert scored(flagged, config)["nominations"] == []
    neutral = good_call()
    neutral.signals["sentiment"]["client_end"] = 0.1
    assert scored(neutral, config)["nominations"] == []
    bad = scored(bad_call(), config)
    assert bad["nominations"] == []


def test_escalation_does_not_block_but_ignore_list_is_configurable(config):
    hard = scored(difficult_calm_call(), config)
    assert [f["id"] for f in hard["flags"]] == ["escalation"]
    assert hard["nominations"]
    cfg = load_config(overrides={"grading": {"nomination": {"ignore_flags": []}}})
    assert scored(difficult_calm_call(), cfg)["nominations"] == []


def test_a_difficult_call_turned_positive_ranks_first(config):
    from callqa.pipeline.scoring.nominate import nominations_from_results

    good = scored(good_call(call_id="easy"), config)
    hard = scored(difficult_calm_call(call_id="hard"), config)
    assert hard["nominations"][0]["reason"] == "difficult_turned_positive"
    for comp in ("active_listening", "customer_orientation", "result_orientation"):
        g = next(c for c in good["nominations"][0]["competencies"] if c["id"] == comp)
        h = next(c for c in hard["nominations"][0]["competencies"] if c["id"] == comp)
        assert g["score"] >= h["score"]  # even when the easy call scores as high or higher ...
        ranked = nominations_from_results([good, hard], comp)
        assert [r["call_id"] for r in ranked] == ["hard", "easy"]  # ... the difficult one comes first
        assert [r["score"] for r in ranked] == [h["score"], g["score"]]  # scored by that competency


@pytest.mark.parametrize("min_score", [80, 101])
def test_nomination_threshold_is_configurable(min_score):
    if min_score > 100:
        with pytest.raises(Exception):
            load_config(overrides={"grading": {"nomination": {"min_score": min_score}}})
        return
    cfg = load_config(overrides={"grading": {"nomination": {"min_score": 99.5}}})
    noms = scored(good_call(), cfg)["nominations"]
    assert len(noms) == 1 and all(c["score"] >= 99.5 for c in noms[0]["competencies"])
    assert len(noms[0]["competencies"]) < len(scored(good_call(), load_config())["nominations"][0]["competencies"])
