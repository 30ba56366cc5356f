"""What the signals read from a call's audio, measured once in the transcript stage and stored
with the transcript, so the analysis stage (and `callqa rescore`) never decodes a recording:
the speech level of every turn (loudness) and each speaker's speech as the audio shows it (timing:
talk time): on stereo calls the channels' speech, on mono calls the diarizer's speech segments (VAD
speech split by voice), each diarizer label named by the role the transcript's role assignment gave its
turns. The settings these depend on (`signals.loudness.frame_ms / gate_db / min_turn_s`,
`signals.channel_activity`, `models.diarization`, `role_assignment`) are part of the transcript identity
(pipeline/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from callqa.pipeline.types import CallMeta, Transcript, Turn


@dataclass(frozen=True)
class AudioMeasures:
    """Per turn of the transcript: its speech level in dBFS (None: too short or silent);
    stereo `activity`: {speaker: [(start, end), ...]} of speech found in the channels (None: not measured);
    mono `speech`: {speaker: [(start, end), ...]} of the diarizer's speech segments, a diarizer label that
    no turn gave a role (speech the ASR wrote no words for) kept under its label (None: not measured)."""

    channels: int
    turn_levels_db: tuple[float | None, ...]
    activity: Mapping[str, tuple[tuple[float, float], ...]] | None = None
    speech: Mapping[str, tuple[tuple[float, float], ...]] | None = None

    def serialize(self) -> dict[str, Any]:
        return {"channels": self.channels, "turn_levels_db": list(self.turn_levels_db),
                "activity": _spans_out(self.activity), "speech": _spans_out(self.speech)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudioMeasures:
        return cls(int(data.get("channels") or 1), tuple(data.get("turn_levels_db") or ()),
                   _spans_in(data.get("activity")), _spans_in(data.get("speech")))


Spans = Mapping[str, tuple[tuple[float, float], ...]]


def _spans_out(spans: Spans | None) -> dict[str, list[list[float]]] | None:
    return None if spans is None else {k: [list(s) for s in v] for k, v in spans.items()}


def _spans_in(data: Mapping[str, Any] | None) -> dict[str, tuple[tuple[float, float], ...]] | None:
    return None if data is None else {str(k): tuple((float(a), float(b)) for a, b in v) for k, v in data.items()}


def diarized_speech(diarization: Any, labelled: Sequence[Turn], assigned: Sequence[Turn]) -> dict[str, Any]:
    """Mono: the diarizer's speech segments (and the overlaps, where both voices speak) per speaker, each
    diarizer label named by the role its turns were given (`labelled`: the turns with diarizer labels,
    `assigned`: the same turns after role assignment, in the same order; a label takes the role of most
    of its turns' time). A label no turn carries keeps its name: speech without words has no role."""
    role_time: dict[str, dict[str, float]] = {}
    if len(labelled) == len(assigned):
        for lab, t in zip(labelled, assigned):
            votes = role_time.setdefault(lab.speaker, {})
            votes[t.speaker] = votes.get(t.speaker, 0.0) + max(t.end - t.start, 1e-3)
    role = {lab: max(v, key=v.__getitem__) for lab, v in role_time.items()}
    out: dict[str, list[tuple[float, float]]] = {}
    for s in diarization.segments:
        if s.end > s.start:
            out.setdefault(role.get(s.label, s.label), []).append((round(float(s.start), 3), round(float(s.end), 3)))
    for o in getattr(diarization, "overlaps", ()) or ():
        for lab in (o.first, o.second):
            if o.end > o.start:
                out.setdefault(role.get(lab, lab), []).append((round(float(o.start), 3), round(float(o.end), 3)))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def measure_audio(audio: Any, transcript: Transcript, meta: CallMeta | None, config: Any,
                  speech: Spans | None = None) -> AudioMeasures:
    """The measures of decoded `audio` (pipeline.speech.decode.Audio) for `transcript`'s turns;
    `speech`: a mono call's `diarized_speech`, stored as it is."""
    from callqa.pipeline.signals import _channel_speakers
    from callqa.pipeline.signals.activity import stereo_activity
    from callqa.pipeline.signals.loudness import turn_levels_db

    sig = config.section("signals")
    levels = turn_levels_db(audio, transcript, sig.loudness, meta.channel_map if meta is not None else None)
    activity = None
    opts = sig.channel_activity
    if opts.enabled and getattr(audio, "channels", 1) == 2 and any(t.channel is not None for t in transcript.turns):
        who = _channel_speakers(transcript, meta)
        if who:
            spans = stereo_activity(audio, who, opts.bleed_db, opts.vad_threshold, opts.bleed_margin_db,
                                    opts.floor_margin_db) or {}
            activity = {str(k): tuple((float(a), float(b)) for a, b in v) for k, v in spans.items()}
    channels = int(getattr(audio, "channels", 1) or 1)
    return AudioMeasures(channels, tuple(levels), activity, _spans_in(speech) if channels == 1 else None)
