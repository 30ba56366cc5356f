"""Competency scores per call: the weighted mean of the applicable indicators
x 100, a level from the competency map's thresholds, and the indicator ids used.

Weights come from `configs/competency_map.yaml`; a role (`configs/roles.yaml`)
may adjust single indicator weights (the others keep the map's weight), and weights a competency 0 when
it is not assessed for that role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .indicators import IndicatorScore

DEFAULT_ROLE = "inbound"


@dataclass(frozen=True)
class CompetencyScore:
    id: str
    score: float | None  # 0..100
    level: int | None  # 1..4
    indicators: tuple[str, ...]  # ids of the indicators that applied and were used
    block: str | None = None
    reason: str | None = None  # why score is null (CONTRACTS.md)

    def serialize(self) -> dict[str, Any]:
        d = {"id": self.id, "score": None if self.score is None else round(self.score, 2),
             "level": self.level, "indicators": list(self.indicators), "block": self.block}
        if self.reason:
            d["reason"] = self.reason
        return d


NOT_OBSERVABLE = "not observable in this call"


def indicator_weights(config: Any, role: str) -> dict[str, dict[str, float]]:
    """competency -> {indicator -> weight} for a role: the map's weights, with the role's
    per-indicator overrides applied on top."""
    cmap = config.section("competency_map")
    rdef = config.section("roles").get(role if role in config.section("roles").root else DEFAULT_ROLE)
    out: dict[str, dict[str, float]] = {}
    for cid, comp in cmap.competencies.items():
        if rdef.competencies.get(cid, 1.0) <= 0:
            continue  # not assessed for this role
        # the role adjusts the map's weights per indicator; one it does not name keeps its map weight
        out[cid] = {**comp.indicators, **rdef.indicators.get(cid, {})}
    return out


def competency_weights(config: Any, role: str) -> dict[str, float]:
    """competency -> weight in a role's overall score (default 1; 0 = not assessed)."""
    cmap = config.section("competency_map")
    rdef = config.section("roles").get(role if role in config.section("roles").root else DEFAULT_ROLE)
    return {cid: rdef.competencies.get(cid, 1.0) for cid in cmap.competencies}


def weighted_score(indicators: Mapping[str, IndicatorScore], weights: Mapping[str, float]) -> tuple[float | None, tuple[str, ...]]:
    """100 x the weighted mean of applicable indicators; None when none applies."""
    used = [(iid, w) for iid, w in weights.items()
            if w > 0 and iid in indicators and indicators[iid].score is not None]
    total = sum(w for _, w in used)
    if not used or total <= 0:
        return None, ()
    return 100.0 * sum(indicators[iid].score * w for iid, w in used) / total, tuple(iid for iid, _ in used)


def score_competencies(indicators: Iterable[IndicatorScore], config: Any, role: str | None) -> list[CompetencyScore]:
    """One CompetencyScore per competency assessed for the role, in map order."""
    cmap = config.section("competency_map")
    by_id = {i.id: i for i in indicators}
    out: list[CompetencyScore] = []
    for cid, weights in indicator_weights(config, role or DEFAULT_ROLE).items():
        score, used = weighted_score(by_id, weights)
        if not any(by_id[iid].evidence and not by_id[iid].absence for iid in used):
            # a score is never made from absences or bare measurements alone
            out.append(CompetencyScore(cid, None, None, used, cmap.competencies[cid].block, NOT_OBSERVABLE))
            continue
        out.append(CompetencyScore(cid, score, cmap.level_for(score), used, cmap.competencies[cid].block))
    return out


def overall_score(competencies: Iterable[CompetencyScore], config: Any, role: str | None) -> float | None:
    """The role-weighted mean of a call's competency scores (None when none applies)."""
    weights = competency_weights(config, role or DEFAULT_ROLE)
    pairs = [(c.score, weights.get(c.id, 0.0)) for c in competencies if c.score is not None]
    total = sum(w for _, w in pairs)
    return None if total <= 0 else sum(s * w for s, w in pairs) / total
