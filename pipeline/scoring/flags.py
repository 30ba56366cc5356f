"""Flags for the supervisor's review queue: each with a severity, a reason (in the
call's language, templates in `configs/flags.yaml`) and the exact moments.

A rule is a function registered with `@rule("id")` that returns the evidence
and template values when the flag is raised, or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from callqa.pipeline import severity as sev
from callqa.pipeline.scoring.indicators import Context, to_evidence
from callqa.pipeline.types import Evidence


@dataclass(frozen=True)
class Flag:
    id: str
    severity: str  # a word of the one scale (pipeline/severity.py): info | low | medium | high | critical
    reason: str
    evidence: tuple[Evidence, ...] = ()

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "reason": self.reason,
                "evidence": [e.serialize() for e in self.evidence]}


@dataclass(frozen=True)
class Hit:
    evidence: list[Evidence]
    values: dict[str, Any]


RuleFn = Callable[[Context, Any], "Hit | None"]
RULES: dict[str, RuleFn | None] = {}


def rule(name: str) -> Callable[[RuleFn], RuleFn]:
    def deco(fn: RuleFn) -> RuleFn:
        RULES[name] = fn
        return fn

    return deco


def _quotes(evs: list[Evidence], n: int = 3) -> str:
    return "; ".join(f"«{e.quote}»" for e in evs[:n] if e.quote)


@rule("forbidden_phrase")
def _forbidden(ctx: Context, r: Any) -> Hit | None:
    evs = ctx.evidence(ctx.signals.forbidden_phrases)
    return Hit(evs, {"count": len(evs), "quotes": _quotes(evs)}) if evs else None


@rule("escalation")
def _escalation(ctx: Context, r: Any) -> Hit | None:
    evs = ctx.evidence(ctx.signals.escalations)
    return Hit(evs, {"count": len(evs), "quotes": _quotes(evs)}) if evs else None


@rule("negative_end")
def _negative_end(ctx: Context, r: Any) -> Hit | None:
    end = ctx.signals.sentiment.client_end
    threshold = r.threshold if r.threshold is not None else -0.3
    if end is None or end >= threshold:
        return None
    client = ctx.signals.sentiment.turns("client", scored=False)
    evs = ctx.evidence(client[-1:]) or ctx.expected_at("longest_client_turn")
    return Hit(evs, {"value": round(end, 2), "quotes": _quotes(evs)})


@rule("long_silence")
def _long_silence(ctx: Context, r: Any) -> Hit | None:
    longest = ctx.signals.longest_silence_s
    threshold = r.threshold if r.threshold is not None else 20.0
    if longest is None or longest < threshold:
        return None
    ev = to_evidence(ctx.signals.longest_silence, ctx.transcript)
    return Hit([ev] if ev else [], {"value": round(longest, 1)})


@rule("script_missing")
def _script_missing(ctx: Context, r: Any) -> Hit | None:
    if ctx.signals.script.not_applicable:  # a wrong number, a voicemail: no script to follow
        return None
    stages = ctx.signals.script.stages
    missing = [i for i, s in enumerate(stages) if s.get("required", True) and not s.get("found")]
    if not missing:
        return None
    ops = [t for t in ctx.transcript.turns if t.speaker == "operator"]
    call_start = ops[0].start if ops else 0.0
    call_end = ops[-1].end if ops else ctx.transcript.duration_s
    evs: list[Evidence] = []
    for i in missing:
        # Expected between the found stages around it.
        before = [s for s in stages[:i] if s.get("found") and s.get("start") is not None]
        after = [s for s in stages[i + 1:] if s.get("found") and s.get("start") is not None]
        start = float(before[-1].get("end") or before[-1]["start"]) if before else call_start
        end = float(after[0]["start"]) if after else call_end
        evs.append(Evidence(start=min(start, end), end=max(start, end), speaker="operator",
                            quote=f"[{stages[i].get('id')}]"))
    return Hit(evs, {"stages": ", ".join(str(stages[i].get("id")) for i in missing), "count": len(missing)})


@rule("low_asr_confidence")
def _low_asr(ctx: Context, r: Any) -> Hit | None:
    turns = [(i, t) for i, t in enumerate(ctx.transcript.turns) if t.avg_logprob is not None]
    if not turns:
        return None  # imported transcripts carry no confidence
    threshold = r.threshold if r.threshold is not None else ctx.config.section("models").asr.low_confidence_logprob
    total = sum(t.duration for _, t in turns)
    mean = (sum(t.avg_logprob * t.duration for _, t in turns) / total if total > 0
            else sum(t.avg_logprob for _, t in turns) / len(turns))
    if mean >= threshold:
        return None
    worst = sorted((p for p in turns if p[1].avg_logprob < threshold), key=lambda p: p[1].avg_logprob)
    evs = sorted((Evidence(t.start, t.end, t.speaker, t.text[:240], turn=i) for i, t in worst), key=lambda e: e.start)
    return Hit(evs, {"value": round(mean, 2), "threshold": threshold})


UNTRANSCRIBED_MIN_S = 5.0  # untranscribed_speech: at least this much speech without words


@rule("untranscribed_speech")
def _untranscribed(ctx: Context, r: Any) -> Hit | None:
    """A share (`threshold`, default 0.25) of the speech the audio heard, `UNTRANSCRIBED_MIN_S` or more, has no
    transcribed word (`signals.untranscribed`): whatever was said there is neither read nor scored. A
    call without any word is no_speech or asr_no_words instead."""
    u = ctx.signals.untranscribed
    threshold = r.threshold if r.threshold is not None else 0.25
    if u.share is None or u.seconds is None or u.share < threshold or u.seconds < UNTRANSCRIBED_MIN_S:
        return None
    evs = [Evidence(float(i["start"]), float(i["end"]), i.get("speaker"), "") for i in u.spans
           if i.get("start") is not None and i.get("end") is not None]
    return Hit(evs, {"value": round(u.share * 100), "seconds": round(u.seconds), "speech_s": round(u.speech_s or 0.0),
                     "threshold": round(threshold * 100)})


@rule("raised_voice")
def _raised_voice(ctx: Context, r: Any) -> Hit | None:
    evs = ctx.evidence(ctx.signals.loudness.raised("operator"))
    return Hit(evs, {"count": len(evs)}) if evs else None


@rule("operator_interruptions")
def _interruptions(ctx: Context, r: Any) -> Hit | None:
    items = ctx.signals.interruptions.by("operator")
    n = ctx.signals.interruptions.by_operator
    n = len(items) if n is None else int(n)
    threshold = r.threshold if r.threshold is not None else 3
    if n < threshold:
        return None
    return Hit(ctx.evidence(items), {"count": n})


@rule("role_uncertain")
def _role_uncertain(ctx: Context, r: Any) -> Hit | None:
    """Mono roles told apart with too little confidence (pipeline/speech/roles.py): the first
    turn of each side is where the assignment was made."""
    from callqa.pipeline.speech.roles import role_uncertainty

    if role_uncertainty(ctx.transcript, ctx.config) is None:
        return None
    tr = ctx.transcript
    firsts = {}
    for i, t in enumerate(tr.turns):
        if t.text.strip() and t.speaker not in firsts:
            firsts[t.speaker] = i
    for i, t in enumerate(tr.turns):  # a voice without credible words: its first turn, without a quote
        firsts.setdefault(t.speaker, i)
    evs = [Evidence(tr.turns[i].start, tr.turns[i].end, tr.turns[i].speaker, tr.turns[i].text[:240], turn=i)
           for i in sorted(firsts.values())]
    threshold = ctx.config.section("role_assignment").min_confidence
    return Hit(evs, {"value": round(float(tr.role_confidence), 3), "threshold": threshold})


@rule("no_speech")
def _no_speech(ctx: Context, r: Any) -> Hit | None:
    """A recording without a transcribed word (silence, noise, a dead line, a language no model serves):
    worth a look, never a script failure."""
    if ctx.asr_no_words or any(t.text.strip() for t in ctx.transcript.turns):
        return None  # speech the model wrote no words for is asr_no_words
    return Hit([Evidence(0.0, float(ctx.transcript.duration_s), None, "")],
               {"value": round(float(ctx.transcript.duration_s), 1)})


@rule("asr_no_words")
def _asr_no_words(ctx: Context, r: Any) -> Hit | None:
    """The VAD found speech but the ASR wrote (almost) no words (pipeline/speech/transcribe.py
    `speech_without_words`): most likely a language the configured model does not serve."""
    n = ctx.asr_no_words
    if not n:
        return None
    return Hit([Evidence(0.0, float(ctx.transcript.duration_s), None, str(n.get("text") or "")[:240])],
               {"value": n.get("speech_s"), "model": n.get("model"), "language": n.get("language"),
                "words": n.get("words")})


RULES["processing_error"] = None  # raised by the batch layer through processing_error_flag()
RULES["category"] = None  # `category:ID`, raised per category with a severity by pipeline/scoring/categories.py


def _reason(r: Any, lang: str, values: dict[str, Any]) -> str:
    template = r.reason.get(lang)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


# Rules that say who did what (the operator's phrase, the client's escalation): on a call whose roles could
# not be told apart they would blame the wrong person, so only `role_uncertain` is raised instead.
ROLE_BOUND = frozenset({"forbidden_phrase", "escalation", "negative_end", "script_missing", "raised_voice",
                        "operator_interruptions"})


def evaluate_flags(ctx: Context) -> list[Flag]:
    """Every enabled rule on one call, most severe first."""
    from callqa.pipeline.speech.roles import role_uncertainty

    cfg = ctx.config.section("flags")
    uncertain = role_uncertainty(ctx.transcript, ctx.config) is not None
    speech = any(t.text.strip() for t in ctx.transcript.turns)
    out: list[Flag] = []
    for fid, fn in RULES.items():
        r = cfg.root.get(fid)
        if fn is None or r is None or not r.enabled or (uncertain and fid in ROLE_BOUND):
            continue
        if not speech and fid not in ("no_speech", "asr_no_words", "role_uncertain"):
            # without words only no_speech / asr_no_words is said (no "every script stage missing"), and
            # role_uncertain where speech without words is attributed to voices whose roles are not known
            continue
        hit = fn(ctx, r)
        if hit is None:
            continue
        out.append(Flag(fid, r.severity, _reason(r, ctx.language, hit.values), tuple(hit.evidence[: r.max_evidence])))
    return sorted(out, key=lambda f: (-sev.rank(f.severity), f.evidence[0].start if f.evidence else 0.0))


def processing_error_flag(path: str, reason: str, config: Any = None, lang: str = "en") -> Flag:
    """A failed call, for the batch layer's records: the file and why it failed."""
    severity, text = "high", "{path}: {error}"
    if config is not None:
        r = config.section("flags").root.get("processing_error")
        if r is not None:
            severity, text = r.severity, r.reason.get(lang)
    values = {"path": str(path), "error": reason}
    try:
        message = text.format(**values)
    except (KeyError, IndexError, ValueError):
        message = f"{path}: {reason}"
    return Flag("processing_error", severity, message, ())


def worst_severity(flags: list[dict[str, Any]] | list[Flag]) -> str | None:
    """The most severe flag's severity (pipeline/severity.py scale); None without flags."""
    return sev.worst(f.severity if isinstance(f, Flag) else f.get("severity") for f in flags)


__all__ = ["Flag", "RULES", "ROLE_BOUND", "evaluate_flags", "processing_error_flag", "worst_severity"]
