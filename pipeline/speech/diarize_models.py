"""Diarization models: Silero VAD (shipped with faster-whisper), the resemblyzer
speaker encoder (shipped with the PyPI package) and pyannote.audio pipelines.

Every loader is lazy and cached: nothing heavy is imported or loaded at import
time. `pipeline/speech/diarize.py` holds the algorithm; this module only runs models.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.types import joined

SAMPLE_RATE = 16000
MEL_HOP = 160  # samples per mel frame (10 ms), the encoder's hyper-parameter
MEL_WINDOW = 400  # 25 ms
MEL_CHANNELS = 40
ENCODER_TARGET_DBFS = -30.0  # resemblyzer normalises utterances to this level
EMBEDDING_SIZE = 256


def speech_regions(samples: np.ndarray, threshold: float, min_silence_duration_ms: int,
                   speech_pad_ms: int, sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Speech regions `[(start, end), ...]` in samples, from the Silero VAD that faster-whisper ships."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=threshold, min_silence_duration_ms=min_silence_duration_ms,
                      speech_pad_ms=speech_pad_ms)
    stamps = get_speech_timestamps(np.ascontiguousarray(samples, dtype=np.float32), opts,
                                   sampling_rate=sample_rate)
    return [(int(s["start"]), int(s["end"])) for s in stamps]


QUIET_VOICE_RAISE_DB = 12.0  # how much louder `speech_regions_any_level` hears the quiet parts of a recording


def raised_quiet(samples: np.ndarray, by_db: float = QUIET_VOICE_RAISE_DB) -> np.ndarray:
    """`samples` with their quiet parts `by_db` louder and the loud ones held under full scale: a soft
    limiter, 0.9 tanh of the samples scaled so that their peak (99.9th percentile) sits `by_db` over 1."""
    x = np.asarray(samples, dtype=np.float32)
    peak = float(np.percentile(np.abs(x), 99.9)) if x.size else 0.0
    if peak <= 0.0:
        return x
    return (0.9 * np.tanh(x * np.float32(10 ** (by_db / 20) / peak))).astype(np.float32)


def speech_regions_any_level(samples: np.ndarray, threshold: float, min_silence_duration_ms: int,
                             speech_pad_ms: int, sample_rate: int = SAMPLE_RATE
                             ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """`speech_regions` of the samples as recorded, joined with those of the samples with their quiet parts
    raised (`raised_quiet`). Silero hears a quiet voice less: a client 12 dB under the operator in a mono mix
    lost 8 % of their speech to it (seed 5631: 23 s of 305), which the diarizer then gave to nobody, and the
    talk ratio leaned to the operator by 0.06. Raised, 1 s of it is lost; the loud voice keeps the regions
    heard as recorded (limited, its own speech loses a little). Returns the joined regions and those heard
    as recorded."""
    recorded = speech_regions(samples, threshold, min_silence_duration_ms, speech_pad_ms, sample_rate)
    raised = speech_regions(raised_quiet(samples), threshold, min_silence_duration_ms, speech_pad_ms, sample_rate)
    return joined(recorded + raised), recorded


def encoder_weights() -> Path:
    """The pretrained speaker-encoder weights that the PyPI package `resemblyzer` ships."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.origin:
        raise ModelUnavailable("the speaker encoder needs the 'resemblyzer' package (pip install resemblyzer)")
    path = Path(spec.origin).parent / "pretrained.pt"
    if not path.is_file():
        raise ModelUnavailable(f"resemblyzer's pretrained encoder is missing: {path}")
    return path


@lru_cache(maxsize=1)
def voice_encoder(device: str = "cpu") -> Any:
    """resemblyzer's speaker encoder (GE2E: 3-layer LSTM on 40-band mel frames, 256-d output),
    loaded once. Built here from its weights file: the same network as
    `resemblyzer.VoiceEncoder` without importing that package (webrtcvad, librosa, which
    the diarizer does not need and which cost seconds to import)."""
    import torch
    from torch import nn

    class SpeakerEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(MEL_CHANNELS, EMBEDDING_SIZE, 3, batch_first=True)
            self.linear = nn.Linear(EMBEDDING_SIZE, EMBEDDING_SIZE)
            self.relu = nn.ReLU()
            self.device = torch.device(device)

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / (torch.norm(raw, dim=1, keepdim=True) + 1e-8)

    path = encoder_weights()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        encoder = SpeakerEncoder()
        encoder.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
    except Exception as e:  # noqa: BLE001 - a corrupt or incompatible file
        raise ModelUnavailable(f"cannot load the speaker encoder from {path}: {type(e).__name__}: {e}") from None
    return encoder.to(encoder.device).eval()


