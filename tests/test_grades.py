"""Period aggregation: periods, the call x competency frame, operator grades with
confidence intervals and the difficult-call rule, development plans."""

from __future__ import annotations

import json
import math
from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl
import pytest
from scipy import stats

from callqa.pipeline.config import load_config
from callqa.pipeline.people.grades import (competency_frame, grade_frame, load_results, mean_ci, operator_grade,
                                    parse_period, period_keys)


@lru_cache(maxsize=1)
def _default_config():
    return load_config()


def result(call_id: str, operator: str, started_at: str, scores: dict[str, float | None], difficult: bool = False,
           nominations: list[dict] | None = None, role: str = "inbound") -> dict:
    cmap = _default_config().section("competency_map")
    return {"schema_version": 1, "call_id": call_id, "operator_id": operator, "team": "t1", "role": role,
            "language": "ru", "started_at": started_at, "difficult": difficult,
            "competencies": [{"id": c, "score": s, "level": cmap.level_for(s), "indicators": []}
                             for c, s in scores.items()],
            "flags": [], "nominations": nominations or []}


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize("text, kind, key, start, end", [
    ("2026-W47", "week", "2026-W47", date(2026, 11, 16), date(2026, 11, 22)),
    ("2026-W1", "week", "2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
    ("2026-11", "month", "2026-11", date(2026, 11, 1), date(2026, 11, 30)),
    ("2026-2", "month", "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
    ("2026-Q4", "quarter", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-Q1", "quarter", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
])
def test_parse_period(text, kind, key, start, end):
    p = parse_period(text)
    assert (p.kind, p.key, p.start, p.end) == (kind, key, start, end)


@pytest.mark.parametrize("text", ["2026", "2026-13", "2026-Q5", "2026-W54", "Q4-2026", "2026-W"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_period_keys_use_iso_weeks_across_year_ends():
    assert period_keys(date(2027, 1, 1)) == {"week": "2026-W53", "month": "2027-01", "quarter": "2027-Q1"}
    assert period_keys(date(2026, 11, 18)) == {"week": "2026-W47", "month": "2026-11", "quarter": "2026-Q4"}
    for d in (date(2026, 3, 31), date(2026, 11, 16), date(2027, 1, 1)):  # every date lies in its periods
        keys = period_keys(d)
        for kind in ("week", "month", "quarter"):
            p = parse_period(keys[kind])
            assert p.start <= d <= p.end


# ---------------------------------------------------------------- the frame


def test_competency_frame_from_result_files(tmp_path):
    rows = [result("a", "op1", "2026-11-18T10:00:00+03:00", {"clear_speech": 80.0, "stress_resistance": None}),
            result("b", "op2", "2026-12-31T23:30:00Z", {"clear_speech": 40.0}, difficult=True)]
    for r in rows:
        (tmp_path / f"{r['call_id']}.json").write_text(json.dumps(r), encoding="utf-8")
    (tmp_path / "notes.json").write_text('{"not": "a result"}', encoding="utf-8")
    loaded = load_results(tmp_path)
    assert sorted(r["call_id"] for r in loaded) == ["a", "b"]
    frame = competency_frame(loaded)
    assert frame.height == 3
    assert set(frame.columns) >= {"call_id", "operator_id", "team", "role", "started_at", "week", "month", "quarter",
                                  "difficult", "competency", "score", "level"}
    b = frame.filter(pl.col("call_id") == "b").row(0, named=True)
    assert (b["week"], b["month"], b["quarter"], b["difficult"], b["level"]) == ("2026-W53", "2026-12", "2026-Q4",
                                                                                 True, 1)
    assert frame.filter(pl.col("competency") == "stress_resistance").get_column("score").to_list() == [None]
    assert competency_frame([]).height == 0


def test_load_results_names_a_broken_file(tmp_path):
    from callqa.pipeline.errors import InputError

    (tmp_path / "x.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_results(tmp_path)
    assert e.value.path.endswith("x.json")
    with pytest.raises(InputError):
        load_results(tmp_path / "nowhere")


# ---------------------------------------------------------------- statistics


def test_t_interval_matches_scipy_on_random_data():
    rng = np.random.default_rng(7)
    for n in (2, 3, 10, 57):
        x = rng.normal(65, 12, size=n)
        lo, hi = mean_ci(list(x), 0.95, "t")
        ref = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
        assert (lo, hi) == pytest.approx(ref, rel=1e-9)
        lo90, hi90 = mean_ci(list(x), 0.90, "t")
        assert lo < lo90 < hi90 < hi


def test_t_interval_by_hand_and_edge_cases():
    # 60, 70, 80: mean 70, s = 10, t(0.975, 2) = 4.302653 -> 70 +- 24.8414
    lo, hi = mean_ci([60, 70, 80], 0.95, "t")
    assert lo == pytest.approx(70 - 4.302653 * 10 / math.sqrt(3), abs=1e-4)
    assert hi == pytest.approx(70 + 24.8414, abs=1e-3)
    assert mean_ci([50.0]) == (None, None)
    assert mean_ci([]) == (None, None)
    assert mean_ci([70, 70, 70]) == (70, 70)


def test_bootstrap_interval_is_close_to_t_for_normal_data():
    x = list(np.random.default_rng(3).normal(60, 10, size=200))
    t_lo, t_hi = mean_ci(x, 0.95, "t")
    b_lo, b_hi = mean_ci(x, 0.95, "bootstrap", samples=4000, seed=1)
    assert b_lo == pytest.approx(t_lo, abs=0.4) and b_hi == pytest.approx(t_hi, abs=0.4)
    assert mean_ci(x, 0.95, "bootstrap", seed=1) == mean_ci(x, 0.95, "bootstrap", seed=1)  # reproducible


# ---------------------------------------------------------------- grades


def _calls(operator: str, scores: list[float], difficult: list[bool] | None = None, start_day: int = 2,
           competency: str = "clear_speech", month: int = 11) -> list[dict]:
    difficult = difficult or [False] * len(scores)
    return [result(f"{operator}-{month}-{i}", operator, f"2026-{month:02d}-{start_day + i:02d}T09:00:00",
                   {competency: s}, difficult=d) for i, (s, d) in enumerate(zip(scores, difficult))]


def test_operator_grade_by_hand(config):
    calls = _calls("op1", [90, 80, 70, 100, 60, 85], [True, False, False, True, False, False])
    calls += _calls("op1", [10, 10, 10, 10, 10], month=9)  # another quarter: not counted
    calls += _calls("op2", [20, 30, 40, 50, 60])  # another operator
    g = operator_grade(competency_frame(calls), "op1", "2026-Q4", config)
    cs = g.get("clear_speech")
    assert (g.calls, g.difficult_calls) == (6, 2)
    assert cs.mean == pytest.approx(485 / 6)
    assert (cs.calls, cs.difficult_calls, cs.difficult_mean) == (6, 2, pytest.approx(95.0))
    ref = stats.t.interval(0.95, 5, loc=485 / 6, scale=stats.sem([90, 80, 70, 100, 60, 85]))
    assert (cs.ci_low, cs.ci_high) == pytest.approx(ref)
    assert cs.base_level == 3 and cs.level == 3 and cs.enough_calls
    assert g.get("stress_resistance").mean is None and g.get("stress_resistance").calls == 0
    assert g.overall == pytest.approx(485 / 6)  # the only scored competency
    # a confidence interval never leaves the 0..100 score range
    near_top = operator_grade(competency_frame(_calls("op9", [100, 100, 90])), "op9", "2026-11", config)
    assert near_top.get("clear_speech").ci_high == 100.0
    assert near_top.get("clear_speech").ci_low == pytest.approx(290 / 3 - 4.302653 * stats.sem([100, 100, 90]),
                                                                abs=1e-4)
    # the month and the week filter too
    assert operator_grade(competency_frame(calls), "op1", "2026-09", config).get("clear_speech").mean == 10
    week = operator_grade(competency_frame(calls), "op1", "2026-W45", config)  # 2..8 Nov: days 2..7
    assert week.get("clear_speech").calls == 6


def test_not_enough_calls_means_no_level(config):
    g = operator_grade(competency_frame(_calls("op1", [95, 95, 95, 95])), "op1", "2026-11", config)
    cs = g.get("clear_speech")
    assert cs.mean == 95 and cs.level is None and not cs.enough_calls and cs.note == "not_enough_calls"
    cfg = load_config(overrides={"grading": {"min_calls": 3, "difficult_rule": {3: {"min_difficult_calls": 0},
                                                                             4: {"min_difficult_calls": 0}}}})
    assert operator_grade(competency_frame(_calls("op1", [95, 95, 95, 95])), "op1", "2026-11", cfg) \
        .get("clear_speech").level == 4


def test_levels_3_and_4_need_difficult_calls(config):
    easy_only = _calls("op1", [95] * 6)
    cs = operator_grade(competency_frame(easy_only), "op1", "2026-11", config).get("clear_speech")
    assert cs.base_level == 4 and cs.level == 2 and cs.note == "capped_by_difficult_calls"
    one_hard = _calls("op1", [95] * 6, [True] + [False] * 5)
    assert operator_grade(competency_frame(one_hard), "op1", "2026-11", config).get("clear_speech").level == 3
    two_hard = _calls("op1", [95] * 6, [True, True] + [False] * 4)
    assert operator_grade(competency_frame(two_hard), "op1", "2026-11", config).get("clear_speech").level == 4
    poor_on_hard = _calls("op1", [60, 60, 100, 100, 100, 100], [True, True] + [False] * 4)  # mean 86.7
    cs = operator_grade(competency_frame(poor_on_hard), "op1", "2026-11", config).get("clear_speech")
    assert cs.base_level == 4 and cs.difficult_mean == 60 and cs.level == 2
    relaxed = load_config(overrides={"grading": {"difficult_rule": {3: {"min_difficult_calls": 0},
                                                                    4: {"min_difficult_calls": 0}}}})
    assert operator_grade(competency_frame(easy_only), "op1", "2026-11", relaxed).get("clear_speech").level == 4


def test_grade_frame_matches_per_operator_grades_on_random_data(config):
    rng = np.random.default_rng(11)
    comps = list(config.section("competency_map").competencies)[:4]
    calls = []
    for op in ("a", "b", "c"):
        for i in range(int(rng.integers(3, 12))):
            scores = {c: (None if rng.random() < 0.2 else float(rng.uniform(20, 100))) for c in comps}
            calls.append(result(f"{op}{i}", op, f"2026-10-{1 + i:02d}T10:00:00", scores, difficult=bool(rng.random() < 0.3)))
    frame = competency_frame(calls)
    table = grade_frame(frame, config, "2026-Q4")
    for row in table.iter_rows(named=True):
        vals = [c["competencies"][comps.index(row["competency"])]["score"] for c in calls
                if c["operator_id"] == row["operator_id"]]
        vals = [v for v in vals if v is not None]
        assert row["calls"] == len(vals) and row["mean"] == pytest.approx(np.mean(vals))
        if len(vals) > 1:
            lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((max(0, lo), min(100, hi)))  # clipped to 0..100
        assert row["enough_calls"] == (len(vals) >= 5)


# ---------------------------------------------------------------- development plan


def test_development_plan_picks_the_weakest_with_actions_and_exemplary_calls(config):
    from callqa.pipeline.people.plans import development_plan

    mine = [result(f"m{i}", "op1", f"2026-11-{2 + i:02d}T10:00:00",
                   {"needs_discovery": 30 + i, "active_listening": 55.0, "clear_speech": 90.0,
                    "script_compliance": 70.0, "product_knowledge": 60.0}) for i in range(5)]
    nom = (lambda c, s, tp=False: {"competency": c, "score": s, "difficult": tp, "turned_positive": tp,
                                   "reason": "difficult_turned_positive" if tp else "high_score",
                                   "rank_key": [int(tp), int(tp), s, 0.5]})
    others = [result("x1", "op2", "2026-10-05T10:00:00", {"needs_discovery": 92.0}, nominations=[nom("needs_discovery", 92.0)]),
              result("x2", "op3", "2026-08-05T10:00:00", {"needs_discovery": 88.0}, difficult=True,
                     nominations=[nom("needs_discovery", 88.0, True)]),
              result("x3", "op1", "2026-11-20T10:00:00", {"needs_discovery": 95.0},
                     nominations=[nom("needs_discovery", 95.0)])]  # the operator's own: not an example for them
    everything = mine + others
    grade = operator_grade(competency_frame(everything), "op1", "2026-Q4", config)
    plan = development_plan(grade, everything, config)
    assert [i.competency for i in plan.items] == ["needs_discovery", "active_listening", "product_knowledge"]
    first = plan.items[0]
    assert first.actions["ru"] and first.actions["en"]
    assert first.actions["en"] == config.section("development").actions["needs_discovery"].en
    assert [e.call_id for e in first.exemplary] == ["x2", "x1"]  # difficult turned positive first
    assert first.exemplary[0].link == "/calls/x2"
    assert plan.items[1].exemplary == ()
    cfg = load_config(overrides={"development": {"weakest": 1, "below_score": 45}})  # needs discovery: 42.5
    assert [i.competency for i in development_plan(grade, everything, cfg).items] == ["needs_discovery"]
    json.dumps(plan.serialize(), ensure_ascii=False)
