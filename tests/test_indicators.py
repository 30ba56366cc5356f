"""Indicators on hand-built calls: signals dicts of the agreed serialized shape
(CONTRACTS.md + the extras), transcripts and metadata.

The builders here (`good_call`, `bad_call`, `difficult_calm_call`, `make_result`)
are shared by the other scoring tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from callqa.pipeline.types import AudioSource, CallMeta, CallResult, ModelInfo, Transcript, Turn

# ---------------------------------------------------------------- builders


def ev(turns: list[tuple], i: int, quote: str | None = None, **extra: Any) -> dict[str, Any]:
    """An evidence item pointing at turn `i` (quote: part of its text)."""
    speaker, start, end, text = turns[i][:4]
    return {"start": start, "end": end, "speaker": speaker, "quote": quote or text, "turn": i, **extra}


def base_signals(turns: list[tuple]) -> dict[str, Any]:
    """A neutral signals dict of the agreed shape: nothing found, no sentiment swing."""
    op = sum(e - s for sp, s, e, *_ in turns if sp == "operator")
    cl = sum(e - s for sp, s, e, *_ in turns if sp == "client")
    words_op = sum(len(t.split()) for sp, _, _, t in turns if sp == "operator")
    return {
        "talk_time_s": {"operator": op, "client": cl},
        "talk_ratio_operator": op / (op + cl) if op + cl else None,
        "silence_s": 2.0, "longest_silence_s": 0.8,
        "longest_silence": {"start": 1.0, "end": 1.8, "speaker": None, "quote": ""},
        "interruptions": {"by_operator": 0, "by_client": 0, "items": []},
        "speech_rate_wpm": {"operator": 140.0, "client": 130.0},
        "syllables_per_s": {"operator": 4.0, "client": 4.0},
        "words": {"operator": words_op, "client": 30},
        "filler_words": {"count": 0, "per_100_words": 0.0, "items": [], "by_text": {}},
        "script": {"script_id": "inbound", "compliance": 1.0, "stages": []},
        "forbidden_phrases": [], "escalations": [],
        "sentiment": {"client_start": 0.0, "client_end": 0.0, "operator_mean": 0.1, "client_min": 0.0,
                      "backend": "lexicon", "per_turn": []},
        "loudness": {"operator": None, "client": None, "raised_voice": []},
        "longest_monologue_s": {"operator": 8.0, "client": 6.0},
        "longest_monologue": None,
        "response_latency_s": {"mean": 0.5, "max": 0.9},
        "questions": {"open": [], "closed": [], "first_question_s": None, "before_solution": 0},
        "first_solution_s": None,
        "phrases": {k: [] for k in ("greeting_company", "own_name", "politeness", "empathy", "paraphrase",
                                    "client_name", "commitment", "resolution", "further_help", "client_confirms",
                                    "dont_know_followed", "hold_transfer", "glossary", "conflict")},
    }


def per_turn(turns: list[tuple], scores: dict[int, float]) -> list[dict[str, Any]]:
    return [{"turn": i, "speaker": turns[i][0], "start": turns[i][1], "end": turns[i][2], "score": s}
            for i, s in sorted(scores.items())]


def stages(turns: list[tuple], found: dict[str, int], required: tuple[str, ...] = (
        "greeting", "offer_help", "need_discovery", "paraphrase", "resolution", "further_help", "farewell"),
        out_of_order: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for sid in required:
        if sid in found:
            i = found[sid]
            out.append({"id": sid, "found": True, "required": True, "start": turns[i][1], "end": turns[i][2],
                        "quote": turns[i][3], "speaker": "operator", "in_order": sid not in out_of_order,
                        "in_window": True})
        else:
            out.append({"id": sid, "found": False, "required": True, "start": None, "end": None, "quote": None,
                        "speaker": None, "in_order": None, "in_window": None})
    return out


def make_result(turns: list[tuple], signals: dict[str, Any], *, role: str | None = "inbound", language: str = "en",
                call_id: str = "c1", operator_id: str = "op-1", started_at: str | None = "2026-11-18T10:00:00",
                logprobs: dict[int, float] | None = None) -> CallResult:
    tt = tuple(Turn(sp, s, e, text, avg_logprob=(logprobs or {}).get(i)) for i, (sp, s, e, text) in enumerate(turns))
    duration = max(e for _, _, e, _ in turns)
    meta = CallMeta(call_id=call_id, operator_id=operator_id, role=role, started_at=started_at, language=language)
    return CallResult(call_id=call_id, language=language, duration_s=duration, meta=meta,
                      source=AudioSource("x.json", "0" * 64, 0, 0, duration, "transcript-json"),
                      models=ModelInfo(asr="import", diarization="import"), config_hash="test",
                      transcript=Transcript(tt, language, duration, 1.0, "import"), signals=copy.deepcopy(signals))


GOOD_TURNS = [
    ("operator", 0.0, 4.0, "Thank you for calling Acme Bank, my name is Anna, how can I help you?"),
    ("client", 4.5, 10.0, "Hi, my card was blocked and I cannot pay for anything."),
    ("operator", 10.5, 14.0, "I'm sorry to hear that. What happened when you tried to pay?"),
    ("client", 14.5, 24.0, "It said declined at the shop this morning, and then the app showed a lock icon."),
    ("operator", 24.5, 29.0, "So what you're saying is the card was declined this morning, Mr Smith? Which shop was it?"),
    ("client", 29.5, 31.0, "Yes, exactly, the grocery store."),
    ("operator", 31.5, 39.0, "I have unblocked the card now. I'll send you a confirmation by 5 pm today, ticket 123."),
    ("client", 39.5, 42.0, "Great, it works now, thank you so much!"),
    ("operator", 42.5, 45.0, "Is there anything else I can help you with? Have a nice day."),
]


def good_call(**kw: Any) -> CallResult:
    t = GOOD_TURNS
    s = base_signals(t)
    s["questions"] = {"open": [ev(t, 2, "What happened when you tried to pay?")],
                      "closed": [ev(t, 4, "Which shop was it?")], "first_question_s": 10.5, "before_solution": 2}
    s["first_solution_s"] = 31.5
    ph = s["phrases"]
    ph["greeting_company"] = [ev(t, 0, "Thank you for calling Acme Bank")]
    ph["own_name"] = [ev(t, 0, "my name is Anna")]
    ph["politeness"] = [ev(t, 0, "Thank you for calling"), ev(t, 8, "Have a nice day")]
    ph["empathy"] = [ev(t, 2, "I'm sorry to hear that")]
    ph["paraphrase"] = [ev(t, 4, "So what you're saying is")]
    ph["client_name"] = [ev(t, 4, "Mr Smith")]
    ph["commitment"] = [ev(t, 6, "I'll send you a confirmation by 5 pm today, ticket 123")]
    ph["resolution"] = [ev(t, 6, "I have unblocked the card now")]
    ph["further_help"] = [ev(t, 8, "Is there anything else I can help you with?")]
    ph["client_confirms"] = [ev(t, 7, "it works now")]
    s["script"]["stages"] = stages(t, {"greeting": 0, "offer_help": 0, "need_discovery": 2, "paraphrase": 4,
                                       "resolution": 6, "further_help": 8, "farewell": 8})
    s["sentiment"] = {"client_start": 0.0, "client_end": 0.7, "operator_mean": 0.3, "client_min": -0.1,
                      "backend": "lexicon", "per_turn": per_turn(t, {0: 0.3, 1: -0.1, 2: 0.1, 3: 0.0, 4: 0.0,
                                                                       5: 0.1, 6: 0.3, 7: 0.7, 8: 0.4})}
    s["filler_words"] = {"count": 1, "per_100_words": 1.2, "by_text": {"so": 1},
                         "items": [{"text": "so", "start": 24.5, "end": 24.7, "speaker": "operator", "quote": "So"}]}
    return make_result(t, s, **kw)


BAD_TURNS = [
    ("operator", 0.0, 2.0, "Yeah, hello."),
    ("client", 2.5, 9.0, "Hello, I was charged twice for my order and I want my money back."),
    ("operator", 8.2, 30.0, "Um, like, basically, you know, I don't know, uh, refunds are, like, not my department, "
                            "you know, basically it's the system, um, it does that sometimes, uh, so yeah."),
    ("client", 30.5, 36.0, "This is ridiculous. I want to speak to a manager right now."),
    ("operator", 35.5, 38.0, "Calm down, um, there's nothing I can do."),
    ("client", 38.5, 42.0, "I will file a complaint. Terrible service."),
]


def bad_call(**kw: Any) -> CallResult:
    t = BAD_TURNS
    s = base_signals(t)
    s["interruptions"] = {"by_operator": 2, "by_client": 0,
                          "items": [{**ev(t, 2, "Um, like"), "by": "operator"}, {**ev(t, 4, "Calm down"), "by": "operator"}]}
    s["filler_words"] = {"count": 12, "per_100_words": 30.0, "by_text": {"um": 3, "like": 2},
                         "items": [{"text": "um", "start": 8.2, "end": 8.5, "speaker": "operator", "quote": "Um"},
                                   {"text": "like", "start": 8.6, "end": 8.9, "speaker": "operator", "quote": "like"}]}
    s["forbidden_phrases"] = [ev(t, 2, "I don't know", id="dont_know"), ev(t, 2, "not my department", id="not_my_job"),
                              ev(t, 4, "Calm down", id="calm_down")]
    s["escalations"] = [ev(t, 3, "I want to speak to a manager", id="manager"),
                        ev(t, 5, "I will file a complaint", id="complaint")]
    s["speech_rate_wpm"] = {"operator": 205.0, "client": 150.0}
    s["longest_monologue_s"] = {"operator": 21.8, "client": 6.5}
    s["longest_monologue"] = ev(t, 2)
    s["phrases"]["conflict"] = [ev(t, 4, "there's nothing I can do")]
    s["script"] = {"script_id": "inbound", "compliance": 1 / 7,
                   "stages": stages(t, {"greeting": 0}, out_of_order=())}
    s["sentiment"] = {"client_start": -0.1, "client_end": -0.8, "operator_mean": -0.2, "client_min": -0.8,
                      "backend": "lexicon", "per_turn": per_turn(t, {0: 0.0, 1: -0.1, 2: -0.1, 3: -0.7, 4: -0.4,
                                                                       5: -0.8})}
    return make_result(t, s, **kw)


DIFFICULT_TURNS = [
    ("operator", 0.0, 4.0, "Thank you for calling Acme Bank, my name is Anna, how can I help you?"),
    ("client", 4.5, 12.0, "This is outrageous! You blocked my card again, I want to speak to a manager!"),
    ("operator", 12.5, 17.0, "I understand how frustrating this is, and I'm sorry. Could you tell me what happened?"),
    ("client", 17.5, 24.0, "I was at the checkout and it was declined, in front of everyone."),
    ("operator", 24.5, 29.0, "If I understand correctly, it was declined at the checkout today?"),
    ("client", 29.5, 30.5, "Yes."),
    ("operator", 31.0, 38.0, "I have unblocked it now, and I'll call you back by tomorrow noon to confirm, ticket 77."),
    ("client", 38.5, 42.0, "Okay, it works now. Thank you, you were very helpful."),
    ("operator", 42.5, 45.0, "Is there anything else I can help you with? Have a nice day."),
]


def difficult_calm_call(**kw: Any) -> CallResult:
    t = DIFFICULT_TURNS
    s = base_signals(t)
    s["escalations"] = [ev(t, 1, "I want to speak to a manager", id="manager")]
    s["questions"] = {"open": [ev(t, 2, "Could you tell me what happened?")],
                      "closed": [ev(t, 4, "it was declined at the checkout today?")],
                      "first_question_s": 12.5, "before_solution": 2}
    s["first_solution_s"] = 31.0
    ph = s["phrases"]
    ph["greeting_company"] = [ev(t, 0, "Thank you for calling Acme Bank")]
    ph["own_name"] = [ev(t, 0, "my name is Anna")]
    ph["politeness"] = [ev(t, 0, "Thank you for calling"), ev(t, 8, "Have a nice day")]
    ph["empathy"] = [ev(t, 2, "I understand how frustrating this is"), ev(t, 2, "I'm sorry")]
    ph["paraphrase"] = [ev(t, 4, "If I understand correctly")]
    ph["commitment"] = [ev(t, 6, "I'll call you back by tomorrow noon to confirm, ticket 77")]
    ph["resolution"] = [ev(t, 6, "I have unblocked it now")]
    ph["further_help"] = [ev(t, 8, "Is there anything else I can help you with?")]
    ph["client_confirms"] = [ev(t, 7, "it works now")]
    s["script"]["stages"] = stages(t, {"greeting": 0, "offer_help": 0, "need_discovery": 2, "paraphrase": 4,
                                       "resolution": 6, "further_help": 8, "farewell": 8})
    s["sentiment"] = {"client_start": -0.8, "client_end": 0.6, "operator_mean": 0.2, "client_min": -0.8,
                      "backend": "lexicon", "per_turn": per_turn(t, {0: 0.3, 1: -0.8, 2: 0.1, 3: -0.4, 4: 0.0,
                                                                       5: 0.0, 6: 0.2, 7: 0.6, 8: 0.4})}
    s["loudness"] = {"operator": 55.0, "client": 70.0,
                     "raised_voice": [{**ev(t, 1, "This is outrageous!"), "level": 85.0}]}
    return make_result(t, s, **kw)


def scored(result: CallResult, config) -> dict[str, Any]:
    from callqa.pipeline.scoring.score import score_call

    return score_call(result, config).serialize()


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in items}


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("build", [good_call, bad_call, difficult_calm_call])
def test_every_scored_indicator_has_evidence_unless_numeric(build, config):
    out = scored(build(), config)
    assert out["indicators"], "no indicators computed"
    for ind in out["indicators"]:
        assert set(ind) >= {"id", "value", "score", "evidence"}
        if ind["score"] is None:
            continue
        assert 0.0 <= ind["score"] <= 1.0, ind
        if ind["id"] not in ("talk_ratio", "speech_rate"):
            assert ind["evidence"], f"{ind['id']} has a score but no evidence"
        for e in ind["evidence"]:
            assert set(e) >= {"start", "end", "speaker", "quote"}
            assert 0 <= e["start"] <= e["end"] <= 45.0


def test_numeric_indicators_are_only_measurements(config):
    numeric = {iid for iid, spec in config.section("indicators").items.items() if spec.numeric}
    assert numeric == {"talk_ratio", "speech_rate"}  # absences carry what was checked as evidence


def test_values_and_scores_follow_the_configured_scales(config):
    good = by_id(scored(good_call(), config)["indicators"])
    bad = by_id(scored(bad_call(), config)["indicators"])
    # talk ratio: band [0.35, 0.62], tolerance 0.25
    ratio = bad["talk_ratio"]["value"]
    assert ratio == pytest.approx((2 + 21.8 + 2.5) / (2 + 21.8 + 2.5 + 6.5 + 5.5 + 3.5), abs=1e-3)
    expected = 1.0 if 0.35 <= ratio <= 0.62 else max(0.0, 1 - (ratio - 0.62) / 0.25)
    assert bad["talk_ratio"]["score"] == pytest.approx(expected, abs=1e-3)
    # speech rate 205 wpm: band [110, 175] +- 60 -> 1 - 30/60
    assert bad["speech_rate"]["score"] == pytest.approx(0.5)
    assert good["speech_rate"]["score"] == 1.0
    # filler rate: 0 at 8, 1 at 1.5 per 100 words (lower is better)
    assert good["filler_rate"]["score"] == 1.0 and bad["filler_rate"]["score"] == 0.0
    assert bad["filler_rate"]["evidence"][0]["quote"] == "Um"
    # interruptions: 0 at 3, 1 at 0
    assert bad["client_not_interrupted"]["value"] == 2
    assert bad["client_not_interrupted"]["score"] == pytest.approx(1 / 3, abs=1e-3)
    assert [e["quote"] for e in bad["client_not_interrupted"]["evidence"]] == ["Um, like", "Calm down"]
    # questions before the solution (0 -> 0, 2 -> full): both of the good call's questions count
    assert good["questions_before_solution"]["value"] == 2
    assert good["questions_before_solution"]["score"] == 1.0
    assert [e["turn"] for e in good["questions_before_solution"]["evidence"]] == [2, 4]
    assert good["time_to_first_question"]["score"] == 1.0  # 10.5 s <= 30 s
    # monologue 21.8 s is under 30 s: full score, evidence = the monologue
    assert bad["monologue_length"]["score"] == 1.0
    assert bad["monologue_length"]["evidence"][0]["turn"] == 2
    # sentiment: good 0 -> 0.7 (delta 0.7 >= 0.4 full); bad -0.1 -> -0.8
    assert good["sentiment_improvement"]["value"] == pytest.approx(0.7)
    assert good["sentiment_improvement"]["score"] == 1.0
    assert bad["sentiment_improvement"]["score"] == 0.0
    assert bad["no_forbidden_phrases"]["value"] == 3 and bad["no_forbidden_phrases"]["score"] == 0.0
    assert good["no_forbidden_phrases"]["score"] == 1.0


def test_only_questions_before_the_solution_count(config):
    result = good_call()
    result.signals["first_solution_s"] = 20.0  # the solution came before the second question
    result.signals["questions"]["before_solution"] = None  # and the signal left the count to us
    ind = by_id(scored(result, config)["indicators"])["questions_before_solution"]
    assert ind["value"] == 1 and ind["score"] == pytest.approx(0.5)
    assert [e["turn"] for e in ind["evidence"]] == [2]


def test_bare_dont_know_is_only_the_forbidden_dont_know(config):
    bad = by_id(scored(bad_call(), config)["indicators"])
    assert bad["no_bare_dont_know"]["value"] == 1
    assert bad["no_bare_dont_know"]["evidence"][0]["quote"] == "I don't know"
    result = bad_call()
    result.signals["forbidden_phrases"] = [f for f in result.signals["forbidden_phrases"] if f["id"] != "dont_know"]
    result.signals["phrases"]["dont_know_followed"] = [ev(BAD_TURNS, 2, "I don't know, but I'll find out")]
    again = by_id(scored(result, config)["indicators"])
    assert again["no_bare_dont_know"]["value"] == 0 and again["no_bare_dont_know"]["score"] == 1.0


def test_missing_behaviour_points_at_where_it_was_expected(config):
    bad = by_id(scored(bad_call(), config)["indicators"])
    greeting = bad["greeting_company"]
    assert greeting["score"] == 0.0 and greeting["value"] == 0
    assert greeting["evidence"] == [{"start": 0.0, "end": 2.0, "speaker": "operator", "quote": "Yeah, hello.", "turn": 0}]
    further = bad["further_help"]
    assert further["score"] == 0.0 and further["evidence"][0]["turn"] == 4  # the operator's last turn
    confirms = bad["client_confirms"]
    assert confirms["evidence"][0]["turn"] == 5  # the client's last turn


def test_stress_resistance_indicators_apply_only_to_difficult_calls(config):
    good = by_id(scored(good_call(), config)["indicators"])
    hard = by_id(scored(difficult_calm_call(), config)["indicators"])
    for iid in ("calm_under_pressure", "interruptions_under_pressure", "raised_voice_under_pressure",
                "no_conflict_phrases"):
        assert good[iid]["score"] is None and good[iid]["evidence"] == []
        assert hard[iid]["score"] is not None
    # the client shouted, the operator did not: raised voice counts the operator only
    assert hard["raised_voice_under_pressure"]["value"] == 0 and hard["raised_voice_under_pressure"]["score"] == 1.0
    # the moment of pressure is the first negative client turn
    assert hard["no_conflict_phrases"]["evidence"][0]["turn"] == 1
    calm = hard["calm_under_pressure"]
    # the operator's mean turn sentiment from then on, the empathy turn (2) left out
    assert calm["value"] == pytest.approx((0.0 + 0.2 + 0.4) / 3) and calm["score"] == 1.0
    assert {e["turn"] for e in calm["evidence"]} == {1, 4}  # the pressure moment and the operator's lowest turn


def test_calm_under_pressure_ignores_empathy_but_not_hostility(config):
    result = difficult_calm_call()
    result.signals["sentiment"]["per_turn"][2]["score"] = -0.8  # "frustrating", "sorry": a lexicon reads it negative
    assert by_id(scored(result, config)["indicators"])["calm_under_pressure"]["score"] == 1.0
    result.signals["sentiment"]["per_turn"][6]["score"] = -0.9  # a hostile answer
    calm = by_id(scored(result, config)["indicators"])["calm_under_pressure"]
    assert calm["value"] == pytest.approx((0.0 - 0.9 + 0.4) / 3, abs=1e-4)
    assert calm["score"] == pytest.approx(1 - (0.5 / 3) / 0.4, abs=1e-3)  # linear: 0 at -0.4, 1 at 0
    assert calm["evidence"][-1]["turn"] == 6


def test_forbidden_and_conflict_phrases_under_pressure(config):
    result = difficult_calm_call()
    t = result_turns(result)
    result.signals["forbidden_phrases"] = [ev(t, 0, "how can I help", id="x"),  # before the pressure: not counted
                                           ev(t, 4, "calm down", id="calm_down")]
    result.signals["phrases"]["conflict"] = [ev(t, 4, "calm down"), ev(t, 6, "that's your problem")]
    ind = by_id(scored(result, config)["indicators"])["no_conflict_phrases"]
    assert ind["value"] == 2 and ind["score"] == 0.0  # the same moment in both lists counts once
    assert [e["quote"] for e in ind["evidence"]] == ["calm down", "that's your problem"]


def result_turns(result):
    return [(t.speaker, t.start, t.end, t.text) for t in result.transcript.turns]


def test_loudness_indicator_is_null_without_audio(config):
    result = difficult_calm_call()
    result.signals["loudness"] = {"operator": None, "client": None, "raised_voice": []}
    ind = by_id(scored(result, config)["indicators"])
    assert ind["raised_voice_under_pressure"]["score"] is None


def test_speech_rate_is_syllables_per_second_in_russian(config):
    result = good_call(language="ru")
    result.signals["speech_rate_wpm"]["operator"] = 140.0
    result.signals["syllables_per_s"]["operator"] = 6.8  # fast: band 3.5..5.8 syllables/s, tolerance 2
    ru = by_id(scored(result, config)["indicators"])["speech_rate"]
    assert ru["value"] == 6.8 and ru["score"] == pytest.approx(1 - 1.0 / 2.0)
    en = by_id(scored(good_call(), config)["indicators"])["speech_rate"]
    assert en["value"] == 140.0 and en["score"] == 1.0


def test_glossary_indicator_applies_only_with_a_glossary(config):
    from callqa.pipeline.config import load_config

    assert by_id(scored(good_call(), config)["indicators"])["glossary_use"]["score"] is None
    cfg = load_config(overrides={"company": {"glossary": {"en": ["debit card", "limit"]}}})
    result = good_call()
    result.signals["phrases"]["glossary"] = [ev(GOOD_TURNS, 6, "card")]
    ind = by_id(scored(result, cfg)["indicators"])["glossary_use"]
    assert ind["value"] == 1 and ind["score"] == pytest.approx(0.5) and ind["evidence"][0]["quote"] == "card"


def test_registry_and_scale_config_errors_name_the_key():
    from callqa.pipeline.config import load_config
    from callqa.pipeline.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        load_config(overrides={"indicators": {"items": {"paraphrase": {"compute": "nope"}}}})
    assert e.value.key.startswith("indicators") and "nope" in e.value.problem
    assert e.value.file.endswith("indicators.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"indicators": {"items": {"talk_ratio": {"scale": {"type": "band", "low": 0.7}}}}})
    assert e.value.key == "indicators.items.talk_ratio.scale" and "low" in e.value.problem
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"indicators": {"items": {"paraphrase": {"applies": ["sometimes"]}}}})
    assert e.value.key == "indicators.items.paraphrase" and "sometimes" in e.value.problem


def test_indicators_read_a_signals_object_with_serialize(config):
    class Signals:
        def __init__(self, d):
            self.d = d

        def serialize(self):
            return self.d

    result = good_call()
    result.signals = Signals(result.signals)
    from_obj = scored(result, config)["indicators"]
    assert from_obj == scored(good_call(), config)["indicators"]
