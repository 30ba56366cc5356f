"""Evaluation forms (чек-листы): the team's own checklist, scored per call beside the
competency scores.

A form (``configs/forms.yaml``, section ``forms``) has sections of questions. Each question
has a type (``yes_no``: yes / no / na; ``score``: 0..100 or na), a weight (per role if
wanted), may be *critical* (a "no", or a score under ``critical_below``, fails the whole
form), may be N/A under rules (``na_when``), and is answered automatically from one source
when configured (``auto``: an indicator, a script stage, a flag, a competency, or a category
once categories exist), otherwise left for a person (``answer: null``, ``needs_human``).

Form score = 100 x the weighted mean of the answered, applicable questions' points
(yes 1, no 0, score/100); a critical failure fails the form (and zeroes its score unless
``critical_zeroes_score: false``). ``passed`` is decided when the form is complete, or
earlier when no answer still open could change the outcome; otherwise it is null and
``score_range`` says where the complete form can end.

Forms are versioned: ``version:`` in the definition, else a hash of the expanded definition;
every form result names the version it was scored with. Human answers are stored per call,
form version and question (``save_human_answer``); ``rescore_form`` scores a form again with
them. The form ``competencies`` (``mirror: competency_map``) is generated from the competency
map: one section per block, one score question per competency, weighted as the role weights
the competencies, so its score equals the call's overall score.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callqa.pipeline.config import check_unique
from callqa.pipeline.errors import CallqaError, ConfigError
from callqa.pipeline.types import ROLES
from callqa.pipeline.scoring.settings import Text

if TYPE_CHECKING:  # pragma: no cover
    from callqa.pipeline.config import Config

ANSWERS_YES_NO = ("yes", "no", "na")
NA = "na"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class FormError(CallqaError):
    """A form or an answer cannot be used as asked (unknown form/question, invalid answer)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Text):
    """A form's label per language (ru, en, and any language of configs/languages.yaml; English
    when a language has none of its own): the competency map's `Text`."""


def _ids(v: str | list[str] | None) -> tuple[str, ...] | None:
    if v is None:
        return None
    return (v,) if isinstance(v, str) else tuple(v)


class NaRule(_Strict):
    """The question is N/A for a call matching every condition given here."""

    difficult: bool | None = None
    direction: str | list[str] | None = None
    role: str | list[str] | None = None
    scenario: str | list[str] | None = None
    language: str | list[str] | None = None
    flag: str | None = None  # the call has this flag
    no_flag: str | None = None  # the call does not have this flag

    @model_validator(mode="after")
    def _some(self) -> "NaRule":
        if not self.model_dump(exclude_none=True):
            raise ValueError("an N/A rule needs at least one condition "
                             "(difficult, direction, role, scenario, language, flag, no_flag)")
        return self

    def matches(self, call: "CallView") -> str | None:
        """A description of the rule when it matches the call, else None."""
        said = []
        for key in ("direction", "role", "scenario", "language"):
            want = _ids(getattr(self, key))
            if want is None:
                continue
            if call.meta.get(key) not in want:
                return None
            said.append(f"{key} {call.meta.get(key)}")
        if self.difficult is not None:
            if call.difficult is None or bool(call.difficult) != self.difficult:
                return None
            said.append("difficult call" if self.difficult else "not a difficult call")
        if self.flag is not None:
            if self.flag not in call.flags:
                return None
            said.append(f"flag {self.flag}")
        if self.no_flag is not None:
            if self.no_flag in call.flags:
                return None
            said.append(f"no flag {self.no_flag}")
        return ", ".join(said)


