"""Who is speaking when on a stereo call, from the audio of each channel.

With one speaker per channel, talk time and overlapping speech are directly observable:
a channel is speaking where Silero VAD (shipped with faster-whisper) hears speech on it
and it is not merely carrying the other side's bleed (the other channel is
`bleed_db` or more louder at that moment, and this channel is within `bleed_margin_db`
of the level at which this call carries the other side: a quiet line's reply over a loud
one is speech). Unlike word times this does not lose speech
the ASR missed or dropped (a short "thank you" said over the other speaker, a turn
decoded as a hallucination) and does not end early where ASR word ends do.

`channel_speech` returns, per channel, the spans where that channel's own speaker talks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from callqa.pipeline.speech.decode import STRONG_BLEED_DB, echo_limit, frame_db, retimed_other, sides_gap
from callqa.pipeline.speech.tones import runs

FRAME_S = 0.05
VAD_RATE = 16000


QUIET_LEG_DB = 10.0  # a channel whose loud frames (90th percentile) sit this far under the other's is raised
VAD_MAX_GAIN_DB = 24.0  # to the other's level for the VAD, by this much at most


def _vad_frames(x: np.ndarray, rate: int, n_frames: int, threshold: float, gain_db: float = 0.0) -> np.ndarray:
    """Frames (FRAME_S) inside Silero VAD speech, heard `gain_db` louder (`_vad_gain`)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if gain_db > 0:
        x = x * np.float32(10 ** (gain_db / 20))

    if rate != VAD_RATE:
        from scipy.signal import resample_poly

        g = int(np.gcd(rate, VAD_RATE))
        x = resample_poly(x, VAD_RATE // g, rate // g).astype(np.float32)
    opts = VadOptions(threshold=threshold, min_silence_duration_ms=100, speech_pad_ms=30, min_speech_duration_ms=100)
    out = np.zeros(n_frames, dtype=bool)
    for seg in get_speech_timestamps(np.ascontiguousarray(x, dtype=np.float32), opts, sampling_rate=VAD_RATE):
        a = int(seg["start"] / VAD_RATE / FRAME_S)
        b = int(np.ceil(seg["end"] / VAD_RATE / FRAME_S))
        out[max(0, a):min(n_frames, b)] = True
    return out


def _vad_gain(levels: np.ndarray, c: int) -> float:
    """How much louder (dB) channel `c` is heard by the VAD: Silero hears a quiet voice less, and a client leg
    recorded 12 dB down under the operator's echo (its loud frames 14 dB under the operator's) gave 0.8 s of
    the client's 40 s, 54 s raised by 12 dB. A channel whose loud frames (90th percentile) sit QUIET_LEG_DB
    or more under the other's is raised to the other's level (by VAD_MAX_GAIN_DB at most); the levels the
    bleed tests compare stay as recorded."""
    if levels.shape[0] < 2:
        return 0.0
    loud = np.percentile(levels, 90, axis=1)
    gap = float(np.max(np.delete(loud, c)) - loud[c])
    return min(gap, VAD_MAX_GAIN_DB) if gap >= QUIET_LEG_DB else 0.0


def _quiet(db: np.ndarray, speech: np.ndarray, min_db: float = 0.0) -> np.ndarray:
    """Frames at the noise floor: under a level a third of the way (in dB) from the floor (10th
    percentile of all frames) to the speech level (median of the VAD speech frames), and at least
    `min_db` over the floor. The median sinks to the floor when most of a channel's VAD speech is not
    its speaker's (VAD fires on the other side's bleed under the line's noise), and the noise's own
    ups and downs then passed for speech."""
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    floor = float(np.percentile(db, 10))
    level = float(np.median(db[speech])) if speech.any() else float(np.max(db))
    return db < floor + max(min_db, max(0.0, level - floor) / 3.0)


def _spans(mask: np.ndarray, min_s: float) -> list[tuple[float, float]]:
    """Runs of True frames as (start, end) seconds; runs shorter than `min_s` are left out."""
    return [(a * FRAME_S, b * FRAME_S) for a, b in runs(mask) if (b - a) * FRAME_S >= min_s]


def _long_runs(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """`mask` with its runs of True shorter than `min_frames` frames cleared."""
    out = np.zeros_like(mask)
    for a, b in runs(mask):
        if b - a >= min_frames:
            out[a:b] = True
    return out


MIN_COUPLING_FRAMES = 20


def bleed_coupling(own: np.ndarray, other: np.ndarray, other_speech: np.ndarray,
                   louder_only: bool = False) -> float | None:
    """How far (dB) under the other channel this channel carries the other side's bleed: the median
    level difference over the frames where the other side speaks loudly (its louder half). Most of
    that time this side is silent (people speak in turns), so the median is the bleed's level; None
    with too few such frames. `louder_only`: only the frames where the other channel is the louder (the
    other channel's VAD also fires on this side's bleed on it, and those frames, this side talking,
    took a call's coupling to -3.6 dB)."""
    loud = other_speech & (other >= np.median(other[other_speech])) if other_speech.any() else other_speech
    if louder_only:
        loud = loud & (other > own)
    if loud.sum() < MIN_COUPLING_FRAMES:
        return None
    return float(np.median(other[loud] - own[loud]))


def channel_speech(samples: np.ndarray, rate: int, bleed_db: float = 12.0, vad_threshold: float = 0.5,
                   min_s: float = 0.15, bleed_margin_db: float | None = None,
                   floor_margin_db: float = 0.0) -> list[list[tuple[float, float]]]:
    """Per channel of `samples` (channels, n): the spans (s) where that channel's own speaker talks —
    VAD speech on the channel, less the frames where another channel is `bleed_db` or more louder
    (bleed of the other side; with `bleed_margin_db`, only where the channel is also within that of
    its measured bleed level, `bleed_coupling`, and where that coupling, measured on the frames the other
    channel is the louder, is under `STRONG_BLEED_DB`, half of it; on a call whose sides are under
    `STRONG_BLEED_DB` apart, `sides_gap`, where the other is half that gap louder) and the frames at the
    channel's noise floor (the pauses inside a VAD segment; `floor_margin_db`: at least this far over it is
    speech, `_quiet`), less leftovers shorter than `min_s`."""
    frame = max(1, int(round(FRAME_S * rate)))
    levels = np.stack([frame_db(samples[c], frame) for c in range(samples.shape[0])])
    n = levels.shape[1]
    out = []
    vad = [_vad_frames(samples[c], rate, n, vad_threshold, _vad_gain(levels, c)) for c in range(samples.shape[0])]
    gap = sides_gap(levels)
    for c in range(samples.shape[0]):
        speech = vad[c] & ~_quiet(levels[c], vad[c], floor_margin_db)
        echo = _late_echo(samples, rate, c, levels[c], vad, frame) if samples.shape[0] == 2 else None
        if echo is not None:
            # The other side's voice comes back late and strong: judged against it, re-timed. Its direct
            # bleed (the recorder's, no delay) is there as well: where the other side starts again after a
            # pause, its bleed alone is on this channel until the echo arrives (the operator heard 20 dB down
            # on the client channel for 0.2 s made the client interrupt the operator on seed 5151). Such a
            # run of frames the other side is `bleed_db` louder on, now, lasting `min_s` or more, is not this
            # side; a shorter one is a quiet syllable of this side's own under the other's loud one.
            retimed, echo_limit = echo
            direct = _long_runs(speech & ((levels[1 - c] - levels[c]) >= bleed_db), int(np.ceil(min_s / FRAME_S)))
            speech &= ((retimed - levels[c]) < echo_limit) & ~direct
        elif samples.shape[0] > 1:
            others = [k for k in range(samples.shape[0]) if k != c]
            other = np.max(levels[others], axis=0)
            limit = bleed_db
            if gap is not None and gap < STRONG_BLEED_DB:
                limit = gap / 2.0  # strong bleed both ways: half way between the bleed and the talker
            elif bleed_margin_db is not None:
                heard = np.any([vad[k] for k in others], axis=0)
                coupling = bleed_coupling(levels[c], other, heard)
                if coupling is not None:
                    limit = max(bleed_db, coupling - bleed_margin_db)
                    strong = bleed_coupling(levels[c], other, heard, louder_only=True)
                    if strong is not None and strong < STRONG_BLEED_DB:
                        # The other side comes through strongly on this channel alone (its own channel
                        # recorded quieter than its bleed here: a client leg 12 dB down left the client's
                        # bleed 9 dB under the client channel, never 12 dB, and all of it was the operator
                        # talking over the client): half way between the bleed and this side's own talk.
                        limit = strong / 2.0
                    else:  # (the coupling where the other is the louder: this side's own talk is not in it)
                        speech &= ~_bleed_on_noise(levels[c], other, heard, coupling if strong is None else strong,
                                                   bleed_margin_db)
            speech &= (other - levels[c]) < limit
        out.append(_spans(speech, min_s))
    return out


def _bleed_on_noise(own: np.ndarray, other: np.ndarray, heard: np.ndarray, coupling: float,
                    margin_db: float) -> np.ndarray:
    """Frames where this channel holds only the other side's bleed on top of its own noise: the other
    side talks and is the louder, and this channel is under `margin_db` over what the bleed (the other
    level less `coupling`) and the channel's noise floor (10th percentile) add up to. Judged on the
    bleed alone, the other side's soft syllables left this channel's noise `coupling` less a few dB
    under it, and noise ahead of a quick reply became this side cutting in (seed 4811, a clipped
    recorder: 8 client interruptions invented on 5 stereo calls)."""
    floor = float(np.percentile(own, 10))
    expected = 10.0 * np.log10(10.0 ** ((other - coupling) / 10.0) + 10.0 ** (floor / 10.0))
    return heard & (other > own) & (own - expected < margin_db)


def _late_echo(samples: np.ndarray, rate: int, c: int, own: np.ndarray, vad: list[np.ndarray],
               frame: int) -> tuple[np.ndarray, float] | None:
    """Where channel `c` carries the other side's voice late (`echo_lag`: a speakerphone, no echo
    cancelling at the far end; 20-300 ms) and strongly (under STRONG_BLEED_DB under the other side's
    own level, `bleed_coupling` of the re-timed levels, or within it of `c`'s own voice: `c`'s leg recorded
    quieter): the other channel's levels delayed to match and the limit (half that coupling; half way
    between the echo and `c`'s own voice) over which a frame is the echo, not `c`'s own speaker. None for a
    bleed without delay or a weak one (the fixed tests hold)."""
    k = 1 - c
    retimed = retimed_other(samples, rate, c, frame)
    if retimed is None:
        return None
    lag, other = retimed
    other = other[:own.size]
    shift = int(round(lag / frame))
    heard = np.zeros_like(vad[k])
    heard[shift:] = vad[k][:vad[k].size - shift]
    coupling = bleed_coupling(own[:other.size], other, heard[:other.size])
    if coupling is None or other.size != own.size:
        return None
    # An echo weak against the other side yet near this side's own voice counts too: judged as plain bleed,
    # its tail after each of the operator's phrases was a quiet client talking (seed 5523, `--recorder
    # quiet-client --echo strong`: client talk time 22 s -> 34 s, 11 client "interruptions" on one call)
    limit = echo_limit(coupling, other, own)
    return None if limit is None else (other, limit)


def stereo_activity(audio: Any, channel_speakers: dict[int, str], bleed_db: float, vad_threshold: float,
                    bleed_margin_db: float | None = None,
                    floor_margin_db: float = 0.0) -> dict[str, list[tuple[float, float]]] | None:
    """{speaker: spans} for a two-channel `audio` (pipeline.speech.decode.Audio) whose channels map to
    speakers (`channel_speakers`); None when the audio is not stereo."""
    if audio is None or getattr(audio, "channels", 1) != 2:
        return None
    per = channel_speech(audio.samples, audio.rate, bleed_db, vad_threshold, bleed_margin_db=bleed_margin_db,
                         floor_margin_db=floor_margin_db)
    out: dict[str, list[tuple[float, float]]] = {}
    for c, spans in enumerate(per):
        who = channel_speakers.get(c)
        if who is not None:
            out.setdefault(who, []).extend(spans)
    return out
