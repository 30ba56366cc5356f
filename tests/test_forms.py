"""Evaluation forms: the default form mirrors the competency map, the shipped checklist answers
from script stages, indicators and flags, critical items fail the form, N/A rules, people's
answers re-score it, versions, configuration errors, and human answers in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.qa.forms import (FormError, call_form, form_results, get_form, human_answers, rescore_form,
                                   save_human_answer)

TX = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"
_RESULTS: dict[str, dict] = {}


def _result(name: str, config, tmp_path_factory, **meta) -> dict:
    """A sample transcript processed end to end (once per name and metadata)."""
    from callqa.pipeline.process import process_call

    key = name + json.dumps(meta, sort_keys=True)
    if key not in _RESULTS:
        src = TX / f"{name}.json"
        if meta:
            data = json.loads(src.read_text(encoding="utf-8"))
            data.update(meta)
            src = tmp_path_factory.mktemp("tx") / f"{name}.json"
            src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        _RESULTS[key] = process_call(src, config).serialize()
    return _RESULTS[key]


def _form(result: dict, form_id: str) -> dict:
    return next(f for f in result["forms"] if f["id"] == form_id)


def _answer(form: dict, qid: str) -> dict:
    return next(a for a in form["answers"] if a["id"] == qid)


@pytest.mark.parametrize("name,meta", [("en_bad_inbound_tx", {}), ("ru_good_inbound_tx", {}),
                                       ("en_difficult_calm_tx", {"role": "outbound"})])
def test_default_form_mirrors_the_competency_map(name, meta, config, tmp_path_factory):
    result = _result(name, config, tmp_path_factory, **meta)
    form = _form(result, "competencies")
    cmap = config.section("competency_map")
    # one question per competency, in sections named after the blocks
    assert [a["id"] for a in form["answers"]] == [c for b in cmap.blocks for c, d in cmap.competencies.items()
                                                  if d.block == b]
    assert {a["section"] for a in form["answers"]} == {d.block for d in cmap.competencies.values()}
    scores = {c["id"]: c["score"] for c in result["competencies"]}
    for a in form["answers"]:
        if scores[a["id"]] is None:
            assert a["answer"] == "na" and "not observable" in a["reason"]
        else:
            assert a["answer"] == pytest.approx(scores[a["id"]], abs=0.01)
            assert a["source"] == f"competency:{a['id']}" and a["evidence"]
    # weighted as the role weights competencies: the form score is the overall score
    assert form["score"] == pytest.approx(result["processing"]["scoring"]["overall_score"], abs=0.01)
    assert form["version"] and form["complete"] and form["pending"] == []
    assert form["passed"] == (form["score"] >= 70)


def test_checklist_critical_item_fails_the_form(config, tmp_path_factory):
    result = _result("en_bad_inbound_tx", config, tmp_path_factory)
    form = _form(result, "inbound_checklist")
    forbidden = _answer(form, "no_forbidden_phrases")
    assert forbidden["answer"] == "no" and forbidden["source"] == "flag:forbidden_phrase"
    assert any("Calm down" in e["quote"] for e in forbidden["evidence"])
    assert form["critical_failed"] == ["no_forbidden_phrases"]
    assert form["passed"] is False and form["score"] == 0 and form["raw_score"] > 0
    greeting = _answer(form, "greeting")
    assert greeting["answer"] == "yes" and greeting["source"] == "script_stage:greeting"
    assert greeting["evidence"][0]["speaker"] == "operator"
    offer = _answer(form, "offer_help")
    assert offer["answer"] == "no" and offer["evidence"]  # where the stage was expected
    # the client escalated: a person judges how it was handled; nobody said whether the information was right
    assert form["pending"] == ["correct_information", "escalation_handled"]
    assert _answer(form, "correct_information")["needs_human"] is True


def test_na_rules_and_passing_before_every_answer_is_in(config, tmp_path_factory):
    result = _result("ru_good_inbound_tx", config, tmp_path_factory)
    form = _form(result, "inbound_checklist")
    assert _answer(form, "escalation_handled")["answer"] == "na"
    assert "no flag escalation" in _answer(form, "escalation_handled")["reason"]
    assert _answer(form, "calm_under_pressure")["reason"] == "N/A: not a difficult call"
    assert form["pending"] == ["correct_information"]
    low, high = form["score_range"]
    # even a "no" on the open question keeps the form above its threshold: passed already
    assert low >= form["pass_threshold"] and high == 100
    assert form["passed"] is True and form["complete"] is False


def test_script_questions_are_na_when_the_script_does_not_apply(config, tmp_path_factory):
    from callqa.pipeline.process import process_call

    src = tmp_path_factory.mktemp("tx") / "wrong_number.json"
    src.write_text(json.dumps({"call_id": "wrong-number", "language": "en", "role": "inbound", "turns": [
        {"speaker": "operator", "start": 0.4, "end": 3.0, "text": "Hello, how can I help you?"},
        {"speaker": "client", "start": 3.4, "end": 6.0, "text": "Sorry, wrong number."}]}), encoding="utf-8")
    result = process_call(src, config).serialize()
    why = result["signals"]["script"]["not_applicable"]
    assert why and "script_missing" not in {f["id"] for f in result["flags"]}
    form = _form(result, "inbound_checklist")
    stages = [a for a in form["answers"] if (a["source"] or "").startswith("script_stage:")]
    assert stages, "the checklist asks about script stages"
    for a in stages:  # not "no": a wrong number has no script to follow
        assert a["answer"] == "na" and why in a["reason"], a


def test_human_answers_rescore_the_form(config, tmp_path_factory):
    result = _result("en_difficult_calm_tx", config, tmp_path_factory)
    auto = _form(result, "inbound_checklist")
    assert auto["passed"] is None and set(auto["pending"]) == {"correct_information", "escalation_handled"}
    assert "wait for a person" in auto["reason"]
    form = get_form(config, "inbound_checklist")
    assert form.version == auto["version"]
    good = rescore_form(form, result, config, {"correct_information": "yes",
                                               "escalation_handled": {"answer": "yes", "by": "sam"}})
    assert good.complete and good.passed is True and good.score == pytest.approx(100.0)
    bad = rescore_form(form, result, config, {"correct_information": "no", "escalation_handled": "no"}).serialize()
    assert bad["complete"] and bad["passed"] is False
    assert bad["score"] == pytest.approx(100 * 13 / 17, abs=0.01)  # 4 of 17 points lost
    assert _answer(bad, "escalation_handled")["source"] == "human"
    # a person may correct an automatic answer; the automatic one is kept beside it
    fixed = rescore_form(form, result, config, {"greeting": "no", "correct_information": "yes",
                                                "escalation_handled": "yes"}).serialize()
    assert _answer(fixed, "greeting")["answer"] == "no" and _answer(fixed, "greeting")["auto"] == "yes"
    assert fixed["score"] < 100


def test_answers_are_checked_against_the_question(config, tmp_path_factory):
    result = _result("ru_good_inbound_tx", config, tmp_path_factory)
    form = get_form(config, "inbound_checklist")
    with pytest.raises(FormError, match="correct_information.*yes, no"):
        rescore_form(form, result, config, {"correct_information": "maybe"})
    with pytest.raises(FormError, match="cannot be answered N/A"):
        rescore_form(form, result, config, {"correct_information": "na"})
    with pytest.raises(FormError, match="no question 'nope'"):
        rescore_form(form, result, config, {"nope": "yes"})
    mirror = get_form(config, "competencies")
    with pytest.raises(FormError, match="score 0..100"):
        rescore_form(mirror, result, config, {"clear_speech": 150})
    assert rescore_form(mirror, result, config, {"clear_speech": 0}).score < _form(result, "competencies")["score"]


def test_versions_follow_the_definition(tmp_path):
    base = load_config()
    same = load_config()
    assert get_form(base, "inbound_checklist").version == get_form(same, "inbound_checklist").version
    heavier = load_config(overrides={"forms": {"items": {"inbound_checklist": {"pass_threshold": 90}}}})
    assert get_form(heavier, "inbound_checklist").version != get_form(base, "inbound_checklist").version
    pinned = load_config(overrides={"forms": {"items": {"inbound_checklist": {"version": "2026-12"}}}})
    assert get_form(pinned, "inbound_checklist").version == "2026-12"
    # the mirrored form follows the competency map and the role weights
    reweighted = load_config(overrides={"roles": {"inbound": {"competencies": {"clear_speech": 2}}}})
    assert get_form(reweighted, "competencies").version != get_form(base, "competencies").version


@pytest.mark.parametrize("form,match", [
    ({"sections": [{"id": "s", "name": {"ru": "с", "en": "s"},
                    "questions": [{"id": "q", "text": {"ru": "в", "en": "q"}, "auto": {"indicator": "nope"}}]}]},
     r"forms\.items\.f\.sections\.0\.questions\.0\.auto\.indicator: unknown indicator 'nope'"),
    ({"sections": [{"id": "s", "name": {"ru": "с", "en": "s"},
                    "questions": [{"id": "q", "text": {"ru": "в", "en": "q"}, "auto": {"script_stage": "dance"}}]}]},
     r"no script has a stage 'dance'"),
    ({"sections": [{"id": "s", "name": {"ru": "с", "en": "s"},
                    "questions": [{"id": "q", "text": {"ru": "в", "en": "q"},
                                   "auto": {"flag": "escalation", "indicator": "own_name"}}]}]},
     r"exactly one of"),
    ({"sections": [{"id": "s", "name": {"ru": "с", "en": "s"},
                    "questions": [{"id": "q", "text": {"ru": "в", "en": "q"}, "na_when": [{"flag": "nope"}]}]}]},
     r"na_when\.0\.flag: unknown flag 'nope'"),
    ({"pass_threshold": 120, "mirror": "competency_map"}, r"pass_threshold"),
])
def test_invalid_forms_name_the_file_and_key(tmp_path, form, match):
    user = tmp_path / "callqa.yaml"
    user.write_text(json.dumps({"forms": {"items": {"f": form}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as e:
        load_config(user)
    assert str(user) in str(e.value)


def test_scored_forms_must_exist(tmp_path):
    user = tmp_path / "callqa.yaml"
    user.write_text("forms:\n  score: [competencies, missing]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown form 'missing'"):
        load_config(user)


def test_human_answers_in_the_store(config, tmp_path, tmp_path_factory):
    from callqa.pipeline.store.db import Store, StoreError

    store = Store(tmp_path / "store")
    result = _result("en_difficult_calm_tx", config, tmp_path_factory)
    store.save(result)
    cid = result["call_id"]
    before = call_form(store, cid, "inbound_checklist", config)
    assert before.passed is None
    saved = save_human_answer(store, cid, "inbound_checklist", "correct_information", "no", author="sam",
                              config=config, analysis_id=result["analysis_id"])
    assert saved["form_version"] == before.version and saved["form"].pending == ("escalation_handled",)
    save_human_answer(store, cid, "inbound_checklist", "correct_information", "yes", author="sam", config=config,
                      comment="checked the tariff")
    save_human_answer(store, cid, "inbound_checklist", "escalation_handled", "yes", author="rex", config=config)
    after = call_form(store, cid, "inbound_checklist", config)
    assert after.complete and after.passed is True  # the latest answer per question wins
    by_q = {a.id: a for a in after.answers}
    assert by_q["correct_information"].by == "sam" and by_q["correct_information"].comment == "checked the tariff"
    assert human_answers(store, cid, "inbound_checklist")["escalation_handled"]["by"] == "rex"
    # answers belong to a form version: a changed form starts without them
    changed = load_config(overrides={"forms": {"items": {"inbound_checklist": {"pass_threshold": 90}}}})
    assert call_form(store, cid, "inbound_checklist", changed).pending == ("correct_information",
                                                                           "escalation_handled")
    with pytest.raises(FormError, match="takes yes, no"):
        save_human_answer(store, cid, "inbound_checklist", "correct_information", 5, author="sam", config=config)
    with pytest.raises(StoreError, match="reprocessed"):
        save_human_answer(store, cid, "inbound_checklist", "correct_information", "yes", author="sam",
                          config=config, analysis_id="a-earlier")
    with pytest.raises(StoreError, match="no analysed call"):
        save_human_answer(store, "nope", "inbound_checklist", "correct_information", "yes", author="sam",
                          config=config)


def test_forms_are_in_the_json_result(config, tmp_path_factory):
    from callqa.pipeline.jsonable import dumps

    result = _result("ru_good_inbound_tx", config, tmp_path_factory)
    back = json.loads(dumps(result))
    assert [f["id"] for f in back["forms"]] == config.section("forms").score
    assert all(f["version"] for f in back["forms"])


def test_form_results_over_many_calls(config, tmp_path, tmp_path_factory):
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path / "store")
    calm = _result("en_difficult_calm_tx", config, tmp_path_factory)
    good = _result("ru_good_inbound_tx", config, tmp_path_factory)
    store.save({**calm, "started_at": "2026-11-24T10:00:00"})
    store.save({**good, "started_at": "2026-11-23T10:00:00"})
    save_human_answer(store, calm["call_id"], "inbound_checklist", "correct_information", "yes", author="sam",
                      config=config)
    save_human_answer(store, calm["call_id"], "inbound_checklist", "escalation_handled", "no", author="sam",
                      config=config)
    rows = form_results(store, config, "inbound_checklist")
    assert [r["call_id"] for r in rows] == [good["call_id"], calm["call_id"]]  # oldest first
    assert rows[1]["form"].complete and rows[1]["form"].score == pytest.approx(100 * 15 / 17, abs=0.01)
    assert rows[0]["form"].pending == ("correct_information",)
    assert [r["call_id"] for r in form_results(store, config, "competencies", call_ids=[calm["call_id"]])] == \
        [calm["call_id"]]


def test_changing_a_form_reprocesses_no_call():
    base = load_config()
    changed = load_config(overrides={"forms": {"items": {"inbound_checklist": {"pass_threshold": 90}}},
                                     "sampling": {"per_operator": 9}})
    assert changed.hash == base.hash  # forms are versioned and re-scored from stored results
