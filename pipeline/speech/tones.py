"""Telephone tones in a recording: keypad digits (DTMF) and call-progress tones (ringback, busy and dial
tones, a voicemail beep), found so that they are not taken for speech.

A caller keying a card number into an IVR, or the ringback of an outbound call before the pickup, is
loud, steady sound that the diarizer and the ASR took for someone talking: on seed 4242's 60 simulated
calls with 4-12 digits keyed in two of each call's pauses, one-voice recordings were found with one
speaker in 3 of 6 (6 of 6 without the digits), mono DER went from 0.072 to 0.116 and the talk-ratio error
from 0.034 to 0.045. `find_tones` finds the stretches of one channel where one or two steady narrow peaks
hold nearly all of the sound; `silence_tones` replaces them with the channel's quiet line noise for the
analysis (zeros in the middle of a call threw Whisper off the rest of that channel) and says where, in a
note. A mono call's ASR hears the tones as recorded (`decode.tones_kept`): line noise in their place
changed Whisper's reading of the speech around them, for the worse as often as not. The recording
itself is untouched, and the digits are never decoded: they may be a card number or a PIN.

A frame is tonal when the two strongest peaks of its spectrum (each +-2 bins, the main lobe of the Hann
window) hold `TONAL_SHARE` of its energy in 150-3900 Hz. Then:

- a keypad digit (32 ms frames every 10 ms): one peak in DTMF's low group and one in its high group
  (within `DTMF_TOLERANCE`), neither more than `DTMF_TWIST_DB` under the other, over `DTMF_MIN_FRAMES`
  frames (62 ms; keypads send 70-100 ms or more) in which neither strays more than `DTMF_DRIFT_HZ` from
  its median (GSM's coding wobbles a tone by a few Hz), and the pair not an octave or a fifth
  (`DTMF_HARMONIC_RATIOS`). A voice's two strongest harmonics sometimes sit on a DTMF pair for 3 frames,
  but glide, and those that hold for 4 stand in a harmonic ratio;
- a call-progress tone (128 ms frames every 20 ms, fine enough to part 440 from 480 Hz): one peak, or two
  not in a voice's harmonic ratio, at `TONE_MIN_HZ` or over, steady within `TONE_DRIFT_HZ` for
  `TONE_MIN_S` (a ringback rings for 0.4-2 s, a busy tone for 0.35-0.5 s, a beep for 0.5-1 s).

Speech is the risk: synthetic voices (espeak's pitch is flat) hold one harmonic within 8 Hz for up to
0.3 s. On 360 simulated calls (seeds 4242, 3141, 777 and 2024 in English, 4242 in Russian, 3141 with a
strong echo), the sample calls and the real recordings, not one stretch passed; on a further seed (8080)
one "digit" did, 82 ms where two voices overlapped, an octave apart (838 + 1676 Hz), which the harmonic
test now rejects (no stretch on seeds 4242, 3141, 777, 2024, 6060, 8080, 9090; every keyed digit still
found). On the four English
seeds, 30 stretches passed with the minimum at 0.22 s, and 8 with the pitch floor at 250 Hz; 5 digits
with 3 frames and 12 Hz. Of the digits `simulate.py --keypad` keys into seed 4242's calls, 375 of 395 are
found through the recorders' codecs: all through G.711, MP3, Vorbis and PCM, 30 of 50 through GSM 06.10,
which smears a tone's pitch and purity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as scipy_fft

FRAME_S = 0.032
HOP_S = 0.010
BAND_HZ = (150.0, 3900.0)
PEAK_HALF_WIDTH = 2  # bins either side of a peak counted as the peak (the Hann main lobe)
TONAL_SHARE = 0.90
MIN_LEVEL_DBFS = -55.0  # quieter frames are not looked at (line noise, digital silence)
DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_TOLERANCE = 0.03  # ITU-T Q.24: accept +-1.5 %, reject beyond +-3.5 %
DTMF_TWIST_DB = 10.0
DTMF_MIN_FRAMES = 4
DTMF_DRIFT_HZ = 8.0  # from the run's median: a keypad's tones hold their pitch; a voice's harmonics glide
# A voice's two strongest harmonics an octave (2:1) or a fifth (3:2) apart can sit within DTMF_TOLERANCE of a
# keypad pair (838 + 1676 Hz, the 3rd and 6th harmonics of a 279 Hz voice, read as "C" = 852 + 1633 Hz in
# an overlap of two simulated voices); no keypad pair is within 1 % of those ratios, even with both tones off
# by Q.24's 1.5 % (the nearest: 1633 / 852 = 1.917, at worst 1.976)
DTMF_HARMONIC_RATIOS = (2.0, 1.5)
DTMF_HARMONIC_TOLERANCE = 0.01
TONE_MIN_HZ = 340.0  # over most voices' pitch; the lowest dial tone is 350 Hz
TONE_DRIFT_HZ = 5.0
TONE_MIN_S = 0.35  # under a busy tone's 0.35-0.5 s and a UK ringback's 0.4 s bursts
TONE_FRAME_S = 0.128  # 7.8 Hz bins: a ringback's 440 + 480 Hz are two peaks, not one that wobbles
TONE_HOP_S = 0.02
HARMONIC_TOLERANCE = 0.02
MARGIN_S = 0.010  # silenced either side of a run: the onset and decay the frames straddle
_CHUNK_FRAMES = 4096


@dataclass(frozen=True)
class Tone:
    """One stretch of tone on one channel; `kind` is "dtmf" (a keypad digit) or "tone"."""

    start: float
    end: float
    kind: str
    hz: tuple[float, ...]


def _peak(power: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the bins of the strongest peak's lobe, the lobe's energy and the peak's frequency in
    bins (parabolic)."""
    n, bins = power.shape
    p = np.argmax(power, axis=1)
    offsets = np.arange(-PEAK_HALF_WIDTH, PEAK_HALF_WIDTH + 1)
    lobe = np.clip(p[:, None] + offsets[None, :], 0, bins - 1)
    rows = np.arange(n)[:, None]
    energy = power[rows, lobe].sum(axis=1)
    left = power[np.arange(n), np.clip(p - 1, 0, bins - 1)]
    mid = power[np.arange(n), p]
    right = power[np.arange(n), np.clip(p + 1, 0, bins - 1)]
    a, b, c = (np.log(v + 1e-20) for v in (left, mid, right))
    den = a - 2 * b + c
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    return lobe, energy, p + lo + np.clip(shift, -0.5, 0.5)


