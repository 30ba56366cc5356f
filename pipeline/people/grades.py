"""Operator grades for a period (week `2026-W47`, month `2026-11`, quarter `2026-Q4`).

Input is a frame of call x competency rows (`competency_frame`), built from
call result dicts: JSON files (`load_results`) or the store. Per operator and
competency: the mean score, calls and difficult calls counted, a confidence
interval of the mean, "not enough calls" under `grading.min_calls`, and a
level whose 3 and 4 must also be earned on difficult calls
(`grading.difficult_rule`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from callqa.pipeline.errors import InputError

FRAME_SCHEMA: dict[str, Any] = {
    "call_id": pl.Utf8, "operator_id": pl.Utf8, "team": pl.Utf8, "role": pl.Utf8, "language": pl.Utf8,
    "started_at": pl.Utf8, "date": pl.Date, "week": pl.Utf8, "month": pl.Utf8, "quarter": pl.Utf8,
    "difficult": pl.Boolean, "competency": pl.Utf8, "score": pl.Float64, "level": pl.Int64,
}

# ---------------------------------------------------------------- loading

def load_results(paths_or_dir: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Call result JSON files (CONTRACTS.md shape): a folder of `*.json`, one file or a list."""
    if isinstance(paths_or_dir, (str, Path)):
        paths_or_dir = [paths_or_dir]
    files: list[Path] = []
    for p in map(Path, paths_or_dir):
        if p.is_dir():
            files.extend(sorted(f for f in p.glob("*.json") if not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(p, "no such file or folder")
    out: list[dict[str, Any]] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f, f"not a readable call result JSON: {e}") from None
        if not isinstance(data, dict) or "call_id" not in data or "competencies" not in data:
            continue  # not a call result (e.g. a transcript or a report beside them)
        out.append(data)
    return out


# ---------------------------------------------------------------- periods

_PERIOD = re.compile(r"^(\d{4})-(?:W(\d{1,2})|Q([1-4])|(\d{1,2}))$")


@dataclass(frozen=True)
class Period:
    kind: str  # week | month | quarter
    key: str  # normalised: 2026-W07, 2026-11, 2026-Q4
    start: date
    end: date  # inclusive

    def __str__(self) -> str:
        return self.key


def parse_period(text: str) -> Period:
    """`2026-W47`, `2026-11` or `2026-Q4` -> Period; ValueError otherwise."""
    m = _PERIOD.match(text.strip())
    if not m:
        raise ValueError(f"period {text!r} is not a week (2026-W47), month (2026-11) or quarter (2026-Q4)")
    year = int(m.group(1))
    if m.group(2):
        week = int(m.group(2))
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"period {text!r}: {year} has no ISO week {week}") from None
        return Period("week", f"{year}-W{week:02d}", start, date.fromisocalendar(year, week, 7))
    if m.group(3):
        q = int(m.group(3))
        start = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
        return Period("quarter", f"{year}-Q{q}", start, date.fromordinal(end.toordinal() - 1))
    month = int(m.group(4))
    if not 1 <= month <= 12:
        raise ValueError(f"period {text!r}: month must be 01..12")
    end = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return Period("month", f"{year}-{month:02d}", date(year, month, 1), date.fromordinal(end.toordinal() - 1))


def parse_date(value: Any) -> date | None:
    """A date from an ISO date/datetime string, a date or a datetime; None when there is none."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def period_keys(d: date | None) -> dict[str, str | None]:
    if d is None:
        return {"week": None, "month": None, "quarter": None}
    y, w, _ = d.isocalendar()
    return {"week": f"{y}-W{w:02d}", "month": f"{d.year}-{d.month:02d}", "quarter": f"{d.year}-Q{(d.month - 1) // 3 + 1}"}


# ---------------------------------------------------------------- the frame

def competency_frame(results: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per call x competency: call_id, operator_id, team, role, language,
    started_at, date, week, month, quarter, difficult, competency, score, level."""
    rows: list[dict[str, Any]] = []
    for res in results:
        d = parse_date(res.get("started_at"))
        base = {"call_id": str(res.get("call_id")), "operator_id": res.get("operator_id"), "team": res.get("team"),
                "role": res.get("role") or "inbound", "language": res.get("language"),
                "started_at": res.get("started_at"), "date": d, **period_keys(d),
                "difficult": bool(res.get("difficult"))}
        for c in res.get("competencies") or []:
            score = c.get("score")
            rows.append({**base, "competency": c.get("id"), "score": None if score is None else float(score),
                         "level": c.get("level")})
    return pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row") if rows else pl.DataFrame(schema=FRAME_SCHEMA)


