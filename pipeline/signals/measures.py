"""What the signals read from a call's audio, measured once in the transcript stage and stored
with the transcript, so the analysis stage (and `callqa rescore`) never decodes a recording:
the speech level of every turn (loudness) and, on stereo calls, each speaker's speech as the
channels show it (timing). The settings these depend on (`signals.loudness.frame_ms / gate_db /
min_turn_s`, `signals.channel_activity`) are part of the transcript identity (pipeline/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from callqa.pipeline.types import CallMeta, Transcript


@dataclass(frozen=True)
class AudioMeasures:
    """Per turn of the transcript: its speech level in dBFS (None: too short or silent);
    stereo: {speaker: [(start, end), ...]} of speech found in the channels (None: not measured)."""

    channels: int
    turn_levels_db: tuple[float | None, ...]
    activity: Mapping[str, tuple[tuple[float, float], ...]] | None = None

    def serialize(self) -> dict[str, Any]:
        return {"channels": self.channels, "turn_levels_db": list(self.turn_levels_db),
                "activity": None if self.activity is None else {k: [list(s) for s in v]
                                                                for k, v in self.activity.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudioMeasures:
        act = data.get("activity")
        return cls(int(data.get("channels") or 1), tuple(data.get("turn_levels_db") or ()),
                   None if act is None else {str(k): tuple((float(a), float(b)) for a, b in v) for k, v in act.items()})


def measure_audio(audio: Any, transcript: Transcript, meta: CallMeta | None, config: Any) -> AudioMeasures:
    """The measures of decoded `audio` (pipeline.speech.decode.Audio) for `transcript`'s turns."""
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
            spans = stereo_activity(audio, who, opts.bleed_db, opts.vad_threshold) or {}
            activity = {str(k): tuple((float(a), float(b)) for a, b in v) for k, v in spans.items()}
    return AudioMeasures(int(getattr(audio, "channels", 1) or 1), tuple(levels), activity)
