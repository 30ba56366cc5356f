"""Behavioural indicators: measured signals -> a value, a 0..1 score and evidence.

One registry maps names to implementations (`@indicator("talk_ratio")`);
`configs/indicators.yaml` says, per indicator, which implementation computes it
(`compute`, default: its own id), which signal it reads (`source`), how the value
is normalised to 0..1 (`scale`: a linear threshold pair or a target band, per
language if needed), when it applies (`applies`: registered conditions; it is
null otherwise) and where its evidence comes from (`evidence_from`, or
`expected_at` for a behaviour that did not happen: the moment it was expected).

Indicators read the call's signals through their typed view
(`pipeline.signals.view.SignalsView`: `ctx.signals.sentiment.client_end`), the
transcript and the call metadata; they never run a model. The signal names a
configuration gives (`source`, `evidence_from`) are checked when it is loaded
against the view's tables of named signals (`NUMBERS`, `LISTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from callqa.pipeline.signals.view import Item, SignalsView
from callqa.pipeline.types import CallMeta, Evidence, Transcript

MAX_QUOTE = 240


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class IndicatorScore:
    """One indicator on one call. `score` is None when it does not apply."""

    id: str
    value: float | None
    score: float | None
    evidence: tuple[Evidence, ...] = ()
    numeric: bool = False  # a measurement whose evidence may be empty (CONTRACTS.md)
    note: str | None = None  # why it is null
    absence: bool = False  # the evidence is what was checked, not the behaviour itself

    def serialize(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "value": None if self.value is None else round(float(self.value), 4),
            "score": None if self.score is None else round(float(self.score), 4),
            "evidence": [e.serialize() for e in self.evidence],
        }
        if self.numeric:
            d["numeric"] = True
        if self.note:
            d["note"] = self.note
        if self.absence:
            d["absence"] = True
        return d


@dataclass(frozen=True)
class Measurement:
    """What an implementation returns. `value` None: not applicable to this call.
    `score` set: overrides the configured scale (for composite indicators)."""

    value: float | None
    evidence: list[Evidence] = field(default_factory=list)
    score: float | None = None
    note: str | None = None


def _clip_quote(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1].rstrip() + "…"


def to_evidence(item: Any, transcript: Transcript | None = None) -> Evidence | None:
    """A signals evidence item `{start, end, speaker, quote, turn?}` -> Evidence; None when
    it has no time (e.g. a script stage that was not found)."""
    if not isinstance(item, Mapping) or item.get("start") is None:
        return None
    start = float(item["start"])
    end = float(item.get("end") if item.get("end") is not None else start)
    turn = item.get("turn")
    quote = item.get("quote")
    if quote is None:
        quote = item.get("text", "")
    if not quote and transcript is not None and isinstance(turn, int) and 0 <= turn < len(transcript.turns):
        quote = transcript.turns[turn].text
    return Evidence(start=start, end=max(start, end), speaker=item.get("speaker"), quote=_clip_quote(quote or ""),
                    turn=turn if isinstance(turn, int) else None)


def evidence_list(items: Any, transcript: Transcript | None = None) -> list[Evidence]:
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, (list, tuple)):
        return []
    out = [to_evidence(i, transcript) for i in items]
    return sorted((e for e in out if e is not None), key=lambda e: (e.start, e.end))


def turn_evidence(transcript: Transcript, index: int) -> Evidence:
    t = transcript.turns[index]
    return Evidence(start=t.start, end=t.end, speaker=t.speaker, quote=_clip_quote(t.text), turn=index)


# ---------------------------------------------------------------- context

@dataclass(frozen=True)
class Context:
    """Everything an indicator may read about one call."""

    signals: SignalsView
    transcript: Transcript
    meta: CallMeta
    language: str
    config: Any  # pipeline.config.Config
    difficult: bool
    pressure: Evidence | None  # the first moment the client was negative or escalated
    difficulty: "Difficulty | None" = None  # why the call is (or is not) difficult
    asr_no_words: Mapping[str, Any] | None = None  # speech the ASR wrote no words for (processing.asr_no_words)

    def evidence(self, items: Iterable[Item] | Item | None) -> list[Evidence]:
        """Evidence items of the signals as Evidence, in time order."""
        return evidence_list(items, self.transcript)

    def evidence_from(self, name: str | None) -> list[Evidence]:
        """The evidence items of the list a configuration names (`evidence_from`)."""
        return self.evidence(self.signals.items(name)) if name else []

    def _indices(self, speaker: str) -> list[int]:
        return [i for i, t in enumerate(self.transcript.turns) if t.speaker == speaker and t.text.strip()]

    def checked(self, speaker: str, found: float) -> list[Evidence]:
        """Evidence for an absence: the span of `speaker`'s speech that was checked, and the count."""
        idx = self._indices(speaker)
        if not idx:
            return []
        first, last = self.transcript.turns[idx[0]], self.transcript.turns[idx[-1]]
        words = sum(len(self.transcript.turns[i].text.split()) for i in idx)
        quote = f"checked {len(idx)} {speaker} turns ({words} words): {found:g} found"
        return [Evidence(start=first.start, end=last.end, speaker=speaker, quote=quote)]

    def expected_at(self, where: str | None) -> list[Evidence]:
        """Evidence for a behaviour that did not happen: where it was expected."""
        if where is None:
            return []
        if where == "pressure_moment":
            return [self.pressure] if self.pressure else []
        if where == "call":
            ops = self._indices("operator")
            if not ops:
                return []
            first, last = self.transcript.turns[ops[0]], self.transcript.turns[ops[-1]]
            return [Evidence(start=first.start, end=last.end, speaker="operator", quote="")]
        speaker = "client" if where in ("longest_client_turn", "last_client_turn") else "operator"
        idx = self._indices(speaker)
        if not idx:
            return []
        if where == "first_operator_turn":
            i = idx[0]
        elif where in ("last_operator_turn", "last_client_turn"):
            i = idx[-1]
        else:
            i = max(idx, key=lambda k: (self.transcript.turns[k].duration, -k))
        return [turn_evidence(self.transcript, i)]


