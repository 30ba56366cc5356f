"""Development plan per operator: the weakest competencies of a period, the
recommended actions from `configs/development.yaml` (per language of
`configs/languages.yaml`) and
links to exemplary calls nominated for that competency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from callqa.pipeline.languages import known
from callqa.pipeline.people.grades import OperatorGrade
from callqa.pipeline.scoring.nominate import nominations_from_results


@dataclass(frozen=True)
class ExemplaryLink:
    call_id: str
    operator_id: str | None
    score: float | None
    reason: str | None
    link: str

    def serialize(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "operator_id": self.operator_id, "score": self.score,
                "reason": self.reason, "link": self.link}


@dataclass(frozen=True)
class PlanItem:
    competency: str
    mean: float | None
    level: int | None
    actions: dict[str, list[str]]  # language -> actions
    exemplary: tuple[ExemplaryLink, ...]

    def serialize(self) -> dict[str, Any]:
        return {"competency": self.competency, "mean": None if self.mean is None else round(self.mean, 2),
                "level": self.level, "actions": self.actions, "exemplary": [e.serialize() for e in self.exemplary]}


@dataclass(frozen=True)
class DevelopmentPlan:
    operator_id: str
    period: str
    items: tuple[PlanItem, ...]

    def serialize(self) -> dict[str, Any]:
        return {"operator_id": self.operator_id, "period": self.period, "items": [i.serialize() for i in self.items]}


def development_plan(grade: OperatorGrade, results: Iterable[Mapping[str, Any]], config: Any) -> DevelopmentPlan:
    """The weakest competencies (mean under `development.below_score`, lowest first,
    at most `development.weakest`) with actions and other operators' exemplary calls."""
    dev = config.section("development")
    langs = known(config)  # every language of configs/languages.yaml (English actions where one has none)
    weak = sorted((g for g in grade.competencies if g.mean is not None and g.mean < dev.below_score),
                  key=lambda g: (g.mean, g.competency))[: dev.weakest]
    results = list(results)
    items: list[PlanItem] = []
    for g in weak:
        acts = dev.actions.get(g.competency)
        actions = {code: list(acts.get(code)) if acts else [] for code in langs}
        noms = [n for n in nominations_from_results(results, g.competency) if n.get("operator_id") != grade.operator_id]
        links = tuple(ExemplaryLink(str(n["call_id"]), n.get("operator_id"), n.get("score"), n.get("reason"),
                                    dev.exemplary_link.format(call_id=n["call_id"]))
                      for n in noms[: dev.exemplary_per_competency])
        items.append(PlanItem(g.competency, g.mean, g.level, actions, links))
    return DevelopmentPlan(grade.operator_id, grade.period, tuple(items))