@lru_cache(maxsize=4)
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = MEL_WINDOW, n_mels: int = MEL_CHANNELS) -> np.ndarray:
    """Slaney-style mel filterbank (n_mels, n_fft // 2 + 1), as librosa builds it by default."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray, chunk_frames: int = 8192) -> np.ndarray:
    """The encoder's input features for a whole recording: (n_frames, 40) mel power
    spectrogram, 25 ms Hann windows every 10 ms, frame i centred on sample 160 i
    (what `resemblyzer.audio.wav_to_mel_spectrogram` computes, in bounded memory)."""
    y = np.ascontiguousarray(samples, dtype=np.float32)
    n_frames = 1 + len(y) // MEL_HOP
    padded = np.pad(y, (MEL_WINDOW // 2, MEL_WINDOW // 2 + MEL_HOP))
    n = np.arange(MEL_WINDOW)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / MEL_WINDOW)).astype(np.float32)  # periodic Hann
    fb = mel_filterbank()
    out = np.empty((n_frames, MEL_CHANNELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, MEL_WINDOW)[::MEL_HOP]
    for a in range(0, n_frames, chunk_frames):
        block = frames[a:min(n_frames, a + chunk_frames)] * window
        power = np.abs(np.fft.rfft(block, axis=1)) ** 2
        out[a:a + len(block)] = (power @ fb.T).astype(np.float32)
    return out


PITCH_WINDOW = 400  # 25 ms: YIN's integration window
PITCH_FMIN, PITCH_FMAX = 60.0, 400.0  # Hz: the voices of a call


def frame_pitch(samples: np.ndarray, frames: np.ndarray, voicing: float = 0.2,
                chunk_frames: int = 4096) -> np.ndarray:
    """Fundamental frequency (Hz) at the given 10 ms frames (frame i starts at sample 160 i), NaN
    where unvoiced: YIN (de Cheveigné & Kawahara, 2002), the first dip of the cumulative mean
    normalised difference under `voicing` in 60-400 Hz, refined to its local minimum. Numpy only;
    in bounded memory (`chunk_frames` frames at a time). The telephone band (300-3400 Hz) keeps the
    harmonics, so the periodicity and with it the pitch survive 8 kHz audio."""
    y = np.ascontiguousarray(samples, dtype=np.float32)
    frames = np.asarray(frames, dtype=np.int64)
    out = np.full(len(frames), np.nan)
    lo, hi = int(SAMPLE_RATE / PITCH_FMAX), int(SAMPLE_RATE / PITCH_FMIN)
    w, length = PITCH_WINDOW, PITCH_WINDOW + hi + 1
    padded = np.pad(y, (0, length))
    nfft = 1 << int(np.ceil(np.log2(2 * length)))
    taus = np.arange(1, hi + 1)
    for a in range(0, len(frames), chunk_frames):
        idx = frames[a:a + chunk_frames]
        idx = idx[idx * MEL_HOP < len(y)]
        if not len(idx):
            continue
        seg = padded[(idx * MEL_HOP)[:, None] + np.arange(length)[None, :]].astype(np.float64)
        seg -= seg.mean(axis=1, keepdims=True)
        head = np.zeros_like(seg)
        head[:, :w] = seg[:, :w]
        # r(tau) = sum_{j<w} x_j x_{j+tau}; e(tau) = sum_{j<w} x_{j+tau}^2
        r = np.fft.irfft(np.conj(np.fft.rfft(head, nfft)) * np.fft.rfft(seg, nfft), nfft)[:, :hi + 1]
        c = np.concatenate([np.zeros((len(idx), 1)), np.cumsum(seg ** 2, axis=1)], axis=1)
        e = c[:, w:w + hi + 1] - c[:, :hi + 1]
        d = np.maximum(e[:, :1] + e - 2.0 * r, 0.0)[:, 1:]  # tau = 1..hi
        cm = d * taus[None, :] / np.maximum(np.cumsum(d, axis=1), 1e-12)
        band = cm[:, lo - 1:]
        below = band < voicing
        has = below.any(axis=1)
        for i in np.flatnonzero(has):
            j = int(np.argmax(below[i]))
            while j + 1 < band.shape[1] and band[i, j + 1] < band[i, j]:
                j += 1
            tau = j + lo
            # parabolic interpolation around the dip
            if 0 < j < band.shape[1] - 1:
                p, q, s = band[i, j - 1], band[i, j], band[i, j + 1]
                den = p - 2 * q + s
                tau = tau + (0.5 * (p - s) / den if den > 1e-12 else 0.0)
            out[a + i] = SAMPLE_RATE / tau
        silent = e[:, 0] / w < 1e-7
        out[a:a + len(idx)][silent] = np.nan
    return out


def window_pitch(samples: np.ndarray, windows: Sequence[tuple[int, int]], min_voiced: int = 10) -> np.ndarray:
    """Median pitch of each embedding window `(start_frame, n_frames)` in semitones above 100 Hz;
    NaN for a window with under `min_voiced` voiced 10 ms frames."""
    if not len(windows):
        return np.zeros(0)
    covered = np.unique(np.concatenate([np.arange(s, s + n) for s, n in windows]))
    f0 = frame_pitch(samples, covered)
    at = {int(f): v for f, v in zip(covered, f0)}
    out = np.full(len(windows), np.nan)
    for k, (s, n) in enumerate(windows):
        v = np.array([at[f] for f in range(s, s + n)])
        v = v[~np.isnan(v)]
        if len(v) >= min_voiced:
            out[k] = 12.0 * np.log2(np.median(v) / 100.0)
    return out


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with `n` intra-op threads (0: leave as is), restoring the setting after."""
    import torch

    before = torch.get_num_threads()
    if n > 0 and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def embed_windows(mel: np.ndarray, frame_energy: np.ndarray, windows: Sequence[tuple[int, int]],
                  batch_size: int = 64, device: str = "cpu", threads: int = 1) -> np.ndarray:
    """Speaker embeddings (n, 256), L2-normed, of mel-frame windows `[(start, n_frames), ...]`.

    Each window is normalised to the encoder's training loudness (a gain on the power
    spectrogram). Windows of equal length run as plain batches (the fast LSTM kernel);
    the odd-length rest as one packed batch. `threads`: torch threads while embedding
    (a small LSTM gains little from more, and suffers badly when cores are shared).
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    out = np.zeros((len(windows), EMBEDDING_SIZE), dtype=np.float32)
    if not windows:
        return out
    encoder = voice_encoder(device)
    target_power = 10.0 ** (ENCODER_TARGET_DBFS / 10.0)

    def features(idx: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        longest = max(windows[i][1] for i in idx)
        batch = np.zeros((len(idx), longest, MEL_CHANNELS), dtype=np.float32)
        for j, i in enumerate(idx):
            start, n = windows[i]
            gain = target_power / (float(frame_energy[start:start + n].mean()) + 1e-10)  # power domain
            batch[j, :n] = mel[start:start + n] * gain
        return batch, [windows[i][1] for i in idx]

    def run(idx: Sequence[int], packed: bool) -> None:
        batch, lengths = features(idx)
        x: Any = torch.from_numpy(batch).to(encoder.device)
        if packed:
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = encoder.lstm(x)
        raw = encoder.relu(encoder.linear(hidden[-1]))
        out[list(idx)] = (raw / (torch.norm(raw, dim=1, keepdim=True) + 1e-8)).cpu().numpy()

    full = max(n for _, n in windows)
    same = [i for i, (_, n) in enumerate(windows) if n == full]
    rest = [i for i, (_, n) in enumerate(windows) if n != full]
    with torch.inference_mode(), torch_threads(threads):
        for b in range(0, len(same), batch_size):
            run(same[b:b + batch_size], packed=False)
        for b in range(0, len(rest), batch_size):
            run(rest[b:b + batch_size], packed=True)
    return out


def _pyannote_source(source: str) -> tuple[str, bool]:
    """(checkpoint, is_local): a directory with config.yaml, a config.yaml path, or a hub name."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise ModelUnavailable(f"pyannote pipeline directory {path} has no config.yaml")
        return str(path), True
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ModelUnavailable(f"pyannote pipeline config {path}: no such file")
        return str(path), True
    if source.startswith((".", "/", "~")):
        raise ModelUnavailable(f"pyannote pipeline {source}: no such directory or file")
    return source, False


