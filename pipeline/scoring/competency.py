"""Competency scores per call: the weighted mean of the applicable indicators
x 100, a level from the competency map's thresholds, and the indicator ids used.

Weights come from `configs/competency_map.yaml`; a role (`configs/roles.yaml`)
may adjust single indicator weights (the others keep the map's weight), and weights a competency 0 when
it is not assessed for that role.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from callqa.pipeline.scoring.indicators import IndicatorScore

DEFAULT_ROLE = "inbound"


@dataclass(frozen=True)
class CompetencyScore:
    id: str
    score: float | None  # 0..100
    level: int | None  # 1..4
    indicators: tuple[str, ...]  # ids of the indicators that applied and were used
    block: str | None = None
    reason: str | None = None  # why score is null (CONTRACTS.md)
    # indicator -> faults not counted again in this competency (a heavier indicator counted them)
    counted_once: tuple[tuple[str, int], ...] = ()

    def serialize(self) -> dict[str, Any]:
        d = {"id": self.id, "score": None if self.score is None else round(self.score, 2),
             "level": self.level, "indicators": list(self.indicators), "block": self.block}
        if self.reason:
            d["reason"] = self.reason
        if self.counted_once:
            d["counted_once"] = dict(self.counted_once)
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


# implementations whose value is the number of fault items they carry as evidence, and the signal
# lists those items come from (None: the indicator's `source`)
FAULT_COUNTS: dict[str, tuple[str, ...] | None] = {
    "count": None, "said_under_pressure": None, "bare_dont_know": ("forbidden_phrases",),
    "operator_interruptions": ("interruptions.items",), "interruptions_under_pressure": ("interruptions.items",),
    "raised_voice_under_pressure": ("loudness.raised_voice",)}


def _fault_sources(iid: str, spec: Any) -> tuple[str, ...]:
    """The signal lists a lower-is-better count indicator counts items of; () for any other indicator."""
    s, impl = spec.scale, spec.compute or iid
    if impl not in FAULT_COUNTS or s.type != "linear" or s.zero is None or s.full is None or s.full >= s.zero:
        return ()
    src = FAULT_COUNTS[impl]
    if src is None:
        src = (spec.source,) if isinstance(spec.source, str) else tuple(spec.source or ())
    return src


def count_once(by_id: Mapping[str, IndicatorScore], weights: Mapping[str, float], config: Any,
               language: str = "") -> tuple[dict[str, IndicatorScore], dict[str, int]]:
    """One behaviour counts once per competency: a fault (a bare "не знаю", a forbidden phrase, an
    interruption) that a heavier indicator of the same competency already counted from the same signal
    list (ties: map order) is taken out of a lighter one's count, whose score is rescaled. Returns the
    indicators as this competency sees them and, per indicator, how many faults it no longer counts."""
    specs = config.section("indicators").items
    out, dropped, seen = dict(by_id), {}, set()
    for iid in sorted((i for i, w in weights.items() if w > 0), key=lambda i: -weights[i]):
        ind, spec = by_id.get(iid), specs.get(iid)
        if ind is None or spec is None or ind.score is None or ind.value is None or ind.absence:
            continue
        sources = _fault_sources(iid, spec)
        if not sources:
            continue
        keys = [(e.speaker, round(e.start, 2), round(e.end, 2), e.quote) for e in ind.evidence]
        dup = sum(1 for k in keys if any((src, k) in seen for src in sources))
        seen.update((src, k) for src in sources for k in keys)
        if dup:
            value = max(0.0, float(ind.value) - dup)
            out[iid] = replace(ind, value=value, score=spec.scale.score(value, language))
            dropped[iid] = dup
    return out, dropped


def score_competencies(indicators: Iterable[IndicatorScore], config: Any, role: str | None,
                       language: str = "") -> list[CompetencyScore]:
    """One CompetencyScore per competency assessed for the role, in map order."""
    cmap = config.section("competency_map")
    all_ids = {i.id: i for i in indicators}
    out: list[CompetencyScore] = []
    for cid, weights in indicator_weights(config, role or DEFAULT_ROLE).items():
        by_id, dropped = count_once(all_ids, weights, config, language)
        score, used = weighted_score(by_id, weights)
        if not any(by_id[iid].evidence and not by_id[iid].absence for iid in used):
            # a score is never made from absences or bare measurements alone
            out.append(CompetencyScore(cid, None, None, used, cmap.competencies[cid].block, NOT_OBSERVABLE))
            continue
        out.append(CompetencyScore(cid, score, cmap.level_for(score), used, cmap.competencies[cid].block,
                                   counted_once=tuple(sorted(dropped.items()))))
    return out


def overall_score(competencies: Iterable[Any], config: Any, role: str | None) -> float | None:
    """THE overall score (one definition, used by scoring, grades, validation and the
    nightly report): the role-weighted mean of the competency scores that are not null.

    `competencies` are CompetencyScore objects, dicts with `id`/`score` (a call result's
    competencies) or `(id, score)` pairs (e.g. an operator's per-competency period means).
    None when no competency with a positive role weight has a score."""
    weights = competency_weights(config, role or DEFAULT_ROLE)
    pairs = []
    for c in competencies:
        if isinstance(c, CompetencyScore):
            cid, score = c.id, c.score
        elif isinstance(c, Mapping):
            cid, score = c.get("id", c.get("competency")), c.get("score", c.get("mean"))
        else:
            cid, score = c
        if score is not None and weights.get(cid, 0.0) > 0:
            pairs.append((float(score), weights[cid]))
    total = sum(w for _, w in pairs)
    return None if total <= 0 else sum(s * w for s, w in pairs) / total


def level_band(level: int, config: Any) -> tuple[float, float]:
    """The score range [low, high) of a level in the competency map (high = 100 for the top)."""
    levels = sorted(config.section("competency_map").levels, key=lambda lv: lv.min_score)
    for i, lv in enumerate(levels):
        if lv.level == level:
            return float(lv.min_score), float(levels[i + 1].min_score) if i + 1 < len(levels) else 100.0
    raise ValueError(f"no level {level!r} in the competency map")


def overridden(score: float | None, level: int | None, override: Mapping[str, Any],
               config: Any) -> tuple[float | None, int | None]:
    """(score, level) after a person's override, consistent with the map's thresholds:
    a score override recomputes the level from the thresholds; a level-only override
    keeps the automatic score when it already earns that level, and otherwise counts
    as the middle of that level's score band (so it moves period grades)."""
    cmap = config.section("competency_map")
    if override.get("score") is not None:
        new_score = float(override["score"])
        return new_score, cmap.level_for(new_score)
    new_level = override.get("level")
    if new_level is None:
        return score, level
    if score is not None and cmap.level_for(score) == new_level:
        return score, int(new_level)
    low, high = level_band(int(new_level), config)
    return round((low + high) / 2.0, 2), int(new_level)


def apply_override(comp: dict[str, Any], override: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """Apply a score override to one competency dict of a call result, in place: score and
    level as `overridden` gives them, the automatic ones kept under `override.original`."""
    original = {"score": comp.get("score"), "level": comp.get("level")}
    comp["score"], comp["level"] = overridden(original["score"], original["level"], override, config)
    comp["override"] = {**{k: override[k] for k in ("by", "at", "analysis_id") if k in override},
                        "original": original}
    return comp
