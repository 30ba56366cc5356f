"""Exemplary-call nominations: a call with every required script stage, no flags
(other than those configured as not blocking) and a client ending positive is
nominated ONCE, listing the competencies it shows (score >= grading.nomination.min_score),
best first. A difficult call that turned positive ranks first.

The library (pipeline/people/library.py) keeps the best few calls per competency and
scenario (`library.per_competency_scenario`, configs/library.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from callqa.pipeline.scoring.competency import CompetencyScore
from callqa.pipeline.scoring.flags import Flag
from callqa.pipeline.scoring.indicators import Context

REASON_TURNED_POSITIVE = "difficult_turned_positive"
REASON_DIFFICULT = "difficult_handled"
REASON_HIGH_SCORE = "high_score"


def _rank(turned_positive: bool, difficult: bool, score: float, client_end: float | None) -> tuple[int, int, float, float]:
    """Sorts descending: difficult-turned-positive first, then difficult, score, client end."""
    return (int(turned_positive), int(difficult), round(score, 2),
            round(client_end if client_end is not None else -1.0, 3))


@dataclass(frozen=True)
class Nomination:
    """One call's nomination: the competencies it shows, as (id, score), best first."""

    competencies: tuple[tuple[str, float], ...]
    difficult: bool
    turned_positive: bool
    client_end: float | None
    reason: str  # difficult_turned_positive | difficult_handled | high_score

    @property
    def competency(self) -> str:
        """The competency the call shows best."""
        return self.competencies[0][0]

    @property
    def score(self) -> float:
        return self.competencies[0][1]

    @property
    def rank_key(self) -> tuple[int, int, float, float]:
        return _rank(self.turned_positive, self.difficult, self.score, self.client_end)

    def rank_key_for(self, competency: str) -> tuple[int, int, float, float] | None:
        score = dict(self.competencies).get(competency)
        return None if score is None else _rank(self.turned_positive, self.difficult, score, self.client_end)

    def serialize(self) -> dict[str, Any]:
        return {"competency": self.competency, "score": round(self.score, 2),
                "competencies": [{"id": c, "score": round(v, 2)} for c, v in self.competencies],
                "difficult": self.difficult, "turned_positive": self.turned_positive,
                "client_end": None if self.client_end is None else round(self.client_end, 3),
                "reason": self.reason, "rank_key": list(self.rank_key)}


def blocking_problems(ctx: Context, flags: Iterable[Flag], config: Any) -> list[str]:
    """Why a call cannot be exemplary (empty when it can)."""
    rule = config.section("grading").nomination
    problems: list[str] = []
    stages = ctx.signals.script.stages
    if rule.require_script and not stages:
        problems.append("no script")
    missing = [s.get("id") for s in stages if s.get("required", True) and not s.get("found")]
    if missing:
        problems.append("missing stages: " + ", ".join(map(str, missing)))
    blocking = [f.id for f in flags if f.id not in rule.ignore_flags]
    if blocking:
        problems.append("flags: " + ", ".join(blocking))
    end = ctx.signals.sentiment.client_end
    if end is None or end < rule.client_end_min:
        problems.append("client does not end positive")
    return problems


def nominate(ctx: Context, competencies: Iterable[CompetencyScore], flags: Iterable[Flag],
             config: Any) -> list[Nomination]:
    """The call's nomination (a list of at most one), listing every competency that
    scored high enough, best first."""
    flags = list(flags)
    if blocking_problems(ctx, flags, config):
        return []
    rule = config.section("grading").nomination
    shown = sorted(((c.id, float(c.score)) for c in competencies if c.score is not None and c.score >= rule.min_score),
                   key=lambda cs: (-cs[1], cs[0]))
    if not shown:
        return []
    start, end = ctx.signals.sentiment.client_start, ctx.signals.sentiment.client_end
    turned = bool(ctx.difficult and start is not None and end is not None
                  and float(end) - float(start) >= rule.turned_positive_delta)
    reason = REASON_TURNED_POSITIVE if turned else REASON_DIFFICULT if ctx.difficult else REASON_HIGH_SCORE
    return [Nomination(tuple(shown), ctx.difficult, turned, None if end is None else float(end), reason)]


def shown_competencies(nomination: Mapping[str, Any]) -> dict[str, float | None]:
    """competency -> score of a serialized nomination (also the one-competency shape
    that results made before one-nomination-per-call carry)."""
    listed = nomination.get("competencies")
    if isinstance(listed, list) and listed:
        return {str(c.get("id")): c.get("score") for c in listed if isinstance(c, Mapping) and c.get("id")}
    cid = nomination.get("competency") or nomination.get("competency_id")
    return {str(cid): nomination.get("score")} if cid else {}


def rank_key_of(row: Mapping[str, Any], competency: str | None = None) -> tuple:
    """A serialized nomination's rank (for `competency`: with that competency's score)."""
    score = row.get("score")
    if competency is not None:
        score = shown_competencies(row).get(competency, score)
    end = row.get("client_end")
    if row.get("turned_positive") is not None or end is not None:
        return _rank(bool(row.get("turned_positive")), bool(row.get("difficult")), float(score or 0.0),
                     None if end is None else float(end))
    key = row.get("rank_key")
    if key and competency is None:
        return tuple(key)
    return (int(bool(row.get("turned_positive"))), int(bool(row.get("difficult"))), float(score or 0.0), -1.0)


def nominations_from_results(results: Iterable[Mapping[str, Any]], competency: str | None = None) -> list[dict[str, Any]]:
    """Nominations in call results (dicts), best first, with the call's id and operator;
    for `competency`, the calls that show it, ranked and scored by it."""
    rows: list[dict[str, Any]] = []
    for res in results:
        for n in res.get("nominations") or []:
            shown = shown_competencies(n)
            if competency is not None and competency not in shown:
                continue
            row = {**n, "call_id": res.get("call_id"), "operator_id": res.get("operator_id"),
                   "started_at": res.get("started_at"), "language": res.get("language"),
                   "scenario": n.get("scenario") or res.get("scenario")}
            if competency is not None:
                row.update(competency=competency, score=shown[competency])
            row["_rank"] = rank_key_of(n, competency)
            rows.append(row)
    rows.sort(key=lambda r: (r["_rank"], str(r.get("call_id"))), reverse=True)
    for r in rows:
        del r["_rank"]
    return rows