class AutoSource(_Strict):
    """Where an automatic answer comes from: exactly one of the sources."""

    indicator: str | None = None
    script_stage: str | None = None
    flag: str | None = None
    competency: str | None = None
    category: str | None = None  # the hook for saved-search categories (not evaluated yet)
    # yes_no from a number: yes when the value is at least this (indicator score 0..1, default 0.5;
    # competency score 0..100, default the competency map's level-3 threshold)
    min: float | None = None
    flag_present: Literal["yes", "no"] = "no"  # the answer when the flag fired (the other when it did not)
    # the source is null for the call (indicator not applicable, competency not observable):
    # leave the question for a person (human) or count it as N/A (na)
    unknown: Literal["human", "na"] = "human"

    @model_validator(mode="after")
    def _one(self) -> "AutoSource":
        given = [k for k in ("indicator", "script_stage", "flag", "competency", "category") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of indicator, script_stage, flag, competency, category"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("indicator", "script_stage", "flag", "competency", "category") if getattr(self, k))

    @property
    def ref(self) -> str:
        return getattr(self, self.kind)


class Question(_Strict):
    id: str
    text: Label
    help: Label | None = None
    type: Literal["yes_no", "score"] = "yes_no"
    weight: float = Field(1.0, ge=0.0)
    role_weights: dict[str, float] = Field(default_factory=dict)  # role -> weight (replaces `weight`)
    critical: bool = False  # a "no" (score: under critical_below) fails the whole form
    critical_below: float = Field(50.0, ge=0.0, le=100.0)
    na_allowed: bool = True  # a person may answer N/A
    na_when: list[NaRule] = Field(default_factory=list)  # N/A when any rule matches
    auto: AutoSource | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"question id {v!r} must be 1-64 letters, digits or . _ -")
        return v

    @field_validator("role_weights")
    @classmethod
    def _roles(cls, v: dict[str, float]) -> dict[str, float]:
        for role, w in v.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
            if w < 0:
                raise ValueError(f"weight for {role!r} must not be negative, got {w}")
        return v

    @model_validator(mode="after")
    def _source_fits(self) -> "Question":
        a = self.auto
        if a is not None and a.min is not None and (self.type == "score" or a.kind not in ("indicator", "competency")):
            raise ValueError("'min' applies to yes_no questions answered from an indicator or a competency")
        return self

    def weight_for(self, role: str | None) -> float:
        return float(self.role_weights.get(role or "", self.weight))


class Section(_Strict):
    id: str
    name: Label
    questions: list[Question] = Field(min_length=1)


class FormDef(_Strict):
    name: Label | None = None
    version: str | None = None  # explicit version; default: a hash of the expanded definition
    mirror: Literal["competency_map"] | None = None  # generate the questions from the competency map
    pass_threshold: float = Field(70.0, ge=0.0, le=100.0)
    critical_zeroes_score: bool = True
    sections: list[Section] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> "FormDef":
        if self.mirror is None and not self.sections:
            raise ValueError("a form needs 'sections' (or 'mirror: competency_map')")
        if self.mirror is not None and self.sections:
            raise ValueError("a mirrored form takes its questions from the competency map: give no 'sections'")
        check_unique((q.id for s in self.sections for q in s.questions), "question id")
        return self


class FormsConfig(_Strict):
    score: list[str] = Field(default_factory=list)  # forms scored on every call, in this order
    items: dict[str, FormDef] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> "FormsConfig":
        for fid in self.items:
            if not _ID.match(fid):
                raise ValueError(f"form id {fid!r} must be 1-64 letters, digits or . _ -")
        for fid in self.score:
            if fid not in self.items:
                raise ValueError(f"score: unknown form {fid!r} (forms: {', '.join(self.items) or 'none'})")
        return self


CONFIG_SECTIONS = {"forms": FormsConfig}


# ---------------------------------------------------------------- expanded forms

@dataclass(frozen=True)
class Form:
    """A form as scored: its id, version and (for a mirrored form, generated) sections."""

    id: str
    version: str
    definition: FormDef

    @property
    def sections(self) -> list[Section]:
        return self.definition.sections

    def questions(self) -> Iterable[tuple[Section, Question]]:
        for s in self.definition.sections:
            for q in s.questions:
                yield s, q

    def question(self, qid: str) -> Question:
        for _, q in self.questions():
            if q.id == qid:
                return q
        raise FormError(f"form {self.id!r} (version {self.version}) has no question {qid!r}")

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, **self.definition.model_dump(mode="json", exclude_none=True)}


