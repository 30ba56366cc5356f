"""Decoding recordings: any common format and sample rate -> float32 samples at the
configured rate (16 kHz), channels kept apart.

Decoding goes through the `ffmpeg` / `ffprobe` programs (robust across wav, flac,
mp3, ogg/opus, m4a and telephony codecs). Channel policy:

- mono stays mono;
- stereo stays stereo (one speaker per channel), unless the two channels carry
  the same signal (mono saved as stereo, e.g. jfk.flac; also at other levels, inverted
  or a few samples apart): then the louder channel is kept and the call is treated as
  mono (diarized); the same when one of
  the two channels is digital silence (a mono call saved as stereo with an empty
  side: both voices are on the live channel, so a channel map would give the whole
  conversation to one side);
- more than two channels: channels that are digital silence are dropped; if two
  remain they are the call's two sides, otherwise all are mixed down to mono
  (we cannot know which channel is which speaker).

Then, for the analysis (the file is untouched): a quiet recording (a low recorder gain) is raised to
a working level (`QUIET_DBFS`, `Audio.gain_db`), and telephone tones (keypad digits, ringback, busy
tone, a beep) are replaced by line noise (`tones.py`, `audio.silence_tones`, `Audio.tone_spans`); a
model that hears the file decoded again at its own rate gets the same (`conditioned_like`), except a
mono call's ASR, which hears the tones as recorded (`tones_kept`). What was
decided is recorded in `Audio.notes`. Every problem is an `InputError(path, problem)`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callqa.pipeline.config import Config
from callqa.pipeline.errors import InputError
from callqa.pipeline.speech.tones import put_back, replace_spans, silence_tones
from callqa.pipeline.types import AudioSource

# Two channels are "the same signal" when the part of one that a scaled (either sign), shifted (by up to
# SAME_SIGNAL_MAX_LAG samples) copy of the other leaves unexplained is this far (dB) under it. Each side
# coded apart at a low bit rate leaves -17 to -21 dB (AAC 32k, MP3 48k); the two sides of a call leave
# -4 dB or more even with bleed as strong as -6 dB both ways (simulated stereo calls: -0.2 dB or more).
IDENTICAL_CHANNELS_DB = -12.0
SAME_SIGNAL_MAX_LAG = 32  # 2 ms at 16 kHz
# ... and at most this far (dB) apart in level: a side further under that follows the other closely is the
# other's bleed on a one-sided call (simulated: 20-28 dB under, 97-98 % alike; with an echo canceller off,
# 10 dB under), kept as stereo with its channel map.
SAME_SIGNAL_MAX_LEVEL_DB = 8.0
# A stereo call whose two sides sit under this (dB) apart where someone speaks loudly (`sides_gap`) carries
# each side's voice too strongly on the other channel (an echo canceller off, a speakerphone: 10 dB under)
# for the fixed bleed tests; the tests then go by that gap. Simulated calls (bleed -20 to -31 dB, 7 seeds):
# 17 dB or more.
STRONG_BLEED_DB = 14.0
# A channel is "digital silence" when its RMS is under this (dBFS).
SILENT_CHANNEL_DBFS = -80.0
# A recording whose loud speech (the 99th percentile of its 30 ms frame levels, the louder channel) sits
# under QUIET_DBFS is raised to QUIET_TARGET_DBFS, both channels alike (a recorder's gain set far too low:
# the bleed tests and the speech floors work on absolute levels; seed 4242's 60 calls 40 dB down, -53 to
# -64 dBFS: 3 calls with no word -> 1 (as recorded: 1), WER 0.498 -> 0.415, mono DER 0.118 -> 0.082,
# talk-ratio error 0.073 -> 0.049, stereo interruptions recall 0.42 -> 0.92). Not sooner: 26 dB down (-43
# to -50 dBFS) raising them all was a mixed gain (WER 0.436 -> 0.417, but talk-ratio error 0.044 -> 0.053,
# filler precision 0.94 -> 0.83): raising a 16-bit file's coarse quantization made Silero's VAD miss most of
# a stereo call's speech. Simulated calls: -20 dBFS or louder; the
# quietest real recording (AMI): -32 dBFS. Never by more than QUIET_MAX_GAIN_DB, nor over full scale.
QUIET_DBFS = -50.0
QUIET_TARGET_DBFS = -18.0
QUIET_MAX_GAIN_DB = 50.0
QUIET_FRAME_S = 0.03
# ... and only when the loud frames stand this far over the quiet ones (the 10th percentile): a recording of
# line noise or hum alone is not raised into loud noise for the VAD and the ASR to hear words in.
QUIET_MIN_RANGE_DB = 12.0
_CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: `samples` is float32, shape (channels, n), at `sample_rate`."""

    samples: np.ndarray
    source: AudioSource
    rate: int = 16000
    notes: tuple[str, ...] = ()  # decisions taken while decoding (channel policy)
    gain_db: float = 0.0  # a quiet recording raised by this (`QUIET_DBFS`)
    tone_spans: tuple[tuple[int, float, float], ...] = ()  # (channel, start, end) replaced (tones.py)
    tone_samples: tuple[np.ndarray, ...] = ()  # what each of `tone_spans` held before (`tones_kept`)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def sample_rate(self) -> int:
        return self.rate

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / float(self.rate)

    def channel(self, index: int) -> np.ndarray:
        """One channel as a contiguous 1-D float32 array."""
        return np.ascontiguousarray(self.samples[index])

    def mono(self) -> np.ndarray:
        """All channels mixed into one (a view when already mono)."""
        if self.channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)