@dataclass(frozen=True)
class Difficulty:
    """Whether a call is difficult and why: each reason names the rule that fired, the count
    it saw against its threshold, and where (CONTRACTS.md, `difficulty`)."""

    difficult: bool
    reasons: tuple[dict[str, Any], ...] = ()

    def serialize(self) -> dict[str, Any]:
        return {"difficult": self.difficult, "reasons": [dict(r) for r in self.reasons]}


def _ev_items(items: Iterable[Mapping[str, Any]], limit: int = 5) -> list[dict[str, Any]]:
    keep = ("start", "end", "speaker", "quote", "turn")
    return [{k: it[k] for k in keep if it.get(k) is not None} for it in list(items)[:limit]]


def assess_difficulty(signals: SignalsView | Mapping[str, Any], rule: Any) -> Difficulty:
    """A call is difficult when the client escalates (asks for a manager, threatens a complaint),
    shows negative emotion (starts negative, or one turn strongly negative: insults, anger),
    raises their voice, or complains repeatedly (several negative turns). Topic words
    ("проблема", "error") carry no valence, so naming a problem alone is routine."""
    signals = SignalsView.of(signals)
    reasons: list[dict[str, Any]] = []
    esc = [e for e in signals.escalations if e.get("speaker", "client") == "client"]
    if rule.on_escalation and rule.escalations_min > 0 and len(esc) >= rule.escalations_min:
        reasons.append({"id": "escalation", "count": len(esc), "min": rule.escalations_min,
                        "evidence": _ev_items(esc)})
    client = signals.sentiment.turns("client")
    start = signals.sentiment.client_start
    strong = [pt for pt in client if float(pt["score"]) < rule.emotion_below]
    if (start is not None and float(start) < rule.client_start_below) or strong:
        low = min(client, key=lambda pt: float(pt["score"])) if client else None
        r: dict[str, Any] = {"id": "negative_emotion", "client_start": None if start is None else round(float(start), 3),
                             "client_start_below": rule.client_start_below, "emotion_below": rule.emotion_below,
                             "min_turn": None if low is None else round(float(low["score"]), 3),
                             "evidence": _ev_items(strong or ([low] if low else []))}
        reasons.append(r)
    loud = signals.loudness.raised("client")
    if rule.raised_voice_min > 0 and len(loud) >= rule.raised_voice_min:
        reasons.append({"id": "raised_voice", "count": len(loud), "min": rule.raised_voice_min,
                        "evidence": _ev_items(loud)})
    negative = [pt for pt in client if float(pt["score"]) < rule.complaint_below]
    if rule.repeated_complaints_min > 0 and len(negative) >= rule.repeated_complaints_min:
        reasons.append({"id": "repeated_complaints", "count": len(negative), "min": rule.repeated_complaints_min,
                        "below": rule.complaint_below, "evidence": _ev_items(negative)})
    return Difficulty(bool(reasons), tuple(reasons))