def _mirror(fdef: FormDef, config: "Config") -> FormDef:
    cmap = config.section("competency_map")
    roles = config.section("roles").root
    sections = []
    for bid, block in cmap.blocks.items():
        qs = []
        for cid, comp in cmap.competencies.items():
            if comp.block != bid:
                continue
            qs.append(Question(id=cid, text=Label(**comp.name.model_dump()),
                               help=Label(**comp.description.model_dump()), type="score",
                               weight=1.0,
                               role_weights={r: float(rd.competencies.get(cid, 1.0)) for r, rd in roles.items()},
                               auto=AutoSource(competency=cid, unknown="na")))
        if qs:
            sections.append(Section(id=bid, name=Label(**block.name.model_dump()), questions=qs))
    return fdef.model_copy(update={"sections": sections, "mirror": None})


def _version(fdef: FormDef) -> str:
    if fdef.version:
        return fdef.version
    text = json.dumps(fdef.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return "h-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def get_form(config: "Config", form_id: str) -> Form:
    """The expanded form `form_id` of the configuration; FormError when there is none."""
    forms: FormsConfig = config.section("forms")
    fdef = forms.items.get(form_id)
    if fdef is None:
        raise FormError(f"no form {form_id!r} in the configuration (forms: {', '.join(forms.items) or 'none'})")
    if fdef.mirror == "competency_map":
        fdef = _mirror(fdef, config)
    return Form(form_id, _version(fdef), fdef)


def scored_forms(config: "Config") -> list[Form]:
    """The forms scored on every call (`forms.score`), expanded."""
    return [get_form(config, fid) for fid in config.section("forms").score]


# ---------------------------------------------------------------- the call as a form sees it

@dataclass
class CallView:
    """What a form reads from a call result (a CONTRACTS.md dict)."""

    meta: dict[str, Any]
    difficult: bool | None
    indicators: dict[str, Mapping[str, Any]]
    competencies: dict[str, Mapping[str, Any]]
    flags: dict[str, list[Mapping[str, Any]]]
    script: Mapping[str, Any] | None
    categories: dict[str, Mapping[str, Any]] | None  # None: categories were not evaluated

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> "CallView":
        flags: dict[str, list[Mapping[str, Any]]] = {}
        for f in result.get("flags") or []:
            flags.setdefault(str(f.get("id")), []).append(f)
        signals = result.get("signals") or {}
        script = signals.get("script") if isinstance(signals, Mapping) else None
        cats = result.get("categories")
        categories = None
        if isinstance(cats, list):
            categories = {}
            for c in cats:
                if isinstance(c, Mapping) and c.get("id"):
                    categories[str(c["id"])] = c
                elif isinstance(c, str):
                    categories[c] = {"id": c}
        role = result.get("role") or "inbound"
        return cls(
            meta={"role": role, "direction": result.get("direction"), "scenario": result.get("scenario"),
                  "language": result.get("language")},
            difficult=result.get("difficult"),
            indicators={str(i.get("id")): i for i in result.get("indicators") or [] if isinstance(i, Mapping)},
            competencies={str(c.get("id")): c for c in result.get("competencies") or [] if isinstance(c, Mapping)},
            flags=flags, script=script if isinstance(script, Mapping) else None, categories=categories)


# ---------------------------------------------------------------- answers and scores

@dataclass(frozen=True)
class Answer:
    id: str
    section: str
    answer: Any  # "yes" | "no" | "na" | 0..100 | None (left for a person)
    source: str | None  # indicator:ID, script_stage:ID, flag:ID, competency:ID, category:ID, rule, human
    evidence: tuple[Mapping[str, Any], ...] = ()
    weight: float = 1.0
    critical: bool = False
    reason: str | None = None  # why N/A, why left for a person, or what the value was
    value: float | None = None  # the number an automatic answer came from
    by: str | None = None  # human answers: who and when
    at: str | None = None
    comment: str | None = None
    auto: Any = None  # a human answer that replaced an automatic one: what the automatic one was

    @property
    def needs_human(self) -> bool:
        return self.answer is None

    @property
    def points(self) -> float | None:
        """0..1 for the score, None for N/A or unanswered."""
        if self.answer is None or self.answer == NA:
            return None
        if self.answer == "yes":
            return 1.0
        if self.answer == "no":
            return 0.0
        return float(self.answer) / 100.0

    def serialize(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "section": self.section, "answer": self.answer, "source": self.source,
                             "needs_human": self.needs_human, "weight": self.weight,
                             "evidence": [dict(e) for e in self.evidence]}
        if self.critical:
            d["critical"] = True
        for k in ("reason", "value", "by", "at", "comment"):
            v = getattr(self, k)
            if v is not None:
                d[k] = round(v, 4) if isinstance(v, float) else v
        if self.auto is not None:
            d["auto"] = self.auto
        return d


@dataclass(frozen=True)
class FormResult:
    id: str
    version: str
    score: float | None  # 0..100 over the answered applicable questions; 0 after a critical failure
    passed: bool | None
    critical_failed: tuple[str, ...]
    complete: bool
    pending: tuple[str, ...]  # questions left for a person
    answers: tuple[Answer, ...]
    pass_threshold: float
    sections: tuple[tuple[str, float | None], ...] = ()
    score_range: tuple[float, float] | None = None  # incomplete: the lowest and highest the complete form can score
    raw_score: float | None = None  # the score before a critical failure zeroed it
    reason: str | None = None  # why passed is null

    def serialize(self) -> dict[str, Any]:
        r2 = (lambda x: None if x is None else round(x, 2))
        d: dict[str, Any] = {
            "id": self.id, "version": self.version, "score": r2(self.score), "passed": self.passed,
            "critical_failed": list(self.critical_failed), "complete": self.complete, "pending": list(self.pending),
            "pass_threshold": self.pass_threshold,
            "sections": [{"id": s, "score": r2(v)} for s, v in self.sections],
            "answers": [a.serialize() for a in self.answers]}
        if self.score_range is not None:
            d["score_range"] = [r2(self.score_range[0]), r2(self.score_range[1])]
        if self.raw_score is not None:
            d["raw_score"] = r2(self.raw_score)
        if self.reason:
            d["reason"] = self.reason
        return d


def _evidence(items: Any, limit: int = 5) -> tuple[Mapping[str, Any], ...]:
    out = []
    for e in items or []:
        if isinstance(e, Mapping):
            out.append({k: e[k] for k in ("start", "end", "speaker", "quote", "turn") if k in e})
        if len(out) >= limit:
            break
    return tuple(out)


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _auto_answer(q: Question, call: CallView, level3: float) -> tuple[Any, str | None, tuple, str | None, float | None]:
    """(answer, source, evidence, reason, value) of an automatic source; answer None: for a person."""
    a = q.auto
    assert a is not None
    source = f"{a.kind}:{a.ref}"
    unknown = NA if a.unknown == "na" else None
    if a.kind == "indicator":
        ind = call.indicators.get(a.ref)
        if ind is None:
            return None, None, (), f"indicator {a.ref} is not in this result", None
        score = ind.get("score")
        if score is None:
            return unknown, source if unknown else None, (), f"indicator {a.ref}: {ind.get('note') or 'no score'}", None
        score = float(score)
        ev = _evidence(ind.get("evidence"))
        if q.type == "score":
            return round(100.0 * score, 2), source, ev, None, score
        return _yes(score >= (0.5 if a.min is None else a.min) - 1e-9), source, ev, None, score
    if a.kind == "competency":
        comp = call.competencies.get(a.ref)
        if comp is None:
            return unknown, source if unknown else None, (), f"competency {a.ref} is not assessed in this call", None
        score = comp.get("score")
        if score is None:
            return (unknown, source if unknown else None, (),
                    f"competency {a.ref}: {comp.get('reason') or 'no score'}", None)
        score = float(score)
        ev = tuple(e for iid in comp.get("indicators") or []
                   for e in _evidence((call.indicators.get(iid) or {}).get("evidence"), 1))[:5]
        if q.type == "score":
            return round(score, 2), source, ev, None, score
        return _yes(score >= (level3 if a.min is None else a.min) - 1e-9), source, ev, None, score
    if a.kind == "script_stage":
        if call.script is None or not call.script.get("stages"):
            return None, None, (), "no script was checked in this call", None
        if call.script.get("not_applicable"):  # a wrong number, a voicemail: no script to follow
            return NA, source, (), f"N/A: the script does not apply ({call.script['not_applicable']})", None
        stage = next((s for s in call.script.get("stages") or [] if s.get("id") == a.ref), None)
        if stage is None:
            script_id = call.script.get("script_id") or "of this call"
            return NA, source, (), f"the script {script_id} has no stage {a.ref}", None
        found = bool(stage.get("found"))
        if found:
            ev = _evidence([stage])
        else:  # where it was expected: the script_missing flag's item for this stage
            ev = _evidence([e for f in call.flags.get("script_missing", []) for e in f.get("evidence") or []
                            if e.get("quote") == f"[{a.ref}]"], 1)
        ans = _yes(found) if q.type == "yes_no" else (100.0 if found else 0.0)
        return ans, source, ev, None if found else f"stage {a.ref} not found", None
    if a.kind == "flag":
        hits = call.flags.get(a.ref, [])
        present = bool(hits)
        yes = (a.flag_present == "yes") == present
        ev = _evidence([e for f in hits for e in f.get("evidence") or []])
        reason = hits[0].get("reason") if present else f"flag {a.ref} did not fire"
        ans = _yes(yes) if q.type == "yes_no" else (100.0 if yes else 0.0)
        return ans, source, ev, reason, None
    # category: saved-search categories are the hook; a call evaluated without them is for a person
    if call.categories is None:
        return None, None, (), "categories are not evaluated for this call", None
    hit = call.categories.get(a.ref)
    ans = _yes(hit is not None) if q.type == "yes_no" else (100.0 if hit else 0.0)
    return ans, source, _evidence((hit or {}).get("evidence")), None, None


def normalize_answer(q: Question, answer: Any) -> Any:
    """A person's answer checked against the question: "yes" / "no" / "na" or a 0..100 score.
    FormError naming the question otherwise."""
    if isinstance(answer, str):
        answer = answer.strip().lower()
    if answer in (NA, "n/a"):
        if not q.na_allowed:
            raise FormError(f"question {q.id!r} cannot be answered N/A")
        return NA
    if q.type == "yes_no":
        if answer is True or answer in ("yes", "y", "да"):
            return "yes"
        if answer is False or answer in ("no", "n", "нет"):
            return "no"
        raise FormError(f"question {q.id!r} takes yes, no{' or na' if q.na_allowed else ''}, got {answer!r}")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise FormError(f"question {q.id!r} takes a score 0..100{' or na' if q.na_allowed else ''}, "
                        f"got {answer!r}") from None
    if isinstance(answer, bool) or not 0.0 <= value <= 100.0:
        raise FormError(f"question {q.id!r} takes a score 0..100, got {answer!r}")
    return value


def _is_critical_fail(q: Question, answer: Any) -> bool:
    if not q.critical or answer is None or answer == NA:
        return False
    if q.type == "yes_no":
        return answer == "no"
    return float(answer) < q.critical_below


def _mean(pairs: list[tuple[float, float]]) -> float | None:
    total = sum(w for w, _ in pairs)
    return None if total <= 0 else 100.0 * sum(w * p for w, p in pairs) / total


def score_form(form: Form, result: Mapping[str, Any], config: "Config",
               human: Mapping[str, Mapping[str, Any]] | None = None) -> FormResult:
    """Score `form` on a call result (CONTRACTS.md dict). `human`: question id -> a person's
    answer {answer, by, at, comment} (already checked with `normalize_answer`), which wins over
    the rules and the automatic source."""
    call = CallView.of(result)
    cmap = config.section("competency_map")
    level3 = float(next((lv.min_score for lv in cmap.levels if lv.level == 3), 70.0))
    human = human or {}
    role = call.meta.get("role")
    answers: list[Answer] = []
    for sec, q in form.questions():
        weight = q.weight_for(role)
        h = human.get(q.id)
        auto_ans = None
        if q.auto is not None and h is not None:
            auto_ans = _auto_answer(q, call, level3)[0]
        if h is not None:
            answers.append(Answer(q.id, sec.id, h.get("answer"), "human", (), weight, q.critical,
                                  by=h.get("by"), at=h.get("at"), comment=h.get("comment"),
                                  auto=auto_ans))
            continue
        if weight <= 0:
            answers.append(Answer(q.id, sec.id, NA, "rule", (), weight, q.critical,
                                  reason=f"not weighted for role {role}"))
            continue
        rule = next((m for m in (r.matches(call) for r in q.na_when) if m), None)
        if rule:
            answers.append(Answer(q.id, sec.id, NA, "rule", (), weight, q.critical, reason=f"N/A: {rule}"))
            continue
        if q.auto is None:
            answers.append(Answer(q.id, sec.id, None, None, (), weight, q.critical,
                                  reason="answered by a person"))
            continue
        ans, source, ev, reason, value = _auto_answer(q, call, level3)
        answers.append(Answer(q.id, sec.id, ans, source, ev, weight, q.critical, reason=reason, value=value))
    return _total(form, answers)


def _total(form: Form, answers: list[Answer]) -> FormResult:
    fdef = form.definition
    by_id = {q.id: q for _, q in form.questions()}
    scored = [(a.weight, a.points) for a in answers if a.points is not None and a.weight > 0]
    pending = tuple(a.id for a in answers if a.answer is None)
    open_w = [(a.weight, a.id) for a in answers if a.answer is None and a.weight > 0]
    critical = tuple(a.id for a in answers if _is_critical_fail(by_id[a.id], a.answer))
    raw = _mean(scored)
    sections = []
    for s in form.sections:
        sections.append((s.id, _mean([(a.weight, a.points) for a in answers
                                      if a.section == s.id and a.points is not None and a.weight > 0])))
    score_range = None
    reason = None
    if pending:
        low = _mean(scored + [(w, 0.0) for w, _ in open_w])
        high = _mean(scored + [(w, 1.0) for w, _ in open_w])
        score_range = (low if low is not None else 0.0, high if high is not None else 0.0)
    if critical:
        passed: bool | None = False
    elif not pending:
        passed = None if raw is None else raw >= fdef.pass_threshold - 1e-9
        if raw is None:
            reason = "no question applies to this call"
    else:
        open_critical = any(by_id[i].critical for i in pending)
        assert score_range is not None
        if score_range[1] < fdef.pass_threshold - 1e-9:
            passed = False
        elif score_range[0] >= fdef.pass_threshold - 1e-9 and not open_critical:
            passed = True
        else:
            passed = None
            reason = f"{len(pending)} question(s) wait for a person"
    score = raw
    raw_out = None
    if critical and fdef.critical_zeroes_score:
        score, raw_out = 0.0, raw
        if score_range is not None:
            score_range = (0.0, 0.0)
    return FormResult(form.id, form.version, score, passed, critical, not pending, pending, tuple(answers),
                      fdef.pass_threshold, tuple(sections), score_range, raw_out, reason)


def score_forms(result: Any, config: "Config") -> list[FormResult]:
    """Every form in `forms.score` on a call (a CallResult or its serialized dict): the
    automatic answers only."""
    forms = scored_forms(config)
    if not forms:
        return []
    data = result if isinstance(result, Mapping) else _scoring_view(result)
    return [score_form(f, data, config) for f in forms]


def _scoring_view(result: Any) -> dict[str, Any]:
    """The parts of a CallResult a form reads, serialized (without the transcript)."""
    from callqa.pipeline.jsonable import to_plain
    from callqa.pipeline.scoring.score import signals_dict

    ser = (lambda x: x.serialize() if hasattr(x, "serialize") else x)
    meta = result.meta
    return to_plain({
        "role": meta.role, "direction": meta.direction, "scenario": meta.scenario, "language": result.language,
        "difficult": result.difficult, "signals": {"script": signals_dict(result.signals).get("script")},
        "indicators": [ser(i) for i in result.indicators], "competencies": [ser(c) for c in result.competencies],
        "flags": [ser(f) for f in result.flags]})


# ---------------------------------------------------------------- human answers in the store

def save_human_answer(store: Any, call_id: str, form_id: str, question_id: str, answer: Any, *, author: str,
                      config: "Config", comment: str | None = None,
                      analysis_id: str | None = None) -> dict[str, Any]:
    """Store a person's answer to one question of a form on a call (the form's current
    version), after checking it; answers are appended, the latest per question wins.
    Given `analysis_id` (the analysis the person saw), a call reprocessed since is refused.
    Returns the stored row and the form scored again (`form`)."""
    from callqa.pipeline.store.qa_tables import connect, utcnow
    from callqa.pipeline.store.db import StoreError

    if not author:
        raise FormError("an answer needs an author")
    form = get_form(config, form_id)
    value = normalize_answer(form.question(question_id), answer)
    row = {"answer_id": uuid.uuid4().hex, "call_id": call_id, "form_id": form_id, "form_version": form.version,
           "question_id": question_id, "answer": json.dumps(value), "author": author, "comment": comment,
           "created_at": utcnow()}
    with connect(store, write=True) as con:
        found = con.execute("SELECT analysis_id FROM calls WHERE call_id = ? AND status = 'ok'", [call_id]).fetchall()
        if not found:
            raise StoreError(store.path, f"no analysed call {call_id!r} in the store")
        current = found[0][0]
        if analysis_id is not None and current is not None and analysis_id != current:
            raise StoreError(store.path, f"call {call_id!r} was reprocessed (analysis {current}); "
                                         f"the answer was given on {analysis_id}: reload the call")
        row["analysis_id"] = current
        con.execute("INSERT INTO form_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [row[k] for k in ("answer_id", "call_id", "form_id", "form_version", "question_id", "answer",
                                      "author", "comment", "created_at", "analysis_id")])
    out = {**row, "answer": value, "created_at": row["created_at"].isoformat()}
    out["form"] = call_form(store, call_id, form_id, config)
    return out