def in_period(frame: pl.DataFrame, period: Period | str) -> pl.DataFrame:
    p = parse_period(period) if isinstance(period, str) else period
    return frame.filter(pl.col(p.kind) == p.key)


# ---------------------------------------------------------------- statistics

def mean_ci(values: Sequence[float], level: float = 0.95, method: str = "t", samples: int = 2000,
            seed: int = 0) -> tuple[float | None, float | None]:
    """Confidence interval of the mean: Student t (mean ± t·s/√n) or percentile bootstrap.
    (None, None) for fewer than two values."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(x)
    if n < 2:
        return None, None
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, n, size=(samples, n))].mean(axis=1)
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)
    from scipy import stats

    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    m = float(x.mean())
    return m - half, m + half


def capped_level(base: int | None, n_difficult: int, difficult_mean: float | None, rules: Mapping[int, Any]) -> int | None:
    """Levels whose difficult-call rule is not met are out of reach: the level drops
    to the highest one the difficult calls support."""
    if base is None:
        return None
    level = base
    while level > 1 and level in rules:
        r = rules[level]
        ok = n_difficult >= r.min_difficult_calls and (
            r.min_difficult_calls == 0 or (difficult_mean is not None and difficult_mean >= r.min_difficult_mean))
        if ok:
            break
        level -= 1
    return level


@dataclass(frozen=True)
class CompetencyGrade:
    competency: str
    mean: float | None
    calls: int  # calls where the competency was scored
    difficult_calls: int  # of those, difficult
    difficult_mean: float | None
    ci_low: float | None
    ci_high: float | None
    level: int | None  # None when not enough calls
    base_level: int | None  # from the mean alone, before the difficult-call rule
    enough_calls: bool

    @property
    def note(self) -> str | None:
        if not self.enough_calls:
            return "not_enough_calls"
        if self.level is not None and self.base_level is not None and self.level < self.base_level:
            return "capped_by_difficult_calls"
        return None

    def serialize(self) -> dict[str, Any]:
        r = (lambda v: None if v is None else round(v, 2))
        return {"competency": self.competency, "mean": r(self.mean), "calls": self.calls,
                "difficult_calls": self.difficult_calls, "difficult_mean": r(self.difficult_mean),
                "ci_low": r(self.ci_low), "ci_high": r(self.ci_high), "level": self.level,
                "base_level": self.base_level, "enough_calls": self.enough_calls, "note": self.note}


def grade_frame(frame: pl.DataFrame, config: Any, period: Period | str | None = None) -> pl.DataFrame:
    """Per operator x competency (in the period, when given): mean, calls,
    difficult_calls, difficult_mean, ci_low, ci_high, base_level, level, enough_calls."""
    grading = config.section("grading")
    cmap = config.section("competency_map")
    if period is not None:
        frame = in_period(frame, period)
    scored = frame.filter(pl.col("score").is_not_null())
    agg = (scored.group_by("operator_id", "competency", maintain_order=True)
           .agg(pl.col("score").mean().alias("mean"),
                pl.len().alias("calls"),
                pl.col("difficult").sum().cast(pl.Int64).alias("difficult_calls"),
                pl.col("score").filter(pl.col("difficult")).mean().alias("difficult_mean"),
                pl.col("score").alias("scores")))
    rows = []
    for row in agg.iter_rows(named=True):
        g = _grade(row, grading, cmap)
        rows.append({"operator_id": row["operator_id"], "competency": g.competency, "mean": g.mean,
                     "calls": g.calls, "difficult_calls": g.difficult_calls, "difficult_mean": g.difficult_mean,
                     "ci_low": g.ci_low, "ci_high": g.ci_high, "level": g.level, "base_level": g.base_level,
                     "enough_calls": g.enough_calls, "note": g.note})
    schema = {"operator_id": pl.Utf8, "competency": pl.Utf8, "mean": pl.Float64, "calls": pl.Int64,
              "difficult_calls": pl.Int64, "difficult_mean": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64, "level": pl.Int64, "base_level": pl.Int64, "enough_calls": pl.Boolean,
              "note": pl.Utf8}
    if not rows:
        return pl.DataFrame(schema=schema)
    order = {c: i for i, c in enumerate(cmap.competencies)}
    return (pl.DataFrame(rows, schema=schema, orient="row")
            .with_columns(pl.col("competency").replace_strict(order, default=len(order)).alias("_o"))
            .sort("operator_id", "_o").drop("_o"))


def _grade(row: Mapping[str, Any], grading: Any, cmap: Any) -> CompetencyGrade:
    lo, hi = mean_ci(row["scores"], grading.ci.level, grading.ci.method, grading.ci.bootstrap_samples, grading.ci.seed)
    if lo is not None:  # scores live in 0..100
        lo, hi = max(0.0, lo), min(100.0, hi)
    enough = row["calls"] >= grading.min_calls
    base = cmap.level_for(row["mean"]) if enough else None
    level = capped_level(base, row["difficult_calls"], row["difficult_mean"], grading.difficult_rule)
    return CompetencyGrade(row["competency"], row["mean"], row["calls"], row["difficult_calls"], row["difficult_mean"],
                           lo, hi, level, base, enough)


@dataclass(frozen=True)
class OperatorGrade:
    operator_id: str
    period: str
    calls: int  # calls in the period
    difficult_calls: int
    competencies: tuple[CompetencyGrade, ...]
    overall: float | None  # role-weighted mean of the competency means

    def get(self, competency: str) -> CompetencyGrade | None:
        return next((c for c in self.competencies if c.competency == competency), None)

    def serialize(self) -> dict[str, Any]:
        return {"operator_id": self.operator_id, "period": self.period, "calls": self.calls,
                "difficult_calls": self.difficult_calls,
                "overall": None if self.overall is None else round(self.overall, 2),
                "competencies": [c.serialize() for c in self.competencies]}


def main_role(frame: pl.DataFrame) -> str:
    """The calls' most common role (inbound when none is known)."""
    roles = frame.get_column("role").drop_nulls().mode().sort().to_list() if frame.height else []
    return roles[0] if roles else "inbound"