def _require_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"'{tool}' is not installed; run scripts/setup.sh (it installs ffmpeg)")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _last_line(stderr: bytes, path: Path | None = None) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    line = lines[-1] if lines else "unknown decoder error"
    prefix = f"{path}: "
    return line[len(prefix):] if path is not None and line.startswith(prefix) else line  # the error names it once


@dataclass(frozen=True)
class _Probe:
    sample_rate: int
    channels: int
    duration_s: float | None
    format: str | None
    codec: str | None


def _probe(path: Path) -> _Probe:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
           "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise InputError(path, f"not a readable audio file ({_last_line(proc.stderr, path)})")
    try:
        info = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise InputError(path, "not a readable audio file (ffprobe gave no information)") from None
    streams = info.get("streams") or []
    if not streams:
        raise InputError(path, "not an audio file: it has no audio stream")
    st, fmt = streams[0], info.get("format") or {}

    def num(x: object) -> float | None:
        try:
            v = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return v if np.isfinite(v) and v >= 0 else None

    rate = int(num(st.get("sample_rate")) or 0)
    channels = int(st.get("channels") or 0)
    if rate <= 0 or channels <= 0:
        raise InputError(path, "corrupt audio: no valid sample rate or channel count in its header")
    duration = num(st.get("duration")) or num(fmt.get("duration"))
    fmt_name = str(fmt.get("format_name") or "").split(",")[0] or None
    return _Probe(rate, channels, duration, fmt_name, st.get("codec_name"))


def _decode(path: Path, rate: int, channels: int) -> tuple[np.ndarray, int, str]:
    """All channels, float32, shape (channels, n), resampled to `rate`; with the number
    of decoding errors ffmpeg reported and the last one."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(rate), "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise InputError(path, f"corrupt or unsupported audio: ffmpeg failed ({_last_line(proc.stderr)})")
    data = np.frombuffer(proc.stdout, dtype=np.float32)
    n = data.size // channels
    if n == 0:
        raise InputError(path, "corrupt audio: no samples could be decoded")
    data = data[: n * channels]
    err_lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines()
                 if "rror" in ln or "nvalid data" in ln]
    last = err_lines[-1].strip() if err_lines else ""
    if channels == 1:
        return data.reshape(1, n), len(err_lines), last
    return np.ascontiguousarray(data.reshape(n, channels).T), len(err_lines), last


def _rms(x: np.ndarray) -> float:
    acc = 0.0
    for i in range(0, x.size, _CHUNK):
        c = x[i:i + _CHUNK].astype(np.float64)
        acc += float(np.dot(c, c))
    return (acc / max(1, x.size)) ** 0.5


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-12))


def frame_db(x: np.ndarray, frame: int, floor: float = 1e-12) -> np.ndarray:
    """Mean-square level (dB) of consecutive `frame`-sample frames of `x` (under `floor`: `floor`), in
    float64 a block of frames at a time (an hour of audio is not copied whole)."""
    n = x.size // frame
    out = np.empty(n, dtype=np.float64)
    block = 4096
    for i in range(0, n, block):
        seg = x[i * frame:min(n, i + block) * frame].astype(np.float64).reshape(-1, frame)
        out[i:i + seg.shape[0]] = np.einsum("ij,ij->i", seg, seg) / frame
    return 10.0 * np.log10(np.maximum(out, floor))


def _dots(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y, x.x, y.y) in float64, a chunk at a time (an hour of audio is not copied whole)."""
    out = np.zeros(3)
    for i in range(0, x.size, _CHUNK):
        cx, cy = x[i:i + _CHUNK].astype(np.float64), y[i:i + _CHUNK].astype(np.float64)
        out += (np.dot(cx, cy), np.dot(cx, cx), np.dot(cy, cy))
    return out