def human_answers(store: Any, call_id: str, form_id: str, version: str | None = None) -> dict[str, dict[str, Any]]:
    """question id -> the latest answer a person gave on this call and form (on `version` only,
    when given): {answer, by, at, comment, form_version, analysis_id}."""
    from callqa.pipeline.store.qa_tables import connect

    sql = ("SELECT question_id, answer, author, created_at, comment, form_version, analysis_id FROM form_answers "
           "WHERE call_id = ? AND form_id = ?")
    params: list[Any] = [call_id, form_id]
    if version is not None:
        sql += " AND form_version = ?"
        params.append(version)
    sql += " QUALIFY row_number() OVER (PARTITION BY question_id ORDER BY created_at DESC, answer_id DESC) = 1"
    with connect(store) as con:
        rows = con.execute(sql, params).fetchall()
    return {q: {"answer": json.loads(a), "by": by, "at": at.isoformat(), "comment": c, "form_version": v,
                "analysis_id": aid} for q, a, by, at, c, v, aid in rows}


def rescore_form(form: Form, result: Mapping[str, Any], config: "Config",
                 answers: Mapping[str, Any]) -> FormResult:
    """Score `form` again on a call result with people's answers: question id -> an answer
    ("yes" / "no" / "na" / 0..100) or a dict {answer, by, at, comment}. Each is checked
    against its question (FormError otherwise)."""
    human: dict[str, dict[str, Any]] = {}
    for qid, a in answers.items():
        entry = dict(a) if isinstance(a, Mapping) else {"answer": a}
        entry["answer"] = normalize_answer(form.question(qid), entry.get("answer"))
        human[qid] = entry
    return score_form(form, result, config, human)


