"""Typed read access to one call's signals, for indicators, flags and nominations.

    view = SignalsView.of(signals)       # a CallSignals, its serialized dict, or anything with serialize()
    view.sentiment.client_end            # float | None
    view.interruptions.by("operator")    # the operator's interruptions (evidence items)
    view.phrases["empathy"]              # evidence items

The view is built from the serialized section (CONTRACTS.md `signals`, rounded as
stored), so an analysis scored now and a rescore of the stored result read the
same numbers. Missing parts read as unknown (None) or empty: hand-built and older
results lack some of them.

Configurations name signals by their dotted path in that section
(`source: questions.open`, `evidence_from: filler_words.items`). The names that
exist are listed here, each with a typed accessor: `NUMBERS` (a number or None)
and `LISTS` (evidence items). A name outside them is a configuration error,
found when the configuration is loaded (`check_signal_name`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from callqa.pipeline.signals.settings import PHRASE_KINDS

Item = Mapping[str, Any]  # one evidence item: start, end, speaker, quote, turn?, id?, ...
Items = tuple[Item, ...]

__all__ = ["Item", "Items", "SignalsView", "PerSpeaker", "Interruptions", "Sentiment", "Loudness", "Script",
           "Questions", "Fillers", "Latency", "Untranscribed", "NUMBERS", "LISTS", "check_signal_name"]


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _items(x: Any) -> Items:
    if isinstance(x, Mapping):
        return (x,)
    if isinstance(x, (list, tuple)):
        return tuple(i for i in x if isinstance(i, Mapping))
    return ()


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


# How a field of a record is read from its serialized value, by its declared type.
_READ: dict[str, Callable[[Any], Any]] = {
    "float | None": _num,
    "Items": _items,
    "Item | None": lambda x: x if isinstance(x, Mapping) else None,
    "str | None": lambda x: x if isinstance(x, str) else None,
    "bool": lambda x: x is not False,  # a flag that holds unless the result says false
    "Mapping[str, Items]": lambda x: {str(k): _items(v) for k, v in _map(x).items()},
}


class _Record:
    """A typed record of the serialized signals: `of(value)` reads each field under its own name."""

    @classmethod
    def of(cls, d: Any) -> Any:
        d = _map(d)
        kw = {}
        for f in fields(cls):  # type: ignore[arg-type]
            read = _READ.get(f.type) or _RECORDS[f.type].of
            kw[f.name] = read(d.get(f.name))
        return cls(**kw)


@dataclass(frozen=True)
class PerSpeaker(_Record):
    operator: float | None = None
    client: float | None = None


@dataclass(frozen=True)
class Interruptions(_Record):
    by_operator: float | None = None
    by_client: float | None = None
    items: Items = ()
    measured: bool = True  # false: mono without overlap detection (unknown, not zero)
    reason: str | None = None  # why not measured, or why a side's null count (none found) is unknown, not zero

    def by(self, who: str) -> list[Item]:
        """Interruptions where `who` came in."""
        return [i for i in self.items if i.get("by") == who]


@dataclass(frozen=True)
class Sentiment(_Record):
    client_start: float | None = None
    client_end: float | None = None
    operator_mean: float | None = None
    per_turn: Items = ()  # {turn, speaker, start, end, score}

    def turns(self, speaker: str, *, scored: bool = True) -> list[Item]:
        """`speaker`'s turns (with a score, unless `scored` is false), in time order."""
        return [pt for pt in self.per_turn if pt.get("speaker") == speaker and (not scored or pt.get("score") is not None)]


@dataclass(frozen=True)
class Loudness(_Record):
    operator: float | None = None
    client: float | None = None
    raised_voice: Items = ()

    def raised(self, speaker: str) -> list[Item]:
        return [i for i in self.raised_voice if i.get("speaker") == speaker]


@dataclass(frozen=True)
class Script(_Record):
    compliance: float | None = None
    not_applicable: str | None = None  # why the script does not apply to this call (a wrong number, a voicemail)
    stages: Items = ()  # {id, found, required, start, end, quote, in_order, in_window, ...}


@dataclass(frozen=True)
class Questions(_Record):
    open: Items = ()
    closed: Items = ()
    first_question_s: float | None = None
    before_solution: float | None = None


@dataclass(frozen=True)
class Fillers(_Record):
    count: float | None = None
    per_100_words: float | None = None
    items: Items = ()


@dataclass(frozen=True)
class Latency(_Record):
    mean: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Untranscribed(_Record):
    """Speech the audio measures heard with no transcribed word (None: not measured)."""
    seconds: float | None = None
    speech_s: float | None = None
    share: float | None = None
    spans: Items = ()  # the longest stretches: start, end, speaker


