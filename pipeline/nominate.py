"""Exemplary-call nominations: calls with every required script stage, no flags
(other than those configured as not blocking), a client ending positive and a
high competency score are nominated for that competency. A difficult call that
turned positive ranks first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .competency import CompetencyScore
from .flags import Flag
from .indicators import Context

REASON_TURNED_POSITIVE = "difficult_turned_positive"
REASON_DIFFICULT = "difficult_handled"
REASON_HIGH_SCORE = "high_score"


@dataclass(frozen=True)
class Nomination:
    competency: str
    score: float
    difficult: bool
    turned_positive: bool
    client_end: float | None
    reason: str  # difficult_turned_positive | difficult_handled | high_score

    @property
    def rank_key(self) -> tuple[int, int, float, float]:
        """Sorts descending: difficult-turned-positive first, then difficult, score, client end."""
        return (int(self.turned_positive), int(self.difficult), round(self.score, 2),
                round(self.client_end if self.client_end is not None else -1.0, 3))

    def serialize(self) -> dict[str, Any]:
        return {"competency": self.competency, "score": round(self.score, 2), "difficult": self.difficult,
                "turned_positive": self.turned_positive, "reason": self.reason, "rank_key": list(self.rank_key)}


def blocking_problems(ctx: Context, flags: Iterable[Flag], config: Any) -> list[str]:
    """Why a call cannot be exemplary (empty when it can)."""
    rule = config.section("grading").nomination
    problems: list[str] = []
    stages = ctx.get("script.stages", []) or []
    if rule.require_script and not stages:
        problems.append("no script")
    missing = [s.get("id") for s in stages if s.get("required", True) and not s.get("found")]
    if missing:
        problems.append("missing stages: " + ", ".join(map(str, missing)))
    blocking = [f.id for f in flags if f.id not in rule.ignore_flags]
    if blocking:
        problems.append("flags: " + ", ".join(blocking))
    end = ctx.get("sentiment.client_end")
    if end is None or float(end) < rule.client_end_min:
        problems.append("client does not end positive")
    return problems


def nominate(ctx: Context, competencies: Iterable[CompetencyScore], flags: Iterable[Flag],
             config: Any) -> list[Nomination]:
    """Nominations for one call, one per competency that scored high enough."""
    flags = list(flags)
    if blocking_problems(ctx, flags, config):
        return []
    rule = config.section("grading").nomination
    start, end = ctx.get("sentiment.client_start"), ctx.get("sentiment.client_end")
    turned = bool(ctx.difficult and start is not None and end is not None
                  and float(end) - float(start) >= rule.turned_positive_delta)
    reason = REASON_TURNED_POSITIVE if turned else REASON_DIFFICULT if ctx.difficult else REASON_HIGH_SCORE
    out = [Nomination(c.id, c.score, ctx.difficult, turned, None if end is None else float(end), reason)
           for c in competencies if c.score is not None and c.score >= rule.min_score]
    return sorted(out, key=lambda n: n.rank_key, reverse=True)


def rank_key_of(row: Mapping[str, Any]) -> tuple:
    key = row.get("rank_key")
    return tuple(key) if key else (int(bool(row.get("turned_positive"))), int(bool(row.get("difficult"))),
                                   float(row.get("score") or 0.0), -1.0)


def nominations_from_results(results: Iterable[Mapping[str, Any]], competency: str | None = None) -> list[dict[str, Any]]:
    """Every nomination in call results (dicts), best first, with the call's id and operator."""
    rows: list[dict[str, Any]] = []
    for res in results:
        for n in res.get("nominations") or []:
            if competency is not None and n.get("competency") != competency:
                continue
            rows.append({**n, "call_id": res.get("call_id"), "operator_id": res.get("operator_id"),
                         "started_at": res.get("started_at"), "language": res.get("language")})
    return sorted(rows, key=lambda r: (rank_key_of(r), str(r.get("call_id"))), reverse=True)
