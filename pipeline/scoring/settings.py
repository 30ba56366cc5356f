"""Configuration schemas of the scoring layer (see config.SECTION_MODULES):
the competency map, per-role weights, indicator normalisation, flag rules,
period grading / nomination / validation rules and development actions.

Each section is validated on its own when the configuration loads;
`check_scoring_config` then checks the references between sections (a
competency naming an indicator that `indicators.yaml` does not define, a role
weighting an unknown competency ...) and names the file and key at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

from callqa.pipeline.errors import ConfigError
from callqa.pipeline.severity import Severity
from callqa.pipeline.signals.view import check_signal_name
from callqa.pipeline.types import ROLES

if TYPE_CHECKING:  # pragma: no cover
    from callqa.pipeline.config import Config

LEVELS = (1, 2, 3, 4)
# Where the evidence of an *absent* behaviour points: the moment it was expected.
EXPECTED_AT = ("first_operator_turn", "last_operator_turn", "longest_client_turn", "last_client_turn",
               "pressure_moment", "call", "checked", "checked_client")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _language_keys(extra: dict[str, Any] | None) -> None:
    import re

    from callqa.pipeline.settings import LANGUAGE_CODE

    bad = [k for k in (extra or {}) if not re.fullmatch(LANGUAGE_CODE, k)]
    if bad:
        raise ValueError(f"unknown keys {bad}: a label is given per language code (ru, en, ...)")


class Text(BaseModel):
    """A label per language: ru and en always (the product's languages), any language of
    configs/languages.yaml beside them (`xx: ...`); a language without its own shows the English one."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, str]

    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="after")
    def _codes(self) -> "Text":
        _language_keys(self.__pydantic_extra__)
        return self

    def get(self, lang: str) -> str:
        if lang == "ru":
            return self.ru
        return (self.__pydantic_extra__ or {}).get(lang) or self.en


# ---------------------------------------------------------------- competency_map.yaml

class LevelDef(_Strict):
    level: int = Field(ge=1, le=4)
    min_score: float = Field(ge=0.0, le=100.0)  # a call's competency score >= this earns the level
    name: Text
    description: Text


class BlockDef(_Strict):
    name: Text


class CompetencyDef(_Strict):
    block: str
    name: Text
    description: Text
    indicators: dict[str, float] = Field(min_length=1)  # indicator id -> weight

    @field_validator("indicators")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if w < 0:
                raise ValueError(f"weight of indicator {k!r} must not be negative, got {w}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one indicator needs a positive weight")
        return v


class CompetencyMap(_Strict):
    levels: list[LevelDef]
    blocks: dict[str, BlockDef] = Field(min_length=1)
    competencies: dict[str, CompetencyDef] = Field(min_length=1)

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[LevelDef]) -> list[LevelDef]:
        if [lv.level for lv in v] != list(LEVELS):
            raise ValueError("must list levels 1, 2, 3, 4 in that order")
        mins = [lv.min_score for lv in v]
        if mins[0] != 0:
            raise ValueError("level 1 must start at min_score 0")
        if any(b <= a for a, b in zip(mins, mins[1:])):
            raise ValueError(f"min_score must increase from level to level, got {mins}")
        return v

    @model_validator(mode="after")
    def _blocks(self) -> "CompetencyMap":
        for cid, comp in self.competencies.items():
            if comp.block not in self.blocks:
                raise ValueError(f"competency {cid!r}: unknown block {comp.block!r} "
                                 f"(blocks: {', '.join(self.blocks)})")
        return self

    def level_for(self, score: float | None) -> int | None:
        """The level a 0..100 score earns by the thresholds alone."""
        if score is None:
            return None
        level = 1
        for lv in self.levels:
            if score >= lv.min_score - 1e-9:
                level = lv.level
        return level

    def level_name(self, level: int | None, lang: str) -> str:
        if level is None:
            return ""
        return self.levels[level - 1].name.get(lang)


# ---------------------------------------------------------------- roles.yaml