def _frame_features(x: np.ndarray, rate: int, frame_s: float = FRAME_S,
                    hop_s: float = HOP_S) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: tonal share of the two peaks, their frequencies (Hz, the stronger first), the second's
    energy over the first's, and the frame level (dBFS)."""
    frame, hop = int(round(frame_s * rate)), int(round(hop_s * rate))
    n = 0 if x.size < frame else 1 + (x.size - frame) // hop
    window = np.hanning(frame).astype(np.float32)
    norm = float(np.sum(window ** 2))
    lo = int(np.ceil(BAND_HZ[0] * frame / rate))
    hi = min(frame // 2, int(np.floor(BAND_HZ[1] * frame / rate)))
    share = np.zeros(n, np.float32)
    f1 = np.zeros(n, np.float32)
    f2 = np.zeros(n, np.float32)
    e_ratio = np.zeros(n, np.float32)
    level = np.full(n, -200.0, np.float32)
    # Frames as strided views of `x` (no copy until windowed); scipy's FFT keeps float32 and runs about
    # three times as fast as numpy's on these frames: the tone search takes under half the time it did.
    framed = sliding_window_view(x, frame)[::hop] if n else np.zeros((0, frame), np.float32)
    for first in range(0, n, _CHUNK_FRAMES):
        count = min(_CHUNK_FRAMES, n - first)
        seg = framed[first:first + count] * window
        spec = scipy_fft.rfft(seg, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2)[:, lo:hi + 1].astype(np.float64)
        total = power.sum(axis=1)
        level[first:first + count] = 10 * np.log10(2 * total / (norm * frame) + 1e-20)
        lobe, e1, b1 = _peak(power, lo)
        masked = power.copy()
        masked[np.arange(count)[:, None], lobe] = 0.0
        _, e2, b2 = _peak(masked, lo)
        safe = np.maximum(total, 1e-30)
        share[first:first + count] = (e1 + e2) / safe
        f1[first:first + count] = b1 * rate / frame
        f2[first:first + count] = b2 * rate / frame
        e_ratio[first:first + count] = e2 / np.maximum(e1, 1e-30)
    return share, f1, f2, e_ratio, level


def _near(f: np.ndarray, targets: tuple[float, ...]) -> np.ndarray:
    """Index of the target within DTMF_TOLERANCE of each f, or -1."""
    t = np.asarray(targets)
    rel = np.abs(f[:, None] - t[None, :]) / t[None, :]
    best = np.argmin(rel, axis=1)
    return np.where(rel[np.arange(f.size), best] <= DTMF_TOLERANCE, best, -1)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where `mask` holds (also `signals.activity`'s frame runs)."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def find_tones(x: np.ndarray, rate: int) -> list[Tone]:
    """The DTMF digits and call-progress tones in one channel `x` (float samples at `rate`), in time order."""
    x = np.asarray(x, np.float32)
    digits = _digits(x, rate)
    return sorted(digits + _steady_tones(x, rate, digits), key=lambda t: t.start)


def _digits(x: np.ndarray, rate: int) -> list[Tone]:
    """Keypad digits: the same digit, both tones steady, over consecutive short frames."""
    share, f1, f2, e_ratio, level = _frame_features(x, rate)
    lo_f, hi_f = np.minimum(f1, f2), np.maximum(f1, f2)
    row, col = _near(lo_f, DTMF_LOW), _near(hi_f, DTMF_HIGH)
    ratio = hi_f / np.maximum(lo_f, 1.0)
    harmonic = np.zeros(ratio.shape, bool)
    for r in DTMF_HARMONIC_RATIOS:
        harmonic |= np.abs(ratio - r) <= DTMF_HARMONIC_TOLERANCE * r
    keyed = (level > MIN_LEVEL_DBFS) & (share >= TONAL_SHARE) & (e_ratio >= 10 ** (-DTMF_TWIST_DB / 10)) & ~harmonic
    digit = np.where(keyed & (row >= 0) & (col >= 0), row * 4 + col, -1)
    out = []
    change = np.flatnonzero(np.diff(np.concatenate(([-1], digit, [-1]))) != 0)
    for a, b in zip(change[:-1], change[1:]):
        if digit[a] >= 0 and b - a >= DTMF_MIN_FRAMES and _spread(lo_f[a:b]) <= DTMF_DRIFT_HZ \
                and _spread(hi_f[a:b]) <= DTMF_DRIFT_HZ:
            out.append(_tone(a, b, HOP_S, FRAME_S, "dtmf", (DTMF_LOW[digit[a] // 4], DTMF_HIGH[digit[a] % 4])))
    return out


def _spread(f: np.ndarray) -> float:
    """How far (Hz) the frames' pitch strays from its median: GSM's coding wobbles a keypad's tone by a
    few Hz either way, a voice's harmonic glides away."""
    return float(np.max(np.abs(f - np.median(f))))


def _steady_tones(x: np.ndarray, rate: int, digits: list[Tone]) -> list[Tone]:
    """Call-progress tones: one steady peak, or two (a ringback's 440 + 480 Hz) not in a voice's harmonic
    ratio, held for TONE_MIN_S, on long frames (TONE_FRAME_S) that part tones 40 Hz apart."""
    share, f1, f2, e_ratio, level = _frame_features(x, rate, TONE_FRAME_S, TONE_HOP_S)
    if share.size == 0:
        return []
    two = e_ratio >= 10 ** (-DTMF_TWIST_DB / 10)
    lo_f, hi_f = np.minimum(f1, f2), np.maximum(f1, f2)
    ratio = hi_f / np.maximum(lo_f, 1.0)
    # A voice's two strongest harmonics stand in a ratio n/q with a small q (2:1, 3:2, 4:3); the
    # telephone pairs do not (440+480, 350+440, 480+620, 400+450).
    harmonic = np.zeros(ratio.shape, bool)
    for q in (1, 2, 3):
        harmonic |= np.abs(ratio * q - np.round(ratio * q)) <= HARMONIC_TOLERANCE * ratio * q
    steady = (level > MIN_LEVEL_DBFS) & (share >= TONAL_SHARE) & (f1 >= TONE_MIN_HZ) & ~(two & harmonic)
    for d in digits:  # a key held down is a digit, not a tone
        steady[max(0, int((d.start - TONE_FRAME_S) / TONE_HOP_S)):int(np.ceil(d.end / TONE_HOP_S))] = False
    # Each frame's pitch: the pair's lower and upper tone, or the one tone (upper 0).
    key = np.where(two, lo_f, f1)
    sec = np.where(two, hi_f, 0.0)
    min_frames = 1 + int(round((TONE_MIN_S - TONE_FRAME_S) / TONE_HOP_S))
    out = []
    for a, b in runs(steady):
        start = a
        for i in range(a + 1, b + 1):  # split where the pitch moves off the run's mean
            if i < b and abs(float(key[i]) - float(key[start:i].mean())) <= TONE_DRIFT_HZ \
                    and abs(float(sec[i]) - float(sec[start:i].mean())) <= TONE_DRIFT_HZ:
                continue
            if i - start >= min_frames:
                hz = (float(np.mean(key[start:i])),) + ((float(np.mean(sec[start:i])),) if sec[start] else ())
                out.append(_tone(start, i, TONE_HOP_S, TONE_FRAME_S, "tone", tuple(float(round(h)) for h in hz)))
            start = i
    return out


def _tone(a: int, b: int, hop_s: float, frame_s: float, kind: str, hz: tuple[float, ...]) -> Tone:
    start = max(0.0, a * hop_s - MARGIN_S)
    end = (b - 1) * hop_s + frame_s + MARGIN_S
    return Tone(start=round(start, 3), end=round(end, 3), kind=kind, hz=tuple(float(h) for h in hz))


def _span(tones: list[Tone]) -> str:
    return f"{tones[0].start:.1f}-{tones[-1].end:.1f} s"


def describe(tones: list[Tone], channel: str) -> str:
    """One note for the tones found on one channel (the digits themselves are not given)."""
    parts = []
    digits = [t for t in tones if t.kind == "dtmf"]
    if digits:
        parts.append(f"{len(digits)} keypad digit{'s' if len(digits) != 1 else ''} (DTMF) at {_span(digits)}")
    for hz in sorted({t.hz for t in tones if t.kind == "tone"}):
        same = [t for t in tones if t.kind == "tone" and t.hz == hz]
        seconds = sum(t.end - t.start for t in same)
        parts.append(f"a {'+'.join(f'{h:.0f}' for h in hz)} Hz tone ({len(same)}x, {seconds:.1f} s) at {_span(same)}")
    where = f" on {channel}" if channel else ""
    return f"telephone tones{where} silenced for the analysis (not speech): " + "; ".join(parts)


def _floor_rms(x: np.ndarray, rate: int) -> float:
    """The channel's quiet level: the 10th percentile of its 30 ms frames' RMS, leaving out digital silence."""
    from callqa.pipeline.speech.decode import frame_db  # decode imports this module

    levels = frame_db(x, max(1, int(0.03 * rate)), floor=1e-14)
    levels = levels[levels > -140.0]
    return float(np.sqrt(np.percentile(10.0 ** (levels / 10.0), 10))) if levels.size else 0.0


Span = tuple[int, float, float]  # channel, start (s), end (s)


def silence_tones(samples: np.ndarray, rate: int) -> tuple[np.ndarray, tuple[str, ...], tuple[Span, ...],
                                                           tuple[np.ndarray, ...]]:
    """`samples` (channels, n) with every tone `find_tones` finds replaced (`replace_spans`), a note per
    channel that had some, the spans replaced, and the samples each span held (`put_back`)."""
    notes: list[str] = []
    spans: list[Span] = []
    for c in range(samples.shape[0]):
        tones = find_tones(samples[c], rate)
        if tones:
            spans += [(c, t.start, t.end) for t in tones]
            channel = "" if samples.shape[0] == 1 else ("the left channel" if c == 0 else "the right channel")
            notes.append(describe(tones, channel))
    held = tuple(samples[c, slice(*_bounds(start, end, rate, samples.shape[1]))].copy() for c, start, end in spans)
    return replace_spans(samples, rate, spans), tuple(notes), tuple(spans), held


def _bounds(start: float, end: float, rate: int, n: int) -> tuple[int, int]:
    """The sample range [a, b) a span covers."""
    return int(start * rate), min(n, int(np.ceil(end * rate)))


def replace_spans(samples: np.ndarray, rate: int, spans: Sequence[Span]) -> np.ndarray:
    """`samples` with each span replaced by noise at its channel's quiet level (a copy where there is any;
    zeros in the middle of a call threw Whisper off the rest of the channel). The same spans give the
    same samples on every run and at every sample rate the file is decoded at."""
    if not spans:
        return samples
    out = samples.copy()
    for c in sorted({s[0] for s in spans}):
        floor = _floor_rms(samples[c], rate)
        rng = np.random.default_rng(c)
        for _, start, end in (s for s in spans if s[0] == c):
            a, b = _bounds(start, end, rate, samples.shape[1])
            out[c, a:b] = (rng.standard_normal(max(0, b - a)) * floor).astype(out.dtype)
    return out


def put_back(samples: np.ndarray, rate: int, spans: Sequence[Span], held: Sequence[np.ndarray]) -> np.ndarray:
    """A copy of `samples` with what each span held (`silence_tones`) back in place of its line noise."""
    out = samples.copy()
    for (c, start, end), x in zip(spans, held):
        a, b = _bounds(start, end, rate, samples.shape[1])
        out[c, a:b] = x
    return out