def is_difficult(signals: SignalsView | Mapping[str, Any], rule: Any) -> bool:
    """Any reason of `assess_difficulty`."""
    return assess_difficulty(signals, rule).difficult


def pressure_moment(signals: SignalsView | Mapping[str, Any], transcript: Transcript, rule: Any) -> Evidence | None:
    """The first client turn under `client_negative_below`, or the first escalation."""
    signals = SignalsView.of(signals)
    cands: list[Evidence] = []
    for pt in signals.sentiment.turns("client"):
        if pt["score"] < rule.client_negative_below:
            ev = to_evidence(pt, transcript)
            if ev is not None:
                cands.append(ev)
                break
    cands.extend(evidence_list(signals.escalations, transcript)[:1])
    cands.extend(evidence_list(signals.loudness.raised("client"), transcript)[:1])
    if cands:
        return min(cands, key=lambda e: e.start)
    if is_difficult(signals, rule):  # started negative by the start measure: the first client turn
        for i, t in enumerate(transcript.turns):
            if t.speaker == "client" and t.text.strip():
                return turn_evidence(transcript, i)
    return None


# ---------------------------------------------------------------- registries

Impl = Callable[[Context, Any], Measurement]
REGISTRY: dict[str, Impl] = {}
READS: dict[str, str] = {}  # implementation -> the kind of signal its `source` names: "number" | "list"
CONDITIONS: dict[str, Callable[[Context], bool]] = {}


def indicator(name: str, reads: str | None = None) -> Callable[[Impl], Impl]:
    """Register an indicator implementation under `name`; `reads`: it computes from the
    signal(s) a configuration names in `source`, of that kind ("number" or "list")."""

    def deco(fn: Impl) -> Impl:
        if name in REGISTRY:
            raise ValueError(f"indicator {name!r} registered twice")
        REGISTRY[name] = fn
        if reads is not None:
            READS[name] = reads
        return fn

    return deco


def condition(name: str) -> Callable[[Callable[[Context], bool]], Callable[[Context], bool]]:
    """Register a named applicability condition (`applies:` in indicators.yaml)."""

    def deco(fn: Callable[[Context], bool]) -> Callable[[Context], bool]:
        CONDITIONS[name] = fn
        return fn

    return deco


# ---------------------------------------------------------------- conditions

@condition("operator_speaks")
def _operator_speaks(ctx: Context) -> bool:
    return any(t.speaker == "operator" and t.text.strip() for t in ctx.transcript.turns)


@condition("client_speaks")
def _client_speaks(ctx: Context) -> bool:
    return any(t.speaker == "client" and t.text.strip() for t in ctx.transcript.turns)


@condition("difficult")
def _difficult(ctx: Context) -> bool:
    return ctx.difficult


@condition("sentiment_available")
def _sentiment(ctx: Context) -> bool:
    return ctx.signals.sentiment.client_start is not None and ctx.signals.sentiment.client_end is not None


@condition("loudness_available")
def _loudness(ctx: Context) -> bool:
    return ctx.signals.loudness.operator is not None


@condition("script_defined")
def _script(ctx: Context) -> bool:
    return bool(ctx.signals.script.stages)


@condition("script_applies")
def _script_applies(ctx: Context) -> bool:
    """Not a one-sided recording or a too short call (`signals.script.not_applicable` says why)."""
    return not ctx.signals.script.not_applicable


