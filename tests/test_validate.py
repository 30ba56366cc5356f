"""Validation against reality: Spearman correlation with KPIs, agreement with
human QA (weighted Cohen's kappa, MAE, confusion matrix), and `callqa validate`."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from test_grades import result

from callqa.pipeline.people.grades import competency_frame
from callqa.pipeline.people.validate import kpi_correlations, qa_agreement, weighted_kappa

COMPS = ("needs_discovery", "clear_speech", "stress_resistance")


def test_weighted_kappa_by_hand_and_against_sklearn():
    # quadratic: observed disagreement 1/4 x 1^2, expected 3 -> 1 - 0.25 / 3
    assert weighted_kappa([1, 2, 3, 4], [1, 2, 4, 4], "quadratic") == pytest.approx(1 - 0.25 / 3)
    # linear: observed 1/4 x 1, expected sum |i - j| p_i q_j = 1.375 -> 1 - 0.25 / 1.375
    assert weighted_kappa([1, 2, 3, 4], [1, 2, 4, 4], "linear") == pytest.approx(1 - 0.25 / 1.375)
    rng = np.random.default_rng(5)
    for _ in range(5):
        h = rng.integers(1, 5, size=40)
        a = np.clip(h + rng.integers(-1, 2, size=40), 1, 4)
        for w in ("quadratic", "linear"):
            assert weighted_kappa(list(h), list(a), w) == pytest.approx(
                cohen_kappa_score(h, a, weights=w, labels=[1, 2, 3, 4]))
    assert weighted_kappa([3, 3, 3], [3, 3, 3]) is None  # undefined: one category only
    assert weighted_kappa([], []) is None


def _dataset(config, seed: int = 1, operators: int = 9, calls: int = 6):
    """Results for several operators over 2026-Q4 with random competency scores."""
    rng = np.random.default_rng(seed)
    results = []
    for o in range(operators):
        skill = rng.uniform(30, 95)
        for i in range(calls):
            scores = {c: float(np.clip(skill + rng.normal(0, 10), 0, 100)) for c in COMPS}
            scores["stress_resistance"] = scores["stress_resistance"] if i % 2 else None
            month = 10 + i % 3
            results.append(result(f"op{o}-{i}", f"op{o}", f"2026-{month}-{3 + i:02d}T12:00:00", scores,
                                  difficult=bool(i % 2)))
    return results


def _means(results, competency):
    out = {}
    for r in results:
        for c in r["competencies"]:
            if c["id"] == competency and c["score"] is not None:
                out.setdefault(r["operator_id"], []).append(c["score"])
    return {op: float(np.mean(v)) for op, v in out.items()}


def test_spearman_by_hand(config):
    results = [result(f"c{i}", f"op{i}", "2026-11-10T10:00:00", {"clear_speech": float(10 * (i + 1))})
               for i in range(4)]
    kpi = pl.DataFrame({"operator_id": ["op0", "op1", "op2", "op3"], "period": ["2026-Q4"] * 4,
                        "CSAT": [10.0, 20.0, 40.0, 30.0]})
    out = kpi_correlations(competency_frame(results), kpi, config)
    row = out.filter((pl.col("competency") == "clear_speech") & (pl.col("kpi") == "CSAT")).row(0, named=True)
    assert row["n"] == 4 and row["rho"] == pytest.approx(0.8)  # 1 - 6 x 2 / (4 x 15)


def test_spearman_matches_scipy_on_random_data(config):
    results = _dataset(config)
    rng = np.random.default_rng(2)
    ops = [f"op{o}" for o in range(9)]
    nd = _means(results, "needs_discovery")
    kpi = pl.DataFrame({"operator_id": ops, "period": ["2026-Q4"] * 9,
                        "CSAT": [nd[o] / 20 + rng.normal(0, 0.5) for o in ops],
                        "AHT": list(rng.uniform(200, 600, size=9)),
                        "FCR": [None] + list(rng.uniform(0.5, 0.9, size=8))})
    out = kpi_correlations(competency_frame(results), kpi, config)
    for comp in COMPS:
        means = _means(results, comp)
        for col in ("CSAT", "AHT", "FCR"):
            pairs = [(means[o], v) for o, v in zip(ops, kpi[col].to_list()) if v is not None and o in means]
            ref = stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
            row = out.filter((pl.col("competency") == comp) & (pl.col("kpi") == col)).row(0, named=True)
            assert row["n"] == len(pairs)
            assert row["rho"] == pytest.approx(ref.statistic) and row["p_value"] == pytest.approx(ref.pvalue)
    overall = out.filter((pl.col("competency") == "overall") & (pl.col("kpi") == "CSAT")).row(0, named=True)
    assert overall["n"] == 9 and overall["rho"] > 0.5


def test_kpi_periods_are_matched_per_row(config):
    results = _dataset(config, operators=4)
    kpi = pl.DataFrame({"operator_id": ["op0", "op1", "op2", "op3"] * 2,
                        "period": ["2026-10"] * 4 + ["2026-11"] * 4, "CSAT": [1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0]})
    out = kpi_correlations(competency_frame(results), kpi, config)
    frame = competency_frame(results).filter(pl.col("competency") == "clear_speech")
    x = [frame.filter((pl.col("operator_id") == op) & (pl.col("month") == m))["score"].mean()
         for m in ("2026-10", "2026-11") for op in ("op0", "op1", "op2", "op3")]
    ref = stats.spearmanr(x, kpi["CSAT"].to_list())
    row = out.filter((pl.col("competency") == "clear_speech")).row(0, named=True)
    assert row["n"] == 8 and row["rho"] == pytest.approx(ref.statistic)


def test_qa_agreement_by_hand(config):
    results = [result(f"c{i}", "op1", "2026-11-10T10:00:00", {"clear_speech": s})
               for i, s in enumerate([30.0, 60.0, 75.0, 90.0])]  # automatic levels 1, 2, 3, 4
    qa = pl.DataFrame({"call_id": ["c0", "c1", "c2", "c3", "zz"], "competency": ["clear_speech"] * 5,
                       "level": [1, 2, 4, 4, 2], "score": [25.0, 65.0, 90.0, 80.0, 50.0]})
    (a, pooled) = qa_agreement(competency_frame(results), qa, config)
    assert a.competency == "clear_speech" and pooled.competency == "all"
    assert a.n == 4  # the unknown call is left out
    assert a.kappa == pytest.approx(weighted_kappa([1, 2, 4, 4], [1, 2, 3, 4]))
    assert a.mae_level == pytest.approx(0.25) and a.exact == pytest.approx(0.75)
    assert a.mae_score == pytest.approx((5 + 5 + 15 + 10) / 4)
    assert a.confusion.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]


def test_qa_scores_without_levels_use_the_map_thresholds(config):
    results = [result(f"c{i}", "op1", "2026-11-10T10:00:00", {"clear_speech": s})
               for i, s in enumerate([30.0, 60.0, 75.0, 90.0])]
    qa = pl.DataFrame({"call_id": ["c0", "c1", "c2", "c3"], "competency": ["clear_speech"] * 4,
                       "score": [49.0, 50.0, 84.9, 85.0]})  # levels 1, 2, 3, 4
    a = qa_agreement(competency_frame(results), qa, config)[0]
    assert a.exact == 1.0 and a.mae_level == 0.0 and a.kappa == pytest.approx(1.0)


def _write_inputs(tmp_path, config):
    results = _dataset(config, seed=4)
    res_dir = tmp_path / "results"
    res_dir.mkdir()
    for r in results:
        (res_dir / f"{r['call_id']}.json").write_text(json.dumps(r), encoding="utf-8")
    rng = np.random.default_rng(9)
    ops = sorted({r["operator_id"] for r in results})
    kpi = pl.DataFrame({"operator_id": ops, "period": ["2026-Q4"] * len(ops),
                        "AHT": rng.uniform(200, 500, len(ops)), "CSAT": rng.uniform(3, 5, len(ops)),
                        "tNPS": rng.integers(-50, 80, len(ops)), "FCR": rng.uniform(0.5, 0.95, len(ops)),
                        "QA score": rng.uniform(60, 100, len(ops))})
    kpi.write_csv(tmp_path / "kpi.csv")
    rows = []
    for r in results:
        for c in r["competencies"]:
            if c["score"] is not None and rng.random() < 0.7:
                rows.append({"call_id": r["call_id"], "competency": c["id"],
                             "level": int(np.clip(c["level"] + rng.integers(-1, 2), 1, 4))})
    pl.DataFrame(rows).write_csv(tmp_path / "qa.csv")
    return results, kpi, pl.DataFrame(rows)


def test_callqa_validate_figures_match_scipy_and_sklearn(tmp_path, config, capsys):
    from callqa.cli import main

    results, kpi, qa = _write_inputs(tmp_path, config)
    out = tmp_path / "out"
    code = main(["validate", "--results", str(tmp_path / "results"), "--kpi", str(tmp_path / "kpi.csv"),
                 "--qa", str(tmp_path / "qa.csv"), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "kappa" in printed and "needs_discovery" in printed
    corr = pl.read_csv(out / "kpi_correlations.csv")
    ops = kpi["operator_id"].to_list()
    for comp in COMPS:
        means = _means(results, comp)
        for col in ("AHT", "CSAT", "tNPS", "FCR", "QA score"):
            ref = stats.spearmanr([means[o] for o in ops], kpi[col].to_list())
            row = corr.filter((pl.col("competency") == comp) & (pl.col("kpi") == col)).row(0, named=True)
            assert row["n"] == len(ops)
            assert row["rho"] == pytest.approx(ref.statistic, abs=1e-9)
            assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    agree = pl.read_csv(out / "qa_agreement.csv")
    confusion = pl.read_csv(out / "qa_confusion.csv")
    auto = {(r["call_id"], c["id"]): c["level"] for r in results for c in r["competencies"]}
    for comp in COMPS + ("all",):
        sub = qa if comp == "all" else qa.filter(pl.col("competency") == comp)
        h = sub["level"].to_list()
        a = [auto[(cid, c)] for cid, c in zip(sub["call_id"], sub["competency"])]
        row = agree.filter(pl.col("competency") == comp).row(0, named=True)
        assert row["n"] == len(h)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(h, a, weights="quadratic", labels=[1, 2, 3, 4]))
        assert row["mae_level"] == pytest.approx(np.mean(np.abs(np.subtract(h, a))))
        cm = confusion_matrix(h, a, labels=[1, 2, 3, 4])
        mine = confusion.filter(pl.col("competency") == comp).sort("human_level", "auto_level")["count"].to_list()
        assert mine == cm.flatten().tolist()
    html = (out / "validation.html").read_text(encoding="utf-8")
    assert "<table" in html and "Spearman" in html and "quadratic" in html


def test_callqa_validate_reports_bad_inputs(tmp_path, config, capsys):
    from callqa.cli import main

    _write_inputs(tmp_path, config)
    (tmp_path / "bad.csv").write_text("operator,when\nop1,2026-Q4\n", encoding="utf-8")
    code = main(["validate", "--results", str(tmp_path / "results"), "--kpi", str(tmp_path / "bad.csv")])
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "operator_id" in err
    (tmp_path / "badperiod.csv").write_text("operator_id,period,CSAT\nop1,Q4,4.5\n", encoding="utf-8")
    assert main(["validate", "--results", str(tmp_path / "results"), "--kpi", str(tmp_path / "badperiod.csv")]) == 1
    assert "badperiod.csv" in capsys.readouterr().err
    assert main(["validate", "--results", str(tmp_path / "results")]) == 2
