"""Plain typed records shared by every stage of the pipeline.

Times are seconds on the original recording's timeline. Records are frozen:
a stage returns new records instead of mutating the ones it was given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, TypeVar

Speaker = Literal["operator", "client"]
SPEAKERS: tuple[str, str] = ("operator", "client")
# hook(step, completed=None, total=None): progress reporting (the CLI's bar, the flow's logs).
Hook = Callable[..., None]


def no_progress(step: str, completed: int | None = None, total: int | None = None) -> None:
    """The default progress hook: reports nothing."""
    return None


ROLES = ("inbound", "outbound", "support", "team_lead")
DIRECTIONS = ("inbound", "outbound")
LANGUAGES = ("ru", "en")


T = TypeVar("T", int, float)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def joined(spans: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """The spans `(start, end)` in order, those that overlap or touch joined into one."""
    out: list[tuple[T, T]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def uncovered(spans: Iterable[tuple[float, float]], taken: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of the time spans `spans` (s) that no interval of `taken` covers, in time order
    (`taken` may overlap itself and need not be sorted)."""
    cover = sorted(taken)
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        at = a
        for c, d in cover:
            if d <= at:
                continue
            if c >= b:
                break
            if c > at:
                out.append((at, c))
            at = max(at, d)
            if at >= b:
                break
        if at < b:
            out.append((at, b))
    return out


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float = 1.0

    def serialize(self) -> dict[str, Any]:
        return {"text": self.text, "start": _r(self.start), "end": _r(self.end),
                "probability": _r(self.probability)}


@dataclass(frozen=True)
class Turn:
    """One speaker's continuous stretch of speech."""

    speaker: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    channel: int | None = None  # source channel for stereo input
    avg_logprob: float | None = None  # ASR confidence, when transcribed here

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def serialize(self) -> dict[str, Any]:
        d: dict[str, Any] = {"speaker": self.speaker, "start": _r(self.start), "end": _r(self.end),
                             "text": self.text}
        if self.words:
            d["words"] = [w.serialize() for w in self.words]
        if self.channel is not None:
            d["channel"] = self.channel
        if self.avg_logprob is not None:
            d["avg_logprob"] = _r(self.avg_logprob)
        return d


@dataclass(frozen=True)
class Transcript:
    turns: tuple[Turn, ...]
    language: str
    duration_s: float
    role_confidence: float | None = None  # how sure the operator/client assignment is (0..1)
    role_method: str | None = None  # channel_map | channel_cues | script_cue | direction | speaking_pattern | single_speaker | import
    role_evidence: tuple[tuple[str, float], ...] = ()  # mono, or stereo where the words weighed against the map: (kind, log-odds for the assignment; < 0 against)
    overlap_note: str | None = None  # mono: why overlapping speech could not be measured (interruptions null)
    overlap_partial: str | None = None  # mono: why a side with no overlap found is unknown, not zero (its count null)

    def serialize(self) -> dict[str, Any]:
        d: dict[str, Any] = {"turns": [t.serialize() for t in self.turns]}
        if self.role_method is not None:
            d["role_method"] = self.role_method
            d["role_confidence"] = _r(self.role_confidence)
        if self.role_evidence:
            d["role_evidence"] = {k: _r(v) for k, v in self.role_evidence}
        if self.overlap_note:
            d["overlap_note"] = self.overlap_note
        if self.overlap_partial:
            d["overlap_partial"] = self.overlap_partial
        return d

    def speaker_turns(self, speaker: str) -> list[Turn]:
        return [t for t in self.turns if t.speaker == speaker]

    def conversation_span(self) -> tuple[float, float]:
        """From the first word said to the end of the last (the turns with text): the call as the two
        sides had it, without what the recording holds before the pickup (a queue, ringback) or after
        the hang-up. The whole recording when no turn has text."""
        said = [t for t in self.turns if t.text.strip()]
        if not said:
            return 0.0, max([self.duration_s] + [t.end for t in self.turns])
        return min(t.start for t in said), max(t.end for t in said)


@dataclass(frozen=True)
class CallMeta:
    """Metadata about a call (CONTRACTS.md, "Metadata sidecar"); every field optional."""

    call_id: str | None = None
    operator_id: str | None = None
    team: str | None = None
    role: str | None = None
    direction: str | None = None
    started_at: str | None = None
    language: str | None = None
    channel_map: tuple[str, ...] | None = None  # speaker per channel, e.g. ("operator", "client")
    scenario: str | None = None
    swap_roles: bool = False  # force operator <-> client after assignment
    num_speakers: int | None = None  # mono: exactly this many speakers (else estimated, models.diarization)

    def merged(self, other: CallMeta | None) -> CallMeta:
        """Fields set in `other` win over ours."""
        if other is None:
            return self
        updates = {k: v for k, v in asdict(other).items() if v not in (None, False)}
        return replace(self, **updates)

    def serialize(self) -> dict[str, Any]:
        d = asdict(self)
        if self.channel_map is not None:
            d["channel_map"] = list(self.channel_map)
        return d