def call_form(store: Any, call_id: str, form_id: str, config: "Config") -> FormResult:
    """A stored call's form scored with the configuration's current version of the form and the
    people's answers given on that version."""
    from callqa.pipeline.store.db import StoreError

    result = store.get(call_id, with_reviews=False)
    if result is None or result.get("status", "ok") != "ok":
        raise StoreError(store.path, f"no analysed call {call_id!r} in the store")
    form = get_form(config, form_id)
    return rescore_form(form, result, config, human_answers(store, call_id, form_id, form.version))


# ---------------------------------------------------------------- configuration checks

def form_results(store: Any, config: "Config", form_id: str, *,
                 call_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """A form on many stored calls (e.g. a scorecard over time): per analysed call, oldest first,
    {call_id, operator_id, team, started_at, form: FormResult} with the configuration's current
    version of the form and the people's answers given on it."""
    from callqa.pipeline.store.qa_tables import connect

    form = get_form(config, form_id)
    wanted = None if call_ids is None else set(call_ids)
    with connect(store) as con:
        rows = con.execute(
            "SELECT call_id, question_id, answer, author, created_at, comment FROM form_answers "
            "WHERE form_id = ? AND form_version = ? QUALIFY row_number() OVER (PARTITION BY call_id, question_id "
            "ORDER BY created_at DESC, answer_id DESC) = 1", [form_id, form.version]).fetchall()
    human: dict[str, dict[str, dict[str, Any]]] = {}
    for cid, qid, a, by, at, comment in rows:
        human.setdefault(cid, {})[qid] = {"answer": json.loads(a), "by": by, "at": at.isoformat(), "comment": comment}
    out = []
    # given the calls (a scorecard's period), read only those instead of every stored result
    source = store.results(apply_overrides=False) if wanted is None else (
        r for r in (store.get(c, with_reviews=False) for c in sorted(wanted)) if r and r.get("status", "ok") == "ok")
    for result in source:
        cid = result["call_id"]
        if wanted is not None and cid not in wanted:
            continue
        scored = score_form(form, result, config, {q: h for q, h in human.get(cid, {}).items()
                                                   if any(q == x.id for _, x in form.questions())})
        out.append({"call_id": cid, "operator_id": result.get("operator_id"), "team": result.get("team"),
                    "started_at": result.get("started_at"), "form": scored})
    return sorted(out, key=lambda r: (r["started_at"] or "", r["call_id"]))


def _origin(config: "Config", keys: tuple[str, ...]) -> str:
    """The user's file that sets `keys` (list items by index), else configs/forms.yaml."""
    import yaml

    from callqa.pipeline.config import _has_prefix, default_config_dir

    root = default_config_dir().resolve()
    for f in reversed(config.files):
        p = Path(f)
        if p.resolve().is_relative_to(root):
            continue
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, Mapping) and _has_prefix(data, keys):
            return str(p)
    return str(root / "forms.yaml")