@lru_cache(maxsize=2)
def pyannote_pipeline(source: str, token_env: str = "HF_TOKEN", device: str = "cpu") -> Any:
    """A pyannote.audio pipeline from a local directory, a config.yaml path or a hub
    name (downloaded once, with the token from env var `token_env`). Cached.

    Raises `ModelUnavailable` when it cannot be loaded (e.g. offline and not cached).
    """
    # Telemetry off before pyannote is imported: calls never leave the machine.
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
    checkpoint, local = _pyannote_source(source)
    token = None if local else (os.environ.get(token_env) or None)
    try:
        import torch
        from pyannote.audio import Pipeline
    except ImportError as e:  # pragma: no cover - a broken install
        raise ModelUnavailable(f"pyannote.audio cannot be imported: {e}") from None
    try:
        pipeline = Pipeline.from_pretrained(checkpoint, token=token)
    except ModelUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - pyannote raises many kinds; the user needs one message
        raise ModelUnavailable(f"pyannote pipeline {source!r} cannot be loaded: {type(e).__name__}: {e}") from None
    if pipeline is None:
        raise ModelUnavailable(f"pyannote pipeline {source!r} cannot be loaded (not found; gated models need "
                               f"a token in ${token_env})")
    pipeline.to(torch.device(device))
    return pipeline