@condition("glossary_defined")
def _glossary(ctx: Context) -> bool:
    glossary = ctx.config.section("company").glossary
    return bool(glossary.get(ctx.language))


@condition("has_questions")
def _has_questions(ctx: Context) -> bool:
    return bool(ctx.signals.questions.open or ctx.signals.questions.closed)


# ---------------------------------------------------------------- generic implementations

def _items(ctx: Context, source: str | list[str] | None) -> list[Item]:
    """The items of the list(s) named by `source`, once each (the same moment in two lists counts once)."""
    names = [source] if isinstance(source, str) else list(source or [])
    out: list[Item] = []
    seen: set[tuple[Any, Any]] = set()
    for name in names:
        for it in ctx.signals.items(name):
            key = (it.get("start"), it.get("quote"))
            if key not in seen:
                seen.add(key)
                out.append(it)
    return out


@indicator("count", reads="list")
def count(ctx: Context, spec: Any) -> Measurement:
    """Number of items in the list(s) named by `source`; the items are the evidence."""
    items = _items(ctx, spec.source)
    return Measurement(float(len(items)), evidence_list(items, ctx.transcript))


@indicator("number", reads="number")
def number(ctx: Context, spec: Any) -> Measurement:
    """The number signal named by `source` (or the language's `source_by_language`; null when
    absent); evidence from `evidence_from`."""
    source = spec.source_by_language.get(ctx.language, spec.source)
    v = ctx.signals.number(source)
    if v is None:
        return Measurement(None, note=f"no signal {source}")
    return Measurement(v, ctx.evidence_from(spec.evidence_from))


# ---------------------------------------------------------------- specific implementations

def _questions(ctx: Context) -> list[Evidence]:
    q = ctx.signals.questions
    return sorted(ctx.evidence(q.open) + ctx.evidence(q.closed), key=lambda e: e.start)


@indicator("questions_before_solution")
def questions_before_solution(ctx: Context, spec: Any) -> Measurement:
    """Open and clarifying questions asked before the first solution phrase."""
    solution = ctx.signals.first_solution_s
    qs = [q for q in _questions(ctx) if solution is None or q.start < solution]
    n = ctx.signals.questions.before_solution
    return Measurement(float(len(qs) if n is None else n), qs)


@indicator("time_to_first_question")
def time_to_first_question(ctx: Context, spec: Any) -> Measurement:
    qs = _questions(ctx)
    first = ctx.signals.questions.first_question_s
    if first is None and qs:
        first = qs[0].start
    if first is None:
        return Measurement(None, note="no operator question")
    # from the conversation's first word: not the queue or ringback the recording holds before the pickup
    return Measurement(max(0.0, float(first) - ctx.transcript.conversation_span()[0]), qs[:1])


@indicator("operator_interruptions")
def operator_interruptions(ctx: Context, spec: Any) -> Measurement:
    """How often the operator interrupted the client."""
    inter = ctx.signals.interruptions
    if not inter.measured:  # mono without overlap detection: never a free score
        return Measurement(None, note=f"interruptions not measured: {inter.reason}")
    items = inter.by("operator")
    n = inter.by_operator
    if n is None and not items:  # only some overlaps found (embedded mono): none found is no evidence of none
        return Measurement(None, note=f"no interruption by the operator found, which does not show there was "
                                      f"none: {inter.reason}")
    return Measurement(float(len(items) if n is None else n), ctx.evidence(items))


@indicator("sentiment_improvement")
def sentiment_improvement(ctx: Context, spec: Any) -> Measurement:
    """Client sentiment end minus start; a call that ends positive scores high even
    when it started positive (params end_zero / end_full scale the end value)."""
    start, end = ctx.signals.sentiment.client_start, ctx.signals.sentiment.client_end
    if start is None or end is None:
        return Measurement(None, note="no client sentiment")
    delta = end - start
    by_delta = spec.scale.score(delta, ctx.language)
    ez, ef = spec.params.get("end_zero", 0.0), spec.params.get("end_full", 0.5)
    by_end = min(1.0, max(0.0, (end - ez) / (ef - ez))) if ef != ez else 0.0
    client = ctx.signals.sentiment.turns("client", scored=False)
    ev = ctx.evidence([client[0], client[-1]] if len(client) > 1 else client)
    return Measurement(delta, ev, score=max(by_delta, by_end))