def check_forms_config(config: "Config") -> None:
    """Every source a form names exists (indicator, flag, competency, script stage)."""
    forms: FormsConfig = config.section("forms")
    indicators = config.section("indicators").items
    flags = config.section("flags").root
    comps = config.section("competency_map").competencies
    stages = {str(st.get("id")) for lang in (config.get("scripts", {}) or {}).values() if isinstance(lang, Mapping)
              for script in lang.values() if isinstance(script, Mapping) for st in script.get("stages") or []
              if isinstance(st, Mapping)}

    def fail(keys: tuple[str, ...], msg: str) -> None:
        raise ConfigError(_origin(config, keys), ".".join(keys), msg)

    known = {"indicator": indicators, "flag": flags, "competency": comps}
    for fid, fdef in forms.items.items():
        for si, sec in enumerate(fdef.sections):
            for qi, q in enumerate(sec.questions):
                where = ("forms", "items", fid, "sections", str(si), "questions", str(qi))
                a = q.auto
                if a is not None and a.kind in known and a.ref not in known[a.kind]:
                    fail(where + ("auto", a.kind), f"unknown {a.kind} {a.ref!r}")
                if a is not None and a.kind == "script_stage" and a.ref not in stages:
                    fail(where + ("auto", "script_stage"),
                         f"no script has a stage {a.ref!r} (stages: {', '.join(sorted(stages))})")
                for ri, rule in enumerate(q.na_when):
                    for key in ("flag", "no_flag"):
                        fid2 = getattr(rule, key)
                        if fid2 is not None and fid2 not in flags:
                            fail(where + ("na_when", str(ri), key), f"unknown flag {fid2!r}")


CONFIG_CHECKS = (check_forms_config,)