@dataclass(frozen=True)
class AudioSource:
    path: str
    sha256: str
    sample_rate: int  # of the original file
    channels: int  # of the original file
    duration_s: float
    format: str | None = None

    def serialize(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "sample_rate": self.sample_rate,
                "channels": self.channels, "duration_s": _r(self.duration_s), "format": self.format}


@dataclass(frozen=True)
class Evidence:
    """Where a value came from: the moment and the words."""

    start: float
    end: float
    speaker: str | None
    quote: str
    turn: int | None = None  # index into transcript.turns

    def serialize(self) -> dict[str, Any]:
        d = {"start": _r(self.start), "end": _r(self.end), "speaker": self.speaker, "quote": self.quote}
        if self.turn is not None:
            d["turn"] = self.turn
        return d


@dataclass(frozen=True)
class ModelInfo:
    asr: str | None = None
    diarization: str | None = None
    sentiment: str | None = None
    nlp: str | None = None

    def serialize(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallResult:
    """Everything known about one call; `serialize()` gives CONTRACTS.md's call result.

    Stages fill it in order (transcript, signals, scores); each later section is
    None until its stage has run.
    """

    call_id: str
    language: str
    duration_s: float
    meta: CallMeta
    source: AudioSource | None
    models: ModelInfo
    config_hash: str
    transcript: Transcript
    signals: Any = None  # pipeline.signals.CallSignals
    difficult: bool | None = None
    difficulty: Any = None  # pipeline.scoring.indicators.Difficulty: why the call is (not) difficult
    indicators: list[Any] = field(default_factory=list)  # pipeline.scoring.indicators.IndicatorScore
    competencies: list[Any] = field(default_factory=list)  # pipeline.scoring.competency.CompetencyScore
    flags: list[Any] = field(default_factory=list)  # pipeline.scoring.flags.Flag
    nominations: list[Any] = field(default_factory=list)  # exemplary-call nominations
    forms: list[Any] = field(default_factory=list)  # pipeline.qa.forms.FormResult: evaluation forms (automatic answers)
    categories: list[Any] = field(default_factory=list)  # pipeline.scoring.categories.CategoryMatch: saved searches found
    processing: dict[str, Any] = field(default_factory=dict)  # timings, versions, warnings
    transcript_id: str | None = None  # pipeline.identity: audio + speech settings
    analysis_id: str | None = None  # pipeline.identity: transcript + analysis settings
    # pipeline.process.TranscriptRecord this analysis was made from (stored by the batch; not serialized)
    transcript_record: Any = field(default=None, repr=False, compare=False)

    SCHEMA_VERSION = 1

    def serialize(self) -> dict[str, Any]:
        def ser(x: Any) -> Any:
            return x.serialize() if hasattr(x, "serialize") else x

        from callqa.pipeline.jsonable import to_plain  # numpy scalars from any stage become plain JSON types

        return to_plain({
            "schema_version": self.SCHEMA_VERSION,
            "call_id": self.call_id,
            "language": self.language,
            "duration_s": _r(self.duration_s),
            "operator_id": self.meta.operator_id,
            "role": self.meta.role,
            "team": self.meta.team,
            "direction": self.meta.direction,
            "started_at": self.meta.started_at,
            "scenario": self.meta.scenario,
            "source": ser(self.source),
            "models": self.models.serialize(),
            "config_hash": self.config_hash,
            "transcript_id": self.transcript_id,
            "analysis_id": self.analysis_id,
            "transcript": self.transcript.serialize(),
            "signals": ser(self.signals),
            "difficult": self.difficult,
            "difficulty": ser(self.difficulty),
            "indicators": [ser(i) for i in self.indicators],
            "competencies": [ser(c) for c in self.competencies],
            "flags": [ser(f) for f in self.flags],
            "nominations": [ser(n) for n in self.nominations],
            "forms": [ser(f) for f in self.forms],
            "categories": [ser(c) for c in self.categories],
            "processing": self.processing,
        })


def call_id_for(path: Path, meta: CallMeta | None) -> str:
    """CONTRACTS.md: from metadata, else the file name without extension."""
    if meta is not None and meta.call_id:
        return meta.call_id
    name = path.name
    for suffix in (".transcript.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