def _after_pressure(ctx: Context, evs: Iterable[Evidence]) -> list[Evidence]:
    t0 = ctx.pressure.start if ctx.pressure else 0.0
    return [e for e in evs if e.end >= t0]


@indicator("calm_under_pressure")
def calm_under_pressure(ctx: Context, spec: Any) -> Measurement:
    """The operator's mean turn sentiment once the client turned negative.

    Turns with an empathy phrase are left out when `params.skip_empathy` is set:
    acknowledging the client's feelings ("I understand how frustrating this is")
    echoes negative words by design, and is the calm response."""
    ops = ctx.signals.sentiment.turns("operator")
    t0 = ctx.pressure.start if ctx.pressure else 0.0
    after = [pt for pt in ops if float(pt.get("end", pt.get("start", 0))) >= t0] or ops
    if spec.params.get("skip_empathy", 0):
        emp = ctx.evidence(ctx.signals.phrases.get("empathy", ()))
        empathic = {e.turn for e in emp if e.turn is not None}
        empathic |= {i for i, t in enumerate(ctx.transcript.turns)
                     if t.speaker == "operator" and any(t.start <= e.start < t.end for e in emp)}
        after = [pt for pt in after if pt.get("turn") not in empathic]
    if not after:
        mean = ctx.signals.sentiment.operator_mean
        if mean is None:
            return Measurement(None, note="no operator sentiment")
        return Measurement(mean, ctx.expected_at("pressure_moment"))
    value = sum(float(pt["score"]) for pt in after) / len(after)
    low = min(after, key=lambda pt: pt["score"])
    ev = ctx.expected_at("pressure_moment") + ctx.evidence([low])
    return Measurement(value, ev)


@indicator("interruptions_under_pressure")
def interruptions_under_pressure(ctx: Context, spec: Any) -> Measurement:
    inter = ctx.signals.interruptions
    if not inter.measured:
        return Measurement(None, note=f"interruptions not measured: {inter.reason}")
    ev = _after_pressure(ctx, ctx.evidence(inter.by("operator")))
    if not ev and inter.reason:  # only some overlaps found (embedded mono): none found is no evidence of none
        return Measurement(None, note=f"no interruption by the operator found under pressure, which does not show "
                                      f"there was none: {inter.reason}")
    return Measurement(float(len(ev)), ev)


@indicator("raised_voice_under_pressure")
def raised_voice_under_pressure(ctx: Context, spec: Any) -> Measurement:
    ev = _after_pressure(ctx, ctx.evidence(ctx.signals.loudness.raised("operator")))
    return Measurement(float(len(ev)), ev)


@indicator("said_under_pressure", reads="list")
def said_under_pressure(ctx: Context, spec: Any) -> Measurement:
    """Items of the list(s) named by `source` (e.g. conflict and forbidden phrases) said
    from the moment of pressure on."""
    ev = _after_pressure(ctx, ctx.evidence(_items(ctx, spec.source)))
    return Measurement(float(len(ev)), ev)


@indicator("script_order")
def script_order(ctx: Context, spec: Any) -> Measurement:
    """Share of the found script stages that came in order and in their time window."""
    found = [s for s in ctx.signals.script.stages if s.get("found")]
    if not found:
        return Measurement(None, note="no script stage found")
    good = [s for s in found if s.get("in_order", True) and s.get("in_window", True)]
    bad = [s for s in found if s not in good]
    return Measurement(len(good) / len(found), ctx.evidence(bad or good))


@indicator("bare_dont_know")
def bare_dont_know(ctx: Context, spec: Any) -> Measurement:
    """Forbidden-phrase hits that are a bare "don't know" (ids listed in `match`),
    i.e. not followed by a promise to find out (those are `phrases.dont_know_followed`)."""
    wanted = set(spec.match)
    items = [i for i in ctx.signals.forbidden_phrases
             if i.get("id") in wanted or any(m in (i.get("quote") or "").lower() for m in wanted)]
    return Measurement(float(len(items)), ctx.evidence(items))


