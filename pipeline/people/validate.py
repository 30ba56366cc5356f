"""Is the assessment right? Two checks against reality.

- KPIs: a CSV with `operator_id, period` and KPI columns (AHT, CSAT, tNPS, FCR,
  QA score ...). Each operator's mean competency score in that period is
  correlated with each KPI: Spearman's rho with n and the p-value
  (scipy.stats.spearmanr).
- Human QA: a CSV with `call_id, competency` and `level` (1..4) and/or `score`
  (0..100). Per competency: Cohen's kappa between the human and the automatic
  level, weighted (`grading.validation.kappa_weights`, quadratic by default:
  levels are ordinal and a two-level miss costs four times a one-level miss),
  the mean absolute error (levels, and scores when the CSV has them), the share
  of exact agreement and the 4x4 confusion matrix (rows: human, columns: auto).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from callqa.pipeline.errors import InputError
from callqa.pipeline.people.grades import parse_period

LEVELS = [1, 2, 3, 4]
ALL = "all"
OVERALL = "overall"


def read_csv(path: str | Path, required: tuple[str, ...]) -> pl.DataFrame:
    """A CSV with the `required` columns (names are matched case-insensitively)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        df = pl.read_csv(path, infer_schema_length=10000, null_values=["", "NA", "null", "None"])
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"not a readable CSV: {e}") from None
    df = df.rename({c: c.strip() for c in df.columns})
    lower = {c.lower(): c for c in df.columns}
    missing = [r for r in required if r not in lower]
    if missing:
        raise InputError(path, f"missing column(s): {', '.join(missing)} (found: {', '.join(df.columns)})")
    return df.rename({lower[r]: r for r in required if lower[r] != r})


# ---------------------------------------------------------------- KPIs

def operator_period_means(frame: pl.DataFrame, periods: list[str], config: Any) -> pl.DataFrame:
    """operator_id, period, competency, mean: each operator's mean score per competency
    in each requested period (week / month / quarter keys mixed freely), plus
    `overall`: the one overall score (grades.frame_overall: role-weighted mean of the
    competency means)."""
    from callqa.pipeline.people.grades import frame_overall

    schema = {"operator_id": pl.Utf8, "period": pl.Utf8, "competency": pl.Utf8, "mean": pl.Float64}
    parts = []
    overall_rows = []
    for text in sorted(set(periods)):
        p = parse_period(text)
        in_p = frame.filter((pl.col(p.kind) == p.key) & pl.col("score").is_not_null())
        parts.append(in_p.group_by("operator_id", "competency").agg(pl.col("score").mean().alias("mean"))
                     .with_columns(pl.lit(text).alias("period")))
        for (op,), rows in in_p.group_by("operator_id"):
            overall_rows.append({"operator_id": op, "period": text, "competency": OVERALL,
                                 "mean": frame_overall(rows, config)})
    if not parts:
        return pl.DataFrame(schema=schema)
    per = pl.concat(parts).select("operator_id", "period", "competency", "mean")
    return pl.concat([per, pl.DataFrame(overall_rows, schema=schema, orient="row")])


def kpi_correlations(frame: pl.DataFrame, kpi: pl.DataFrame, config: Any) -> pl.DataFrame:
    """competency, kpi, n, rho, p_value: Spearman correlation over operator-periods."""
    from scipy import stats

    min_pairs = config.section("grading").validation.min_pairs
    kpi = kpi.with_columns(pl.col("operator_id").cast(pl.Utf8), pl.col("period").cast(pl.Utf8).str.strip_chars())
    kpi_cols = [c for c in kpi.columns if c not in ("operator_id", "period", "team")
                and kpi.schema[c].is_numeric()]
    for text in kpi.get_column("period").drop_nulls().unique().to_list():
        parse_period(text)  # fail early on a bad period
    means = operator_period_means(frame, kpi.get_column("period").drop_nulls().to_list(), config)
    present = set(means.get_column("competency").to_list())
    competencies = [c for c in list(config.section("competency_map").competencies) + [OVERALL] if c in present]
    rows = []
    for comp in competencies:
        joined = means.filter(pl.col("competency") == comp).join(kpi, on=["operator_id", "period"], how="inner")
        for col in kpi_cols:
            pair = joined.select("mean", col).drop_nulls().filter(pl.col(col).is_not_nan() & pl.col("mean").is_not_nan())
            n = pair.height
            rho = p = None
            if n >= min_pairs:
                x, y = pair.get_column("mean").to_numpy(), pair.get_column(col).to_numpy()
                if np.ptp(x) > 0 and np.ptp(y) > 0:
                    res = stats.spearmanr(x, y)
                    rho, p = float(res.statistic), float(res.pvalue)
            rows.append({"competency": comp, "kpi": col, "n": n, "rho": rho, "p_value": p})
    return pl.DataFrame(rows, schema={"competency": pl.Utf8, "kpi": pl.Utf8, "n": pl.Int64, "rho": pl.Float64,
                                      "p_value": pl.Float64}, orient="row")


# ---------------------------------------------------------------- human QA