class RoleDef(_Strict):
    name: Text
    # competency -> weight in the role's overall score; 0 = not assessed for this role
    competencies: dict[str, float] = Field(default_factory=dict)
    # competency -> {indicator -> weight}: replaces the map's weights for this role
    indicators: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("competencies")
    @classmethod
    def _cw(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if w < 0:
                raise ValueError(f"weight of {k!r} must not be negative, got {w}")
        return v

    @field_validator("indicators")
    @classmethod
    def _iw(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for comp, ws in v.items():
            for k, w in ws.items():
                if w < 0:
                    raise ValueError(f"{comp}.{k}: weight must not be negative, got {w}")
        return v


class RolesConfig(RootModel[dict[str, RoleDef]]):
    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _all_roles(self) -> "RolesConfig":
        missing = [r for r in ROLES if r not in self.root]
        if missing:
            raise ValueError(f"every role needs weights; missing: {', '.join(missing)}")
        return self

    def get(self, role: str) -> RoleDef:
        return self.root[role]


# ---------------------------------------------------------------- indicators.yaml

class ScaleOverride(_Strict):
    zero: float | None = None
    full: float | None = None
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None


class Scale(_Strict):
    """Normalisation of an indicator's value to a 0..1 score.

    linear: score 0 at `zero`, 1 at `full`, straight line between, clipped
            (full > zero: higher is better; full < zero: lower is better).
    band:   1 inside [low, high], falling linearly to 0 at `tolerance` outside.
    """

    type: Literal["linear", "band"]
    zero: float | None = None
    full: float | None = None
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None
    by_language: dict[str, ScaleOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Scale":
        for lang, over in [("", ScaleOverride())] + list(self.by_language.items()):
            s = self.for_language(lang)
            where = f" (by_language.{lang})" if lang else ""
            if s.type == "linear":
                if s.zero is None or s.full is None:
                    raise ValueError(f"linear scale needs 'zero' and 'full'{where}")
                if s.zero == s.full:
                    raise ValueError(f"'zero' and 'full' must differ{where}")
            else:
                if s.low is None or s.high is None or s.tolerance is None:
                    raise ValueError(f"band scale needs 'low', 'high' and 'tolerance'{where}")
                if s.low > s.high:
                    raise ValueError(f"band 'low' ({s.low}) is above 'high' ({s.high}){where}")
                if s.tolerance <= 0:
                    raise ValueError(f"band 'tolerance' must be positive{where}")
        return self

    def for_language(self, lang: str) -> "Scale":
        over = self.by_language.get(lang)
        if over is None:
            return self
        vals = {k: v for k, v in over.model_dump().items() if v is not None}
        return self.model_copy(update=vals)

    def score(self, value: float, lang: str = "") -> float:
        s = self.for_language(lang)
        if s.type == "linear":
            x = (value - s.zero) / (s.full - s.zero)
        else:
            if s.low <= value <= s.high:
                return 1.0
            dist = (s.low - value) if value < s.low else (value - s.high)
            x = 1.0 - dist / s.tolerance
        return float(min(1.0, max(0.0, x)))


class IndicatorSpec(_Strict):
    compute: str | None = None  # registered implementation; default: the indicator's own id
    # named signals (pipeline/signals/view.py NUMBERS / LISTS: their path in the serialized section)
    source: str | list[str] | None = None  # the signal(s) the implementation reads
    source_by_language: dict[str, str] = Field(default_factory=dict)  # e.g. {ru: syllables_per_s.operator}
    evidence_from: str | None = None  # a list of evidence items in the signals
    scale: Scale
    applies: list[str] = Field(default_factory=list)  # registered conditions; all must hold
    numeric: bool = False  # a measurement: its evidence may be empty (CONTRACTS.md)
    expected_at: Literal[EXPECTED_AT] | None = None  # evidence when the behaviour is absent  # type: ignore[valid-type]
    max_evidence: int = Field(5, ge=1)
    params: dict[str, float] = Field(default_factory=dict)
    match: list[str] = Field(default_factory=list)  # item ids / lower-case phrases an implementation filters on
    name: Text | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, v: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
        from callqa.pipeline.scoring.indicators import READS

        kind = READS.get(info.data.get("compute") or "")  # what the implementation reads, when it says
        names = [v] if isinstance(v, str) else v or []
        if kind == "number" and len(names) > 1:
            raise ValueError(f"'compute: {info.data.get('compute')}' reads one number signal, got {len(names)}")
        for name in names:
            check_signal_name(name, kind)
        return v

    @field_validator("source_by_language")
    @classmethod
    def _source_by_language(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v.values():
            check_signal_name(name, "number")
        return v

    @field_validator("evidence_from")
    @classmethod
    def _evidence_from(cls, v: str | None) -> str | None:
        return None if v is None else check_signal_name(v, "list")

    @model_validator(mode="after")
    def _registered(self) -> "IndicatorSpec":
        from callqa.pipeline.scoring.indicators import CONDITIONS

        for cond in self.applies:
            if cond not in CONDITIONS:
                raise ValueError(f"unknown condition {cond!r} in 'applies' (known: {', '.join(sorted(CONDITIONS))})")
        return self


class DifficultRule(_Strict):
    """A call is `difficult` when the client escalates, shows negative emotion, raises their voice or
    complains repeatedly; every reason that fired is recorded (`difficulty.reasons`)."""

    client_start_below: float = Field(-0.2, ge=-1.0, le=1.0)  # negative emotion: the client starts this low
    emotion_below: float = Field(-0.6, ge=-1.0, le=1.0)  # ... or any one client turn this low (-1: off)
    client_negative_below: float = Field(-0.2, ge=-1.0, le=1.0)  # a client turn this low marks the pressure moment
    # a client turn this low is a complaint: one mild marker ("опять", "долго") is not, an emotion word is
    complaint_below: float = Field(-0.5, ge=-1.0, le=1.0)
    on_escalation: bool = True
    escalations_min: int = Field(1, ge=0)  # client escalations (manager, complaint, authority); 0: off
    # client turns with a raised voice (loudness; one loud turn can be the line or the handset); 0: off
    raised_voice_min: int = Field(2, ge=0)
    repeated_complaints_min: int = Field(2, ge=0)  # client turns under complaint_below; 0: off


class IndicatorsConfig(_Strict):
    difficult: DifficultRule = DifficultRule()
    # a conversation shorter than this (s) is a wrong number or a dropped call: nothing scored (0: off)
    min_conversation_s: float = Field(8.0, ge=0.0)
    items: dict[str, IndicatorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _implementations(self) -> "IndicatorsConfig":
        from callqa.pipeline.scoring.indicators import READS, REGISTRY

        for iid, spec in self.items.items():
            impl = spec.compute or iid
            if impl not in REGISTRY:
                raise ValueError(f"indicator {iid!r}: no implementation {impl!r} "
                                 f"(set 'compute' to one of: {', '.join(sorted(REGISTRY))})")
            kind = READS.get(impl)
            if kind is None:
                continue
            names = [spec.source] if isinstance(spec.source, str) else list(spec.source or [])
            if not names or (kind == "number" and len(names) > 1):
                raise ValueError(f"indicator {iid!r}: 'compute: {impl}' needs 'source': "
                                 f"{'one number signal' if kind == 'number' else 'one or more lists of evidence items'}")
            for name in names:
                try:
                    check_signal_name(name, kind)
                except ValueError as e:
                    raise ValueError(f"indicator {iid!r}, 'source' of 'compute: {impl}': {e}") from None
        return self


# ---------------------------------------------------------------- flags.yaml

class FlagRule(_Strict):
    enabled: bool = True
    severity: Severity  # pipeline/severity.py: info | low | medium | high | critical (minor = low, major = high)
    reason: Text  # may use {placeholders} the rule fills in (see pipeline/scoring/flags.py)
    threshold: float | None = None
    max_evidence: int = Field(5, ge=1)


class FlagsConfig(RootModel[dict[str, FlagRule]]):
    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _known(self) -> "FlagsConfig":
        from callqa.pipeline.scoring.flags import RULES

        for fid in self.root:
            if fid not in RULES:
                raise ValueError(f"unknown flag {fid!r} (known: {', '.join(sorted(RULES))})")
        missing = [f for f in RULES if f not in self.root]
        if missing:
            raise ValueError(f"missing rules for flags: {', '.join(missing)}")
        return self

    def get(self, fid: str) -> FlagRule:
        return self.root[fid]


# ---------------------------------------------------------------- grading.yaml

class CiOptions(_Strict):
    """Confidence interval of an operator's mean score: Student t (default) or
    percentile bootstrap."""

    method: Literal["t", "bootstrap"] = "t"
    level: float = Field(0.95, gt=0.5, lt=1.0)
    bootstrap_samples: int = Field(2000, ge=100)
    seed: int = 0


class DifficultLevelRule(_Strict):
    min_difficult_calls: int = Field(1, ge=0)
    min_difficult_mean: float = Field(60.0, ge=0.0, le=100.0)


class NominationRule(_Strict):
    min_score: float = Field(80.0, ge=0.0, le=100.0)
    client_end_min: float = Field(0.2, ge=-1.0, le=1.0)
    require_script: bool = True  # no script signal -> cannot show every stage
    ignore_flags: list[str] = Field(default_factory=list)  # flags that do not block a nomination
    turned_positive_delta: float = Field(0.3, ge=0.0, le=2.0)  # difficult call "turned positive"


class ValidationOptions(_Strict):
    kappa_weights: Literal["quadratic", "linear"] = "quadratic"
    min_pairs: int = Field(3, ge=2)


class GradingConfig(_Strict):
    min_calls: int = Field(5, ge=1)
    ci: CiOptions = CiOptions()
    # level -> what difficult calls must show for an operator's grade to reach it
    difficult_rule: dict[int, DifficultLevelRule] = Field(default_factory=dict)
    nomination: NominationRule = NominationRule()
    validation: ValidationOptions = ValidationOptions()

    @field_validator("difficult_rule")
    @classmethod
    def _levels(cls, v: dict[int, DifficultLevelRule]) -> dict[int, DifficultLevelRule]:
        for lv in v:
            if lv not in (2, 3, 4):
                raise ValueError(f"difficult_rule applies to levels 2..4, got {lv}")
        return v


# ---------------------------------------------------------------- development.yaml

class Actions(BaseModel):
    """Recommended actions per language: ru and en always, other languages of configs/languages.yaml
    optional (a language without its own gets the English ones)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, list[str]]

    ru: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _codes(self) -> "Actions":
        _language_keys(self.__pydantic_extra__)
        return self

    def get(self, lang: str) -> list[str]:
        if lang == "ru":
            return self.ru
        return (self.__pydantic_extra__ or {}).get(lang) or self.en


class DevelopmentConfig(_Strict):
    weakest: int = Field(3, ge=1)  # at most this many competencies in a plan
    below_score: float = Field(75.0, ge=0.0, le=100.0)  # only competencies whose mean is under this
    exemplary_per_competency: int = Field(3, ge=0)
    exemplary_link: str = "/calls/{call_id}"  # {call_id} is filled in
    actions: dict[str, Actions] = Field(default_factory=dict)

    @field_validator("exemplary_link")
    @classmethod
    def _link(cls, v: str) -> str:
        if "{call_id}" not in v:
            raise ValueError("must contain {call_id}")
        return v


CONFIG_SECTIONS = {
    "competency_map": CompetencyMap,
    "roles": RolesConfig,
    "indicators": IndicatorsConfig,
    "flags": FlagsConfig,
    "grading": GradingConfig,
    "development": DevelopmentConfig,
}


# ---------------------------------------------------------------- cross-section checks

def _origin(config: "Config", keys: tuple[str, ...]) -> str:
    """The file that sets `keys`: a user's file when it holds the key, else the default file."""
    from callqa.pipeline.config import default_config_dir

    root = default_config_dir().resolve()
    for f in reversed(config.files):
        p = Path(f)
        try:
            p.resolve().relative_to(root)
            continue  # a default file
        except ValueError:
            pass
        try:
            node: Any = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for k in keys:
            if isinstance(node, dict) and k in node:
                node = node[k]
            else:
                break
        else:
            return str(p)
    for n in range(len(keys), 0, -1):
        cand = root.joinpath(*keys[:n]).with_suffix(".yaml")
        if cand.is_file():
            return str(cand)
    return str(root)


def _fail(config: "Config", keys: tuple[str, ...], msg: str) -> None:
    raise ConfigError(_origin(config, keys), ".".join(keys), msg)


def check_scoring_config(config: "Config") -> None:
    """References between the scoring sections; raises ConfigError naming the file and key."""
    cmap: CompetencyMap = config.section("competency_map")
    roles: RolesConfig = config.section("roles")
    inds: IndicatorsConfig = config.section("indicators")
    dev: DevelopmentConfig = config.section("development")
    grading: GradingConfig = config.section("grading")
    flags: FlagsConfig = config.section("flags")
    for cid, comp in cmap.competencies.items():
        for iid in comp.indicators:
            if iid not in inds.items:
                _fail(config, ("competency_map", "competencies", cid, "indicators", iid),
                      f"unknown indicator (define it in indicators.yaml: items.{iid})")
    for role, rdef in roles.root.items():
        for cid in rdef.competencies:
            if cid not in cmap.competencies:
                _fail(config, ("roles", role, "competencies", cid), "unknown competency")
        for cid, ws in rdef.indicators.items():
            if cid not in cmap.competencies:
                _fail(config, ("roles", role, "indicators", cid), "unknown competency")
            for iid in ws:
                if iid not in inds.items:
                    _fail(config, ("roles", role, "indicators", cid, iid), "unknown indicator")
    for cid in dev.actions:
        if cid not in cmap.competencies:
            _fail(config, ("development", "actions", cid), "unknown competency")
    for fid in grading.nomination.ignore_flags:
        if fid not in flags.root:
            _fail(config, ("grading", "nomination", "ignore_flags"), f"unknown flag {fid!r}")


# Run by the configuration loader after every section validated (see config.py), so
# that a broken reference fails before any call is processed.
CONFIG_CHECKS = (check_scoring_config,)