# ---------------------------------------------------------------- evaluation

def score_indicator(iid: str, spec: Any, ctx: Context) -> IndicatorScore:
    """One configured indicator on one call."""
    for cond in spec.applies:
        if not CONDITIONS[cond](ctx):
            why = ctx.signals.script.not_applicable if cond == "script_applies" else None
            return IndicatorScore(iid, None, None, (), spec.numeric,
                                  note=f"not applicable: {cond}" + (f" ({why})" if why else ""))
    m = REGISTRY[spec.compute or iid](ctx, spec)
    if m.value is None:
        return IndicatorScore(iid, None, None, (), spec.numeric, note=m.note or "not applicable")
    score = m.score if m.score is not None else spec.scale.score(m.value, ctx.language)
    ev = list(m.evidence)[: spec.max_evidence]
    absence = False
    if not ev and spec.expected_at in ("checked", "checked_client"):
        ev, absence = ctx.checked("client" if spec.expected_at == "checked_client" else "operator", m.value), True
    elif not ev:
        ev = ctx.expected_at(spec.expected_at)
    return IndicatorScore(iid, m.value, score, tuple(ev), spec.numeric, note=m.note, absence=absence)


def build_context(signals: Any, transcript: Transcript, meta: CallMeta, language: str,
                  config: Any, asr_no_words: Mapping[str, Any] | None = None) -> Context:
    """`signals`: a CallSignals, its serialized dict (CONTRACTS.md) or a SignalsView."""
    signals = SignalsView.of(signals)
    rule = config.section("indicators").difficult
    difficulty = assess_difficulty(signals, rule)
    return Context(signals=signals, transcript=transcript, meta=meta, language=language, config=config,
                   difficult=difficulty.difficult, pressure=pressure_moment(signals, transcript, rule),
                   difficulty=difficulty, asr_no_words=asr_no_words)


def score_indicators(ctx: Context, ids: Iterable[str] | None = None) -> list[IndicatorScore]:
    """Every configured indicator (or those in `ids`), in configuration order."""
    from callqa.pipeline.speech.roles import role_uncertainty

    items = ctx.config.section("indicators").items
    wanted = set(ids) if ids is not None else None
    # Every indicator measures the operator (or the client's response to them): with roles
    # that cannot be told apart none is scored, and each says why (flag role_uncertain).
    uncertain = role_uncertainty(ctx.transcript, ctx.config)
    if not any(t.text.strip() for t in ctx.transcript.turns):
        # Silence, noise, a dead line: there is no operator to score (not a script score of 0; flag no_speech).
        uncertain = "no_speech: no speech was transcribed in this recording, so there is nothing to score"
        if ctx.asr_no_words:  # speech was there, the model wrote nothing: say that, not "no speech"
            uncertain = f"asr_no_words: {ctx.asr_no_words.get('note')}; nothing to score"
    elif uncertain is None and not any(t.text.strip() for t in ctx.transcript.turns if t.speaker == "operator"):
        # Only the client speaks (a message left for the company, a caller into an empty line): the
        # operator said nothing, so nothing measures them; the client's words are no response to them.
        uncertain = ("operator_silent: the operator says no transcribed word in this call (a client's message, "
                     "or an operator side the ASR lost), so there is nothing of theirs to score")
    if uncertain is None:
        spoken = [t for t in ctx.transcript.turns if t.text.strip()]
        length = max(t.end for t in spoken) - min(t.start for t in spoken)
        min_s = ctx.config.section("indicators").min_conversation_s
        if min_s > 0 and length < min_s:
            # A wrong number, a dropped call: a few seconds say nothing of how the operator works, and
            # zeros for questions or resolution would pull their grades down.
            uncertain = (f"too_short: a conversation of {length:.1f} s, shorter than indicators.min_conversation_s "
                         f"({min_s:g} s): a wrong number or a dropped call, too little to score")
    if uncertain is not None:
        return [IndicatorScore(iid, None, None, (), spec.numeric, note=uncertain)
                for iid, spec in items.items() if wanted is None or iid in wanted]
    return [score_indicator(iid, spec, ctx) for iid, spec in items.items() if wanted is None or iid in wanted]