@dataclass(frozen=True)
class SignalsView(_Record):
    """One call's signals, typed (see the module docstring)."""

    talk_time_s: PerSpeaker = PerSpeaker()
    talk_ratio_operator: float | None = None
    silence_s: float | None = None
    longest_silence_s: float | None = None
    longest_silence: Item | None = None
    interruptions: Interruptions = Interruptions()
    speech_rate_wpm: PerSpeaker = PerSpeaker()
    syllables_per_s: PerSpeaker = PerSpeaker()
    words: PerSpeaker = PerSpeaker()
    filler_words: Fillers = Fillers()
    script: Script = Script()
    forbidden_phrases: Items = ()
    escalations: Items = ()
    sentiment: Sentiment = Sentiment()
    loudness: Loudness = Loudness()
    longest_monologue_s: PerSpeaker = PerSpeaker()
    longest_monologue: Item | None = None
    response_latency_s: Latency = Latency()
    questions: Questions = Questions()
    first_solution_s: float | None = None
    phrases: Mapping[str, Items] = field(default_factory=dict)
    untranscribed: Untranscribed = Untranscribed()

    @classmethod
    def of(cls, signals: Any) -> "SignalsView":
        """The view of a CallSignals, its serialized dict, an object with `serialize()`, or None."""
        if isinstance(signals, SignalsView):
            return signals
        if signals is not None and not isinstance(signals, Mapping):
            signals = signals.serialize()
        return super().of(signals)

    def number(self, name: str) -> float | None:
        """The number a configuration names (`NUMBERS`); KeyError for an unknown name."""
        return NUMBERS[name](self)

    def items(self, name: str) -> Items:
        """The evidence items a configuration names (`LISTS`); KeyError for an unknown name."""
        return LISTS[name](self)


_RECORDS: dict[str, type[_Record]] = {c.__name__: c for c in (PerSpeaker, Interruptions, Sentiment, Loudness, Script,
                                                             Questions, Fillers, Latency, Untranscribed)}


def _per_speaker(attr: str) -> dict[str, Callable[[SignalsView], float | None]]:
    return {f"{attr}.operator": lambda s: getattr(s, attr).operator,
            f"{attr}.client": lambda s: getattr(s, attr).client}


# The signals a configuration may name, by their path in the serialized section.
NUMBERS: dict[str, Callable[[SignalsView], float | None]] = {
    **_per_speaker("talk_time_s"),
    "talk_ratio_operator": lambda s: s.talk_ratio_operator,
    "silence_s": lambda s: s.silence_s,
    "longest_silence_s": lambda s: s.longest_silence_s,
    "interruptions.by_operator": lambda s: s.interruptions.by_operator,
    "interruptions.by_client": lambda s: s.interruptions.by_client,
    **_per_speaker("speech_rate_wpm"),
    **_per_speaker("syllables_per_s"),
    **_per_speaker("words"),
    "filler_words.count": lambda s: s.filler_words.count,
    "filler_words.per_100_words": lambda s: s.filler_words.per_100_words,
    "script.compliance": lambda s: s.script.compliance,
    "sentiment.client_start": lambda s: s.sentiment.client_start,
    "sentiment.client_end": lambda s: s.sentiment.client_end,
    "sentiment.operator_mean": lambda s: s.sentiment.operator_mean,
    "loudness.operator": lambda s: s.loudness.operator,
    "loudness.client": lambda s: s.loudness.client,
    **_per_speaker("longest_monologue_s"),
    "response_latency_s.mean": lambda s: s.response_latency_s.mean,
    "response_latency_s.max": lambda s: s.response_latency_s.max,
    "questions.first_question_s": lambda s: s.questions.first_question_s,
    "questions.before_solution": lambda s: s.questions.before_solution,
    "first_solution_s": lambda s: s.first_solution_s,
    "untranscribed.seconds": lambda s: s.untranscribed.seconds,
    "untranscribed.share": lambda s: s.untranscribed.share,
}

LISTS: dict[str, Callable[[SignalsView], Items]] = {
    "longest_silence": lambda s: _items(s.longest_silence),
    "interruptions.items": lambda s: s.interruptions.items,
    "filler_words.items": lambda s: s.filler_words.items,
    "script.stages": lambda s: s.script.stages,
    "forbidden_phrases": lambda s: s.forbidden_phrases,
    "escalations": lambda s: s.escalations,
    "sentiment.per_turn": lambda s: s.sentiment.per_turn,
    "loudness.raised_voice": lambda s: s.loudness.raised_voice,
    "longest_monologue": lambda s: _items(s.longest_monologue),
    "questions.open": lambda s: s.questions.open,
    "questions.closed": lambda s: s.questions.closed,
    "untranscribed.spans": lambda s: s.untranscribed.spans,
    **{f"phrases.{kind}": (lambda s, kind=kind: s.phrases.get(kind, ())) for kind in PHRASE_KINDS},
}


def check_signal_name(name: Any, kind: str | None = None) -> str:
    """`name` when it is a signal of `kind` ('number', 'list'; None: either); else a ValueError
    naming it, the known names of that kind and the closest one."""
    tables = {"number": NUMBERS, "list": LISTS}
    known = list(tables[kind]) if kind else [*NUMBERS, *LISTS]
    if isinstance(name, str) and name in known:
        return name
    whats = {"number": "number signal", "list": "list of evidence items", None: "signal"}
    what = whats[kind]
    other = [k for k in tables if k != kind and kind is not None and isinstance(name, str) and name in tables[k]]
    if other:
        return _fail(f"{name!r} is a {whats[other[0]]}, not a {what}", known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return _fail(f"unknown {what} {name!r}{hint}", known)


def _fail(msg: str, known: list[str]) -> str:
    raise ValueError(f"{msg}; known: {', '.join(sorted(known))}")