def run_pyannote(pipeline: Any, samples: np.ndarray, num_speakers: int | None,
                 hook: Any = None, threads: int = 0, max_speakers: int | None = None,
                 ) -> tuple[list[tuple[float, float, str]], list[tuple[float, float, str, str]]]:
    """Apply a loaded pyannote pipeline to mono 16 kHz samples.

    Returns `[(start, end, label)]` without overlap (the pipeline's exclusive diarization
    when it has one) and the overlapped speech its segmentation found,
    `[(start, end, first, second)]`: `first` was speaking when `second` came in (for two
    speakers at once; more at once are reported pairwise as the latest two). `num_speakers`
    fixes the count; else `max_speakers` bounds pyannote's own estimate."""
    import torch

    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0)
    kwargs: dict[str, Any] = {}
    if num_speakers is not None:
        kwargs["num_speakers"] = num_speakers
    elif max_speakers is not None:
        kwargs["max_speakers"] = max_speakers
    if hook is not None:
        kwargs["hook"] = hook
    with torch_threads(threads):
        output = pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **kwargs)
    full = getattr(output, "speaker_diarization", output)
    annotation = getattr(output, "exclusive_speaker_diarization", None)
    if annotation is None:
        annotation = full
    segments = [(float(seg.start), float(seg.end), str(label))
                for seg, _, label in annotation.itertracks(yield_label=True)]
    return segments, overlap_regions(full)


def overlap_regions(annotation: Any) -> list[tuple[float, float, str, str]]:
    """Regions of a (non-exclusive) pyannote annotation where two speakers talk at once:
    `(start, end, first, second)`, `second` being the one whose current turn began later."""
    tracks = [(float(seg.start), float(seg.end), str(label)) for seg, _, label in annotation.itertracks(yield_label=True)]
    tracks.sort()
    out: list[tuple[float, float, str, str]] = []
    for i, (s1, e1, l1) in enumerate(tracks):
        for s2, e2, l2 in tracks[i + 1:]:
            if s2 >= e1:
                break
            if l2 != l1 and min(e1, e2) > s2:
                out.append((s2, min(e1, e2), l1, l2))
    return out
