"""Competency scores per call: weighted means, levels, roles, difficult calls,
the competency map's configuration, and (when they exist) the sample calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_indicators import bad_call, by_id, difficult_calm_call, good_call, scored

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError

COMPETENCIES = ("needs_discovery", "active_listening", "clear_speech", "customer_orientation", "stress_resistance",
                "responsibility", "result_orientation", "script_compliance", "problem_analysis", "product_knowledge")


def _weighted(ind: dict, weights: dict) -> float:
    used = [(ind[i]["score"], w) for i, w in weights.items() if w > 0 and ind[i]["score"] is not None]
    return 100 * sum(s * w for s, w in used) / sum(w for _, w in used)


def test_the_map_defines_the_contract_competencies_with_both_languages(config):
    cmap = config.section("competency_map")
    assert tuple(cmap.competencies) == COMPETENCIES
    assert [lv.name.ru for lv in cmap.levels] == ["Базовый", "Развивающийся", "Опытный", "Эксперт"]
    assert [lv.name.en for lv in cmap.levels] == ["Basic", "Developing", "Experienced", "Expert"]
    for comp in cmap.competencies.values():
        assert comp.name.ru and comp.name.en and comp.description.ru and comp.description.en


def test_competency_score_is_the_weighted_mean_of_applicable_indicators(config):
    out = scored(bad_call(), config)
    ind = by_id(out["indicators"])
    comps = by_id(out["competencies"])
    cmap = config.section("competency_map")
    for cid, comp in cmap.competencies.items():
        applicable = [i for i, w in comp.indicators.items() if w > 0 and ind[i]["score"] is not None]
        c = comps[cid]
        assert c["indicators"] == applicable
        if applicable:
            assert c["score"] == pytest.approx(_weighted(ind, comp.indicators), abs=0.01)
            assert c["level"] == cmap.level_for(c["score"])
        else:
            assert c["score"] is None and c["level"] is None
    # by hand: clear speech = (speech rate 0.5 x 1 + fillers 0 x 2 + monologue 1 x 1) / 4
    assert comps["clear_speech"]["score"] == pytest.approx(100 * (0.5 + 0 + 1) / 4, abs=0.01)
    assert comps["clear_speech"]["level"] == 1


def test_levels_follow_the_thresholds(config):
    cmap = config.section("competency_map")
    assert [cmap.level_for(s) for s in (0, 49.9, 50, 69.99, 70, 84.9, 85, 100)] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert cmap.level_for(None) is None


def test_changing_the_role_changes_the_weights_as_configured(config):
    inbound = scored(good_call(role="inbound"), config)
    outbound = scored(good_call(role="outbound"), config)
    ind = by_id(inbound["indicators"])
    assert by_id(outbound["indicators"]) == ind  # indicators do not depend on the role
    result = good_call()
    result.signals["questions"]["open"] = []  # only a closed question: open questions now matter
    ind = by_id(scored(result, config)["indicators"])
    roles = config.section("roles")
    cmap = config.section("competency_map")
    for role in ("inbound", "outbound"):
        res = good_call(role=role)
        res.signals["questions"]["open"] = []
        comps = by_id(scored(res, config)["competencies"])
        weights = roles.get(role).indicators.get("needs_discovery", cmap.competencies["needs_discovery"].indicators)
        assert comps["needs_discovery"]["score"] == pytest.approx(_weighted(ind, weights), abs=0.01)
    nd_in = by_id(scored(_no_open(good_call(role="inbound")), config)["competencies"])["needs_discovery"]["score"]
    nd_out = by_id(scored(_no_open(good_call(role="outbound")), config)["competencies"])["needs_discovery"]["score"]
    assert nd_out < nd_in  # outbound weighs open questions 3 instead of 1.5


def _no_open(result):
    result.signals["questions"]["open"] = []
    return result


def test_role_weight_zero_drops_the_competency_and_overall_score_uses_role_weights(config):
    cfg = load_config(overrides={"roles": {"support": {"competencies": {"stress_resistance": 0}}}})
    res = scored(difficult_calm_call(role="support"), cfg)
    assert "stress_resistance" not in by_id(res["competencies"])
    comps = {c["id"]: c["score"] for c in res["competencies"] if c["score"] is not None}
    weights = cfg.section("roles").get("support").competencies
    expected = sum(s * weights.get(c, 1.0) for c, s in comps.items()) / sum(weights.get(c, 1.0) for c in comps)
    assert res["processing"]["scoring"]["overall_score"] == pytest.approx(expected, abs=0.01)
    assert res["processing"]["scoring"]["role"] == "support"


def test_role_defaults_to_inbound(config):
    assert scored(good_call(role=None), config)["competencies"] == scored(good_call(role="inbound"), config)["competencies"]


def test_difficult_when_the_client_starts_negative_or_escalates(config):
    assert scored(good_call(), config)["difficult"] is False
    calm_start = difficult_calm_call()
    calm_start.signals["escalations"] = []  # still starts at -0.8
    assert scored(calm_start, config)["difficult"] is True
    escalates = good_call()
    escalates.signals["escalations"] = [{"start": 14.5, "end": 24.0, "speaker": "client", "quote": "a manager"}]
    assert scored(escalates, config)["difficult"] is True
    cfg = load_config(overrides={"indicators": {"difficult": {"on_escalation": False}}})
    assert scored(escalates, cfg)["difficult"] is False


def test_good_outscores_bad_and_calm_handling_of_a_difficult_call(config):
    good = by_id(scored(good_call(), config)["competencies"])
    bad = by_id(scored(bad_call(), config)["competencies"])
    both = [c for c in COMPETENCIES if good[c]["score"] is not None and bad[c]["score"] is not None]
    assert len(both) >= 8
    for c in both:
        assert good[c]["score"] > bad[c]["score"], c
    assert good["stress_resistance"]["score"] is None  # a calm call says nothing about stress
    hard = scored(difficult_calm_call(), config)
    sr = by_id(hard["competencies"])["stress_resistance"]
    assert sr["score"] >= 85 and sr["level"] == 4
    assert "stress_resistance" in {c["id"] for n in hard["nominations"] for c in n["competencies"]}


def test_call_result_has_the_contract_sections(config):
    out = scored(good_call(), config)
    json.dumps(out)  # serializable
    assert isinstance(out["difficult"], bool)
    for c in out["competencies"]:
        assert set(c) >= {"id", "score", "level", "indicators"}
        assert c["score"] is None or 0 <= c["score"] <= 100
        assert c["level"] in (None, 1, 2, 3, 4)
    for f in out["flags"]:
        assert set(f) >= {"id", "severity", "reason", "evidence"}


# ---------------------------------------------------------------- invalid configuration


@pytest.mark.parametrize("overrides, key, words", [
    ({"competency_map": {"competencies": {"clear_speech": {"indicators": {"bogus": 1}}}}},
     "competency_map.competencies.clear_speech.indicators.bogus", "unknown indicator"),
    ({"competency_map": {"competencies": {"clear_speech": {"indicators": {"filler_rate": -1}}}}},
     "competency_map.competencies.clear_speech.indicators", "negative"),
    ({"competency_map": {"competencies": {"clear_speech": {"block": "nowhere"}}}},
     "competency_map", "nowhere"),
    ({"competency_map": {"levels": [{"level": 1, "min_score": 0, "name": {"ru": "a", "en": "a"},
                                     "description": {"ru": "a", "en": "a"}}]}},
     "competency_map.levels", "levels 1, 2, 3, 4"),
    ({"roles": {"outbound": {"competencies": {"charm": 2}}}}, "roles.outbound.competencies.charm", "unknown competency"),
    ({"roles": {"outbound": {"competencies": {"clear_speech": "high"}}}}, "roles.outbound.competencies.clear_speech",
     "number"),
    ({"development": {"actions": {"charm": {"ru": ["x"], "en": ["x"]}}}}, "development.actions.charm",
     "unknown competency"),
    ({"grading": {"min_calls": 0}}, "grading.min_calls", "greater than"),
    ({"grading": {"nomination": {"ignore_flags": ["nope"]}}}, "grading.nomination.ignore_flags", "nope"),
    ({"flags": {"negative_end": {"severity": "huge"}}}, "flags.negative_end.severity", "high"),
])
def test_invalid_configs_fail_with_the_key_named(overrides, key, words):
    from callqa.pipeline.scoring.settings import check_scoring_config

    with pytest.raises(ConfigError) as e:
        check_scoring_config(load_config(overrides=overrides))
    assert e.value.key == key
    assert words in e.value.problem
    assert e.value.file.endswith(".yaml")


def test_config_errors_from_a_user_file_name_that_file(tmp_path):
    from callqa.pipeline.scoring.settings import check_scoring_config

    user = tmp_path / "customer.yaml"
    user.write_text("roles:\n  support:\n    indicators:\n      product_knowledge: {glossary_uses: 2}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        check_scoring_config(load_config(user))
    assert e.value.file == str(user)
    assert e.value.key == "roles.support.indicators.product_knowledge.glossary_uses"
    missing = tmp_path / "missing_role.yaml"
    missing.write_text("roles:\n  inbound: {name: {ru: a, en: b}, competencies: {clear_speech: -1}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(missing)
    assert e.value.file == str(missing) and e.value.key == "roles.inbound.competencies"


# ---------------------------------------------------------------- sample calls (generated with exact ground truth)


def _samples(sample_calls_dir: Path) -> dict[str, dict]:
    truth_dir = sample_calls_dir / "truth"
    if not (sample_calls_dir / "transcripts").is_dir() or not truth_dir.is_dir():
        pytest.skip("sample_calls/transcripts and sample_calls/truth are not there")
    try:
        from callqa.pipeline.signals import compute_signals  # noqa: F401
    except ImportError:
        pytest.skip("the signals layer is not there")
    out = {}
    for t in sorted(truth_dir.glob("*.json")):
        truth = json.loads(t.read_text(encoding="utf-8"))
        transcript = sample_calls_dir / "transcripts" / t.name
        if transcript.is_file():
            out[t.stem] = {"truth": truth, "transcript": transcript}
    if not out:
        pytest.skip("no sample call has both a transcript and its truth")
    return out


@pytest.fixture(scope="module")
def sample_results(sample_calls_dir, config):
    from callqa.pipeline.process import process_call

    samples = _samples(sample_calls_dir)
    return {cid: {"truth": s["truth"], "result": process_call(s["transcript"], config).serialize()}
            for cid, s in samples.items()}


def _by_quality(sample_results, language: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in sample_results.values():
        if s["truth"].get("language") == language:
            out.setdefault(s["truth"].get("expected", {}).get("quality"), []).append(s)
    return out


@pytest.mark.parametrize("language", ["en", "ru"])
def test_sample_calls_good_outscores_bad_on_every_shared_competency(sample_results, language):
    q = _by_quality(sample_results, language)
    if not q.get("good") or not q.get("bad"):
        pytest.skip(f"no good and bad {language} sample calls")
    for good in q["good"]:
        for bad in q["bad"]:
            g, b = by_id(good["result"]["competencies"]), by_id(bad["result"]["competencies"])
            shared = [c for c in g if g[c]["score"] is not None and b.get(c, {}).get("score") is not None]
            assert len(shared) >= 7, (good["result"]["call_id"], bad["result"]["call_id"], shared)
            for c in shared:
                assert g[c]["score"] > b[c]["score"], (c, good["result"]["call_id"], bad["result"]["call_id"],
                                                       g[c]["score"], b[c]["score"])


@pytest.mark.parametrize("language", ["en", "ru"])
def test_sample_difficult_calm_call_scores_high_on_stress_resistance_and_is_nominated(sample_results, language):
    q = _by_quality(sample_results, language)
    if not q.get("difficult_calm"):
        pytest.skip(f"no difficult-calm {language} sample call")
    for s in q["difficult_calm"]:
        res = s["result"]
        assert res["difficult"] is True
        sr = by_id(res["competencies"])["stress_resistance"]
        assert sr["score"] is not None and sr["score"] >= 70 and sr["level"] >= 3, sr
        assert len(res["nominations"]) == 1, res["nominations"]  # one nomination per call
        nom = res["nominations"][0]
        assert "stress_resistance" in {c["id"] for c in nom["competencies"]}, (res["flags"], nom)
        assert nom["reason"] == "difficult_turned_positive"


def test_sample_calls_stress_resistance_is_null_on_calm_calls(sample_results):
    calm = [s for s in sample_results.values() if s["truth"].get("expected", {}).get("difficult") is False]
    if not calm:
        pytest.skip("no calm sample call")
    for s in calm:
        res = s["result"]
        assert res["difficult"] is False, res["call_id"]
        assert by_id(res["competencies"])["stress_resistance"]["score"] is None


def test_sample_calls_every_scored_indicator_has_evidence(sample_results):
    for s in sample_results.values():
        for ind in s["result"]["indicators"]:
            if ind["score"] is not None and ind["id"] not in ("talk_ratio", "speech_rate"):
                assert ind["evidence"], (s["result"]["call_id"], ind["id"])