@dataclass(frozen=True)
class Agreement:
    competency: str
    n: int
    kappa: float | None
    mae_level: float | None
    mae_score: float | None  # when the human QA gives scores
    exact: float | None  # share of identical levels
    confusion: np.ndarray  # 4x4, rows human level 1..4, columns automatic level 1..4

    def serialize(self) -> dict[str, Any]:
        return {"competency": self.competency, "n": self.n, "kappa": self.kappa, "mae_level": self.mae_level,
                "mae_score": self.mae_score, "exact": self.exact, "confusion": self.confusion.tolist()}


def weighted_kappa(human: list[int], auto: list[int], weights: str = "quadratic") -> float | None:
    """Cohen's kappa with linear or quadratic weights over levels 1..4; None when undefined
    (no pairs, or both raters always gave one and the same level)."""
    from sklearn.metrics import cohen_kappa_score

    if not human:
        return None
    if len(set(human) | set(auto)) < 2:
        return None
    k = float(cohen_kappa_score(human, auto, weights=weights, labels=LEVELS))
    return None if math.isnan(k) else k


def qa_pairs(frame: pl.DataFrame, qa: pl.DataFrame, config: Any) -> pl.DataFrame:
    """call_id, competency, human_level, auto_level, human_score, auto_score for rows
    both sides scored. A human score without a level gets the map's level for it."""
    cmap = config.section("competency_map")
    qa = qa.with_columns(pl.col("call_id").cast(pl.Utf8), pl.col("competency").cast(pl.Utf8))
    has_level, has_score = "level" in qa.columns, "score" in qa.columns
    if not (has_level or has_score):
        raise ValueError("the human QA CSV needs a 'level' or a 'score' column")
    human_score = pl.col("score").cast(pl.Float64) if has_score else pl.lit(None, dtype=pl.Float64)
    qa = qa.select("call_id", "competency", human_score.alias("human_score"),
                   (pl.col("level").cast(pl.Int64) if has_level else pl.lit(None, dtype=pl.Int64)).alias("human_level"))
    thresholds = [lv.min_score for lv in cmap.levels]
    level_of_score = (pl.when(pl.col("human_score").is_null()).then(None)
                      .otherwise(1 + sum((pl.col("human_score") >= t).cast(pl.Int64) for t in thresholds[1:])))
    qa = qa.with_columns(pl.coalesce("human_level", level_of_score).alias("human_level"))
    auto = frame.select("call_id", "competency", pl.col("score").alias("auto_score"),
                        pl.col("level").alias("auto_level")).unique(["call_id", "competency"], keep="first")
    return (qa.join(auto, on=["call_id", "competency"], how="inner")
            .filter(pl.col("human_level").is_not_null() & pl.col("auto_level").is_not_null()))


def qa_agreement(frame: pl.DataFrame, qa: pl.DataFrame, config: Any) -> list[Agreement]:
    """Per competency (map order, those with pairs) and `all` pooled."""
    from sklearn.metrics import confusion_matrix

    weights = config.section("grading").validation.kappa_weights
    pairs = qa_pairs(frame, qa, config)
    bad = pairs.filter(~pl.col("human_level").is_in(LEVELS))
    if bad.height:
        raise ValueError(f"human level must be 1..4, got {bad.get_column('human_level').to_list()[:5]}")
    out: list[Agreement] = []
    comps = [c for c in config.section("competency_map").competencies
             if c in set(pairs.get_column("competency").to_list())]
    for comp in comps + [ALL]:
        sub = pairs if comp == ALL else pairs.filter(pl.col("competency") == comp)
        h = sub.get_column("human_level").to_list()
        a = sub.get_column("auto_level").to_list()
        n = len(h)
        scores = sub.select("human_score", "auto_score").drop_nulls()
        out.append(Agreement(
            competency=comp, n=n, kappa=weighted_kappa(h, a, weights),
            mae_level=float(np.mean(np.abs(np.subtract(h, a)))) if n else None,
            mae_score=float((scores["human_score"] - scores["auto_score"]).abs().mean()) if scores.height else None,
            exact=float(np.mean(np.equal(h, a))) if n else None,
            confusion=confusion_matrix(h, a, labels=LEVELS) if n else np.zeros((4, 4), dtype=int),
        ))
    return out


def agreement_frame(agreements: list[Agreement]) -> pl.DataFrame:
    return pl.DataFrame([{k: v for k, v in a.serialize().items() if k != "confusion"} for a in agreements],
                        schema={"competency": pl.Utf8, "n": pl.Int64, "kappa": pl.Float64, "mae_level": pl.Float64,
                                "mae_score": pl.Float64, "exact": pl.Float64}, orient="row")


def confusion_frame(agreements: list[Agreement]) -> pl.DataFrame:
    """Long form: competency, human_level, auto_level, count."""
    rows = [{"competency": a.competency, "human_level": h, "auto_level": c, "count": int(a.confusion[h - 1, c - 1])}
            for a in agreements for h in LEVELS for c in LEVELS]
    return pl.DataFrame(rows, schema={"competency": pl.Utf8, "human_level": pl.Int64, "auto_level": pl.Int64,
                                      "count": pl.Int64}, orient="row")