def frame_overall(frame: pl.DataFrame, config: Any) -> float | None:
    """The overall score of a set of calls (an operator's period, a night's run): the one
    definition, `competency.overall_score`, over each competency's mean score in `frame`,
    weighted for the calls' most common role."""
    from callqa.pipeline.scoring.competency import overall_score

    scored = frame.filter(pl.col("score").is_not_null())
    if not scored.height:
        return None
    means = scored.group_by("competency").agg(pl.col("score").mean().alias("mean"))
    return overall_score(list(means.iter_rows()), config, main_role(frame))


def operator_grade(frame: pl.DataFrame, operator_id: str, period: Period | str, config: Any) -> OperatorGrade:
    """One operator's grade for a period (every competency of the map, scored or not)."""
    from callqa.pipeline.scoring.competency import overall_score

    p = parse_period(period) if isinstance(period, str) else period
    mine = in_period(frame, p).filter(pl.col("operator_id") == operator_id)
    table = {r["competency"]: r for r in grade_frame(mine, config).iter_rows(named=True)}
    grades: list[CompetencyGrade] = []
    for cid in config.section("competency_map").competencies:
        r = table.get(cid)
        if r is None:
            grades.append(CompetencyGrade(cid, None, 0, 0, None, None, None, None, None, False))
        else:
            grades.append(CompetencyGrade(cid, r["mean"], r["calls"], r["difficult_calls"], r["difficult_mean"],
                                          r["ci_low"], r["ci_high"], r["level"], r["base_level"], r["enough_calls"]))
    calls = mine.select("call_id", "difficult").unique()
    overall = overall_score([(g.competency, g.mean) for g in grades], config, main_role(mine))
    return OperatorGrade(operator_id, p.key, calls.height, int(calls.get_column("difficult").sum() or 0),
                         tuple(grades), overall)


def weekly_trend(frame: pl.DataFrame, operator_id: str, period: Period | str) -> pl.DataFrame:
    """Mean score per ISO week and competency for one operator in a period (for charts)."""
    p = parse_period(period) if isinstance(period, str) else period
    return (in_period(frame, p).filter((pl.col("operator_id") == operator_id) & pl.col("score").is_not_null())
            .group_by("week", "competency").agg(pl.col("score").mean().alias("mean"), pl.len().alias("calls"))
            .sort("week", "competency"))