def _normalised(dots: np.ndarray) -> float:
    xy, xx, yy = dots
    return float(xy / max(1e-30, (xx * yy) ** 0.5))


def _correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Normalised correlation of a[t] with b[t - lag] over the samples both have."""
    n = min(a.size, b.size)
    if lag >= 0:
        return _normalised(_dots(a[lag:n], b[:n - lag]))
    return _normalised(_dots(a[:n + lag], b[-lag:n]))


def _likely_lag(a: np.ndarray, b: np.ndarray, max_lag: int, windows: int = 8, span: int = 65536) -> int:
    """The shift of b against a (within +-max_lag samples) that matches them best, judged on up to
    `windows` stretches of `span` samples spread over the recording."""
    n = min(a.size, b.size)
    if n <= 2 * max_lag + 1:
        return 0
    span = min(span, n - 2 * max_lag)
    starts = np.linspace(max_lag, n - max_lag - span, num=min(windows, max(1, n // span))).astype(int)
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        c = abs(_normalised(sum(_dots(a[s:s + span], b[s - lag:s - lag + span]) for s in starts)))
        if c > best:
            best, best_lag = c, lag
    return best_lag


def channels_identical(a: np.ndarray, b: np.ndarray, threshold_db: float = IDENTICAL_CHANNELS_DB,
                       max_lag: int = SAME_SIGNAL_MAX_LAG) -> bool:
    """True when `a` and `b` carry the same signal: one channel is a copy of the other, at another gain,
    maybe inverted or a few samples late (mono saved as stereo by a recorder that sets the sides' levels
    apart, or delays one of them); what the best such copy leaves unexplained is `threshold_db` under it.
    The two sides of a real call share at most the bleed of each other: with bleed as strong as -6 dB
    still more than a third of each channel is unexplained (-4 dB)."""
    la, lb = _rms(a), _rms(b)
    silent = 10 ** (SILENT_CHANNEL_DBFS / 20)
    if max(la, lb) < silent:
        return True  # both silent
    if min(la, lb) < silent:
        return False  # one side silent: not the same signal (see _channel_policy)
    if abs(_db(la) - _db(lb)) > SAME_SIGNAL_MAX_LEVEL_DB:
        return False  # a side that only carries the other's bleed (a one-sided call), not a copy
    c = _correlation(a, b, _likely_lag(a, b, max_lag))
    return 10.0 * np.log10(max(1e-12, 1.0 - c * c)) <= threshold_db


# A loud frame whose other channel is this far (dB) under it carries nothing of the talker there: where a
# share NO_BLEED_SHARE of the loud frames is so, the channels are separate (no bleed at all: a VoIP
# recorder's two legs, digital silence on the one that is not speaking), and the loud frames where the
# two channels are near alike are both sides talking at once. faster-whisper's stereo test recording
# (two voices, each on its own channel, talking at once half of the time): 40 % of its loud frames 50-90 dB
# apart, the rest 0-11; simulated calls (bleed and noise, 249): at most 0.1 of them where their median gap is
# under 34 dB.
NO_BLEED_DB = 40.0
NO_BLEED_SHARE = 0.25


def sides_gap(levels: np.ndarray) -> float | None:
    """The typical level gap (dB) between two channels' frame levels (`levels`: 2 x frames) where someone
    speaks loudly (the louder half of the audible frames): the talker over the other side's bleed of
    them, the same both ways; on a recording without bleed (`NO_BLEED_SHARE` of those frames
    `NO_BLEED_DB` or more apart), the typical gap of those frames, not of the two sides talking at once.
    None with too few audible frames."""
    if levels.shape[0] != 2:
        return None
    top = levels.max(axis=0)
    audible = top > -60.0
    if audible.sum() < 20:
        return None
    loud = audible & (top >= np.percentile(top[audible], 50))
    apart = np.abs(levels[0] - levels[1])[loud]
    alone = apart >= NO_BLEED_DB
    if float(np.mean(alone)) >= NO_BLEED_SHARE:
        return float(np.median(apart[alone]))
    return float(np.median(apart))


ECHO_FRAME_S = 0.01
ECHO_MAX_LAG_S = 0.5  # a line echo's round trip: the client's phone and back
# The envelopes' correlation at the echo's delay over its median across all the lags tried. Simulated echo
# 6-14 dB down, 20-300 ms late (22 calls): 0.24-0.48 over (0.24-0.38 in all: the other side's own speech
# weighs as much); a wrong lag only matters where the echo it finds is also strong (STRONG_BLEED_DB).
ECHO_MIN_PROMINENCE = 0.15


# Where the envelopes' best lag is under two ECHO_FRAME_S frames (the recorder's own bleed, at once, can
# outweigh an echo 80-260 ms late whose reflections smear it), the echo is looked for in the envelopes'
# changes (onsets and decays: a delayed copy's are as sharp as the original's) at ECHO_ONSET_MIN_LAG_S or
# later, as the highest local peak ECHO_ONSET_MIN_PROMINENCE over the median. Simulated stereo calls
# (seeds 4242 and 5151 with --echo strong: 44; 4242, 5151 and 8080 as recorded: 66): echoes the envelopes
# missed stood 0.17-0.19 over (one at 0.09 stays missed), no-echo channels at most 0.105 at 40 ms or later
# (nearer lags are the bleed's own shoulder).
ECHO_ONSET_MIN_LAG_S = 0.04
ECHO_ONSET_MIN_PROMINENCE = 0.15
# Failing both, a second peak of the envelopes' correlation itself, ECHO_ONSET_MIN_LAG_S or later and this
# far over the median, is the echo: a direct bleed at -21 dB outweighed an echo 8 dB down, 143 ms late, with
# reflections (seed 5003 call 12: 0.29 over at 150 ms; its onsets missed it). Channels without an echo:
# at most 0.16 (176 channels of seeds 3700, 3701 --echo strong, 4811 and 5003 --echo strong).
ECHO_PEAK_MIN_PROMINENCE = 0.2


def _envelopes(src: np.ndarray, dst: np.ndarray, frame: int, n: int) -> list[np.ndarray]:
    out = []
    for x in (src, dst):
        db = frame_db(x[:n * frame], frame, floor=1e-10)
        out.append(np.maximum(db, np.percentile(db, 90) - 40.0))  # the noise floor is not an envelope
    return out


def _lag_correlations(a: np.ndarray, b: np.ndarray, n: int, extra: int = 0) -> np.ndarray:
    a, b = a - a.mean(), b - b.mean()
    top = min(n - 100, int(ECHO_MAX_LAG_S / ECHO_FRAME_S) + 1 + extra)
    return np.array([_normalised(_dots(a[:n - k], b[k:])) for k in range(0, top)])


def echo_lag(src: np.ndarray, dst: np.ndarray, rate: int) -> int:
    """How late (samples) `src`'s voice comes back on `dst`: the lag (0 to ECHO_MAX_LAG_S) at which
    `dst`'s level envelope (ECHO_FRAME_S frames, dB) follows `src`'s best, where that correlation stands
    ECHO_MIN_PROMINENCE over its median across the lags; failing that, where the envelopes' changes
    follow each other (ECHO_ONSET_MIN_LAG_S or later, ECHO_ONSET_MIN_PROMINENCE over); 0 otherwise (a
    bleed without delay, or none). People speak in turns, so only the echo makes the two envelopes
    alike, and only at its delay."""
    frame = max(1, int(round(ECHO_FRAME_S * rate)))
    n = min(src.size, dst.size) // frame
    if n < 200:
        return 0
    a, b = _envelopes(src, dst, frame, n)
    rs = _lag_correlations(a, b, n)
    k = int(np.argmax(rs))
    if rs[k] - float(np.median(rs)) < ECHO_MIN_PROMINENCE:
        k = 0
    if k >= 2:
        return k * frame
    ds = _lag_correlations(np.diff(a, prepend=a[0]), np.diff(b, prepend=b[0]), n, extra=1)
    lo = int(round(ECHO_ONSET_MIN_LAG_S / ECHO_FRAME_S))
    j = _prominent_peak(ds, lo, ECHO_ONSET_MIN_PROMINENCE)
    if j is None:  # the envelopes themselves can peak again at the echo's delay, after the bleed's own at once
        j = _prominent_peak(rs, lo, ECHO_PEAK_MIN_PROMINENCE)
    return (k if j is None else j) * frame


def _prominent_peak(r: np.ndarray, lo: int, min_prominence: float) -> int | None:
    """The highest local peak of `r` at index `lo` or later, when it stands `min_prominence` over the
    median of `r`; else None."""
    peaks = [j for j in range(lo, len(r) - 1) if r[j] > r[j - 1] and r[j] >= r[j + 1]]
    if not peaks:
        return None
    j = max(peaks, key=lambda j: r[j])
    return j if r[j] - float(np.median(r)) >= min_prominence else None


def delayed(x: np.ndarray, lag: int) -> np.ndarray:
    """`x` `lag` samples late (zeros first), the same length."""
    if lag <= 0:
        return x
    out = np.zeros_like(x)
    out[lag:] = x[:x.size - lag]
    return out


ECHO_SPREAD_DB = 3.0  # an echo's frames lie this far and more under its median coupling: a tenth of them (15 calls)


def echo_limit(coupling: float, other: np.ndarray, own: np.ndarray) -> float | None:
    """How far (dB) the other side, re-timed to its late echo on this channel (`other`: its frame levels;
    `own`: this channel's), must be over this channel for a frame to be that echo, given the echo's
    `coupling` (dB under the other side). An echo strong against the other side (under STRONG_BLEED_DB):
    half the coupling. One weak against the other side but within STRONG_BLEED_DB of this side's own voice
    (their loud frames, 90th percentile; this side's leg recorded quieter: a client leg 12 dB down carried
    the operator's echo 20-26 dB under the operator but only 4-11 dB under the client, seed 5523): half way
    between the echo and this side talking with the other, and at least ECHO_SPREAD_DB under the echo. None
    otherwise: plain bleed."""
    if coupling < STRONG_BLEED_DB:
        return coupling / 2.0
    own_gap = float(np.percentile(other, 90) - np.percentile(own, 90))  # how much quieter this side's leg is
    if own_gap <= 0 or coupling - own_gap >= STRONG_BLEED_DB:
        return None
    # A leg whose loud frames are the echo itself (an IVR prompt, an operator talking to a silent line) has
    # its "voice" at the echo's level: half way put the limit at the echo's median, and half of its frames
    # passed for the client (seed 5631 and 5523: IVR calls with 0.7 s of client speech).
    return min((coupling + own_gap) / 2.0, coupling - ECHO_SPREAD_DB)


def retimed_other(samples: np.ndarray, rate: int, c: int, frame: int) -> tuple[int, np.ndarray] | None:
    """On a two-channel call whose channel `c` carries the other side's voice late (`echo_lag` at least
    half a `frame`): that delay (samples) and the other channel's frame levels (`frame_db`) delayed by
    it, frame for frame with `c`'s; None where the other side comes back at once or not at all."""
    lag = echo_lag(samples[1 - c], samples[c], rate)
    if lag < frame // 2:
        return None
    return lag, frame_db(delayed(samples[1 - c], lag), frame)


def _channel_policy(samples: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    notes: list[str] = []
    if samples.shape[0] > 2:
        n = samples.shape[0]
        live = [i for i in range(n) if _db(_rms(samples[i])) > SILENT_CHANNEL_DBFS]
        if len(live) == 2:
            notes.append(f"{n} channels: kept the two non-silent channels {live[0]} and {live[1]}")
            samples = np.ascontiguousarray(samples[live])
        else:
            notes.append(f"{n} channels ({len(live)} non-silent): mixed down to mono")
            samples = samples.mean(axis=0, dtype=np.float32).reshape(1, -1)
    if samples.shape[0] == 2 and channels_identical(samples[0], samples[1]):
        notes.append("stereo with identical channels (one signal on both, maybe at other levels or "
                     "inverted): treated as mono, the louder channel")
        louder = 0 if _rms(samples[0]) >= _rms(samples[1]) else 1
        samples = np.ascontiguousarray(samples[louder]).reshape(1, -1)
    elif samples.shape[0] == 2:
        live = [i for i in (0, 1) if _db(_rms(samples[i])) > SILENT_CHANNEL_DBFS]
        if len(live) == 1:
            silent = "right" if live[0] == 0 else "left"
            notes.append(f"stereo with a silent {silent} channel: the other channel treated as mono (diarized)")
            samples = np.ascontiguousarray(samples[live[0]]).reshape(1, -1)
    return samples, tuple(notes)


def _quiet_gain(samples: np.ndarray, rate: int) -> tuple[float, tuple[str, ...]]:
    """The gain (dB) that raises a quiet recording to QUIET_TARGET_DBFS (see QUIET_DBFS; 0: none), with a note."""
    frame = int(QUIET_FRAME_S * rate)
    if samples.shape[1] < frame:
        return 0.0, ()
    levels = np.max(np.stack([frame_db(samples[c], frame) for c in range(samples.shape[0])]), axis=0)
    loud, floor = (float(v) for v in np.percentile(levels, [99, 10]))
    if loud >= QUIET_DBFS or loud <= SILENT_CHANNEL_DBFS or loud - floor < QUIET_MIN_RANGE_DB:
        return 0.0, ()  # loud enough, digital silence, or steady line noise with nothing over it
    peak = float(np.max(np.abs(samples)))
    gain_db = min(QUIET_TARGET_DBFS - loud, QUIET_MAX_GAIN_DB, _db(0.99 / max(peak, 1e-12)))
    if gain_db < 1.0:
        return 0.0, ()
    gain_db = round(gain_db, 1)
    return gain_db, (f"quiet recording (loud speech at {loud:.0f} dBFS): raised by {gain_db:.0f} dB for the "
                    f"analysis",)


def load_audio(path: str | Path, config: Config) -> Audio:
    """Decode `path` to float32 at `audio.sample_rate`; see the module doc for the channel policy.

    Raises `InputError` for a missing, empty, non-audio, corrupt, too short or too long file.
    A silence-only file is valid.
    """
    path = Path(path)
    cfg = config.section("audio")
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    _require_tools()
    probe = _probe(path)
    if probe.duration_s is not None and probe.duration_s > cfg.max_duration_s * 1.01:
        raise InputError(path, f"too long: {probe.duration_s:.0f} s, the limit is audio.max_duration_s = "
                               f"{cfg.max_duration_s:g} s")
    samples, n_errors, last_error = _decode(path, cfg.sample_rate, probe.channels)
    duration = samples.shape[1] / float(cfg.sample_rate)
    decode_notes: tuple[str, ...] = ()
    if n_errors:
        if probe.duration_s and duration < 0.9 * probe.duration_s:
            raise InputError(path, f"corrupt audio: only {duration:.1f} s of {probe.duration_s:.1f} s could be "
                                   f"decoded ({last_error})")
        decode_notes = (f"{n_errors} decoding errors skipped ({last_error})",)
    elif probe.duration_s and duration < 0.9 * probe.duration_s and probe.duration_s - duration > 1.0:
        # No error, yet much less audio than the header announces: a file cut short (an upload or a
        # copy that stopped). Analysed as what it holds; the note says the rest is missing.
        decode_notes = (f"the file seems cut short: its header says {probe.duration_s:.1f} s, "
                        f"only {duration:.1f} s could be decoded",)
    if duration < cfg.min_duration_s:
        raise InputError(path, f"too short: {duration:.2f} s of audio, the minimum is audio.min_duration_s = "
                               f"{cfg.min_duration_s:g} s")
    if duration > cfg.max_duration_s * 1.01:
        raise InputError(path, f"too long: {duration:.0f} s, the limit is audio.max_duration_s = "
                               f"{cfg.max_duration_s:g} s")
    if not np.isfinite(samples).all():
        raise InputError(path, "corrupt audio: decoded samples are not finite numbers")
    samples, notes = _channel_policy(samples)
    gain_db, gain_notes = _quiet_gain(samples, cfg.sample_rate)
    notes += gain_notes
    samples = _gained(samples, gain_db)
    spans: tuple[tuple[int, float, float], ...] = ()
    held: tuple[np.ndarray, ...] = ()
    if cfg.silence_tones:
        samples, tone_notes, spans, held = silence_tones(samples, cfg.sample_rate)
        notes += tone_notes
    fmt = probe.format if probe.format not in (None, "") else path.suffix.lstrip(".").lower() or None
    if probe.codec and fmt and probe.codec not in fmt:
        fmt = f"{fmt}/{probe.codec}"
    source = AudioSource(path=str(path), sha256=file_sha256(path), sample_rate=probe.sample_rate,
                         channels=probe.channels, duration_s=round(duration, 3), format=fmt)
    return Audio(samples=samples, source=source, rate=cfg.sample_rate, notes=decode_notes + notes, gain_db=gain_db,
                 tone_spans=spans, tone_samples=held)


def _gained(samples: np.ndarray, gain_db: float) -> np.ndarray:
    return samples if not gain_db else (samples * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def decoded_again(audio: Audio, rate: int) -> np.ndarray | None:
    """`audio`'s file decoded again at `rate` (channels, n) with the channel policy applied, neither raised
    nor with tones replaced; None when there is no file, it cannot be decoded, or its channels or length
    differ from `audio`'s."""
    src = getattr(audio, "source", None)
    if src is None or not Path(src.path).is_file():
        return None
    try:
        native, _, _ = _decode(Path(src.path), rate, src.channels)
        native, _ = _channel_policy(native)
    except InputError:
        return None
    if native.shape[0] != audio.channels or abs(native.shape[1] / rate - audio.duration_s) >= 0.1:
        return None
    return native


def tones_kept(audio: Audio, rate: int) -> np.ndarray | None:
    """`audio`'s channels (channels, n) at `rate` as decoded and raised, with its replaced tones back in
    (`Audio.tone_spans`): what a mono call's ASR hears. At the analysis rate the samples the tones held
    are put back (`Audio.tone_samples`); at another rate the file is decoded again. None when no tone was
    replaced or the file cannot be decoded again to the same length. Line noise in place of a keypad digit
    in a mono call changed Whisper's reading of the speech around it, for the worse as often as not (seed
    3699 with `simulate.py --keypad`: 14 calls over plain faster-whisper's WER by more than 0.02, 1 with the
    tones kept); the diarizer and the audio measures still hear them replaced."""
    spans = getattr(audio, "tone_spans", ())
    if not spans:
        return None
    held = getattr(audio, "tone_samples", ())
    if rate == audio.sample_rate and len(held) == len(spans):
        return put_back(audio.samples, rate, spans, held)
    native = decoded_again(audio, rate)
    return None if native is None else _gained(native, getattr(audio, "gain_db", 0.0))


def conditioned_like(audio: Audio, samples: np.ndarray, rate: int) -> np.ndarray:
    """Another decode of `audio`'s file (channel policy applied, at `rate`) as the analysis hears `audio`:
    raised by the same gain, with the same tones replaced."""
    return replace_spans(_gained(samples, getattr(audio, "gain_db", 0.0)), rate, getattr(audio, "tone_spans", ()))
