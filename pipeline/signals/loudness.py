"""Speech level per turn from the audio, on a 0..100 scale, and raised-voice moments.

A turn's level is the mean power of its speech frames (frames within
`gate_db` of the turn's loudest frame, so pauses inside a turn do not pull it
down), in dBFS, mapped linearly from `floor_dbfs` (0) to 0 dBFS (100). Stereo:
a turn is measured on its own channel (`Turn.channel`, else the channel map
position of its speaker); mono: on the one channel, by the turn's times.
A raised voice is a turn `raised_db` or more above its speaker's median turn.
"""

from __future__ import annotations

from statistics import median
from typing import Any, Sequence

import numpy as np

from callqa.pipeline.types import Transcript
from callqa.pipeline.signals.settings import LoudnessOptions


def _samples(audio: Any) -> tuple[np.ndarray, int]:
    x = np.asarray(getattr(audio, "samples"), dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    return x, int(getattr(audio, "sample_rate", 16000) or 16000)


def turn_levels_db(audio: Any, transcript: Transcript, opts: LoudnessOptions,
                   channel_map: tuple[str, ...] | None = None) -> list[float | None]:
    """dBFS of each turn's speech (None when too short or silent)."""
    x, sr = _samples(audio)
    n_ch, n = x.shape
    frame = max(1, int(sr * opts.frame_ms / 1000))
    out: list[float | None] = []
    for t in transcript.turns:
        if t.duration < opts.min_turn_s:
            out.append(None)
            continue
        ch = 0
        if n_ch > 1:
            if t.channel is not None and 0 <= t.channel < n_ch:
                ch = t.channel
            elif channel_map and t.speaker in channel_map:
                ch = min(channel_map.index(t.speaker), n_ch - 1)
        a, b = max(0, int(t.start * sr)), min(n, int(t.end * sr))
        seg = x[ch, a:b]
        k = len(seg) // frame
        if k == 0:
            out.append(None)
            continue
        power = np.mean(np.square(seg[: k * frame].reshape(k, frame), dtype=np.float64), axis=1)
        top = float(power.max())
        if top <= 1e-12:
            out.append(None)
            continue
        speech = power[power >= top * 10 ** (opts.gate_db / 10)]
        out.append(10.0 * float(np.log10(float(speech.mean()) + 1e-12)))
    return out


def to_level(db: float, opts: LoudnessOptions) -> float:
    return float(min(100.0, max(0.0, (db - opts.floor_dbfs) / (-opts.floor_dbfs) * 100.0)))


def loudness(levels: Sequence[float | None], transcript: Transcript, opts: LoudnessOptions,
             quotes: list[str]) -> dict[str, Any]:
    """{operator, client, raised_voice: [ev + level]} from the turns' levels (`turn_levels_db`, measured
    once with the transcript: pipeline/signals/measures.py): speaker levels are medians of their turns."""
    out: dict[str, Any] = {"operator": None, "client": None, "raised_voice": []}
    medians: dict[str, float] = {}
    for spk in ("operator", "client"):
        vals = [db for db, t in zip(levels, transcript.turns) if db is not None and t.speaker == spk]
        if vals:
            medians[spk] = median(vals)
            out[spk] = round(to_level(medians[spk], opts), 1)
    for i, (db, t) in enumerate(zip(levels, transcript.turns)):
        if db is None or t.speaker not in medians:
            continue
        if db - medians[t.speaker] >= opts.raised_db:
            out["raised_voice"].append({"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker,
                                        "quote": quotes[i], "turn": i, "level": round(to_level(db, opts), 1),
                                        "db_above_median": round(db - medians[t.speaker], 1)})
    return out
