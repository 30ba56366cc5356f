"""Who spoke when in a mono recording, and which words each speaker said.

Two backends (`models.diarization.backend`):

* ``pyannote`` – a pyannote.audio pipeline from a local directory, a config.yaml
  or a hub name (`models.diarization.pyannote.pipeline`);
* ``embedded`` – needs nothing but the packages: Silero VAD (faster-whisper) finds
  speech, the resemblyzer encoder embeds ~1.5 s windows inside it, spectral
  clustering groups the windows into `num_speakers`, and smoothing turns frame
  labels into speaker segments;
* ``auto`` – pyannote when its pipeline is configured and loads, else embedded.

Labels (``SPEAKER_00``, ``SPEAKER_01``, numbered by first appearance) mean nothing
by themselves; `pipeline/roles.py` maps them to operator / client.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .config import Config
from .errors import ModelUnavailable
from .types import Turn, Word

log = logging.getLogger(__name__)

Hook = Callable[..., None]
SAMPLE_RATE = 16000
FRAME_S = 0.01  # label resolution (the encoder's mel hop)


def _noop(step: str, completed: int | None = None, total: int | None = None) -> None:
    return None


@dataclass(frozen=True)
class SpeakerSegment:
    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def serialize(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label}


@dataclass(frozen=True)
class DiarizationResult:
    """Speaker segments in time order, without overlap, and how they were made."""

    segments: tuple[SpeakerSegment, ...]
    backend: str  # "embedded" | "pyannote:<source>"
    num_speakers: int | None = None  # as requested (None: the config default)
    info: dict[str, Any] = field(default_factory=dict, compare=False)  # effective options, timings

    @property
    def labels(self) -> list[str]:
        out: list[str] = []
        for s in self.segments:
            if s.label not in out:
                out.append(s.label)
        return out

    def talk_time(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.segments:
            out[s.label] = out.get(s.label, 0.0) + s.duration
        return out

    def serialize(self) -> dict[str, Any]:
        return {"backend": self.backend, "num_speakers": self.num_speakers,
                "segments": [s.serialize() for s in self.segments], "info": self.info}


# --------------------------------------------------------------------------- entry point


def diarize(audio: Any, config: Config, hook: Hook = _noop, num_speakers: int | None = None) -> DiarizationResult:
    """Diarize a decoded recording (`pipeline.audio.Audio`; channels are mixed down).

    `num_speakers` given here is exact (a per-call limit); otherwise the configured
    number is the expected one, and the embedded backend may still find a single
    speaker when the voices are indistinguishable.
    """
    opts = config.section("models").diarization
    samples = _mono(audio)
    backend = opts.backend
    if backend in ("auto", "pyannote"):
        source = opts.pyannote.pipeline
        if source:
            try:
                return _diarize_pyannote(samples, opts, source, hook, num_speakers)
            except ModelUnavailable as e:
                if backend == "pyannote":
                    raise
                log.warning("pyannote diarization unavailable, using the embedded diarizer: %s", e)
        elif backend == "pyannote":
            raise ModelUnavailable("models.diarization.backend is 'pyannote' but "
                                   "models.diarization.pyannote.pipeline is not set")
    return diarize_embedded(samples, opts, hook=hook, num_speakers=num_speakers)


def _mono(audio: Any) -> np.ndarray:
    samples = np.asarray(audio.samples if hasattr(audio, "samples") else audio, dtype=np.float32)
    rate = getattr(audio, "sample_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ValueError(f"diarization expects {SAMPLE_RATE} Hz audio, got {rate} Hz")
    if samples.ndim == 2:
        samples = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    return np.ascontiguousarray(samples, dtype=np.float32)


def _relabel(raw: Iterable[tuple[float, float, Any]]) -> list[SpeakerSegment]:
    """Segments in time order, labels renamed SPEAKER_00.. by first appearance."""
    names: dict[Any, str] = {}
    out = []
    for start, end, lab in sorted(raw, key=lambda x: (x[0], x[1])):
        if end <= start:
            continue
        if lab not in names:
            names[lab] = f"SPEAKER_{len(names):02d}"
        out.append(SpeakerSegment(float(start), float(end), names[lab]))
    return out


# --------------------------------------------------------------------------- pyannote


def _diarize_pyannote(samples: np.ndarray, opts: Any, source: str, hook: Hook,
                      num_speakers: int | None) -> DiarizationResult:
    from callqa.models.diarization import pyannote_pipeline, run_pyannote

    pipeline = pyannote_pipeline(source, opts.pyannote.token_env, opts.pyannote.device)
    n = num_speakers if num_speakers is not None else opts.num_speakers

    def progress(step: str, artifact: Any = None, file: Any = None, completed: int | None = None,
                 total: int | None = None) -> None:
        hook(f"diarize: {step}", completed=completed, total=total)

    raw = run_pyannote(pipeline, samples, n, hook=progress, threads=opts.pyannote.threads)
    return DiarizationResult(tuple(_relabel(raw)), backend=f"pyannote:{source}", num_speakers=num_speakers,
                             info={"requested_speakers": n})


# --------------------------------------------------------------------------- embedded


def diarize_embedded(samples: np.ndarray, opts: Any, hook: Hook = _noop,
                     num_speakers: int | None = None) -> DiarizationResult:
    """The embedded diarizer on mono 16 kHz samples. `opts` is `DiarizationOptions`."""
    from callqa.models.diarization import embed_windows, mel_frames, speech_regions

    e = opts.embedded
    exact = num_speakers is not None
    k = num_speakers if exact else opts.num_speakers
    duration = len(samples) / SAMPLE_RATE
    info: dict[str, Any] = {"requested_speakers": k}

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    info["timings_s"] = timings
    hook("diarize: speech", completed=0, total=3)
    regions = speech_regions(samples, e.vad_threshold, e.min_silence_duration_ms, e.speech_pad_ms)
    frames = [(int(round(s / SAMPLE_RATE / FRAME_S)), int(round(en / SAMPLE_RATE / FRAME_S))) for s, en in regions]
    n_frames = int(np.ceil(duration / FRAME_S))
    frames = [(max(0, a), min(n_frames, b)) for a, b in frames if min(n_frames, b) > max(0, a)]
    info["speech_s"] = round(sum(b - a for a, b in frames) * FRAME_S, 3)
    timings["vad"] = round(time.perf_counter() - t0, 3)
    if not frames:
        return DiarizationResult((), backend="embedded", num_speakers=num_speakers, info=info)

    windows = _windows(frames, e.window_s, e.step_s, e.min_window_s)
    if not windows:  # only tiny bits of speech: nothing to tell voices apart by
        segs = [SpeakerSegment(a * FRAME_S, b * FRAME_S, "SPEAKER_00") for a, b in frames]
        return DiarizationResult(tuple(_smooth(segs, e.fill_gap_s, e.min_turn_s)), backend="embedded",
                                 num_speakers=num_speakers, info=info)

    hook("diarize: embeddings", completed=1, total=3)
    t1 = time.perf_counter()
    mel = mel_frames(samples)
    energy = _frame_energy(samples, len(mel))
    timings["features"] = round(time.perf_counter() - t1, 3)
    t1 = time.perf_counter()
    emb = embed_windows(mel, energy, windows, batch_size=e.batch_size, threads=e.threads)
    timings["embeddings"] = round(time.perf_counter() - t1, 3)
    info["windows"] = len(windows)
    t1 = time.perf_counter()

    hook("diarize: clustering", completed=2, total=3)
    labels, centroids = cluster_embeddings(emb, k)
    if len(centroids) > 1:
        info["centroid_similarity"] = round(_closest_pair(centroids)[0], 3)
        if not exact:
            labels, centroids = merge_alike(emb, labels, centroids, e.single_speaker_similarity)
    scores = emb @ centroids.T  # (windows, speakers) cosine similarity

    frame_labels = _frame_labels(frames, windows, scores, n_frames)
    segs = _segments_from_frames(frame_labels)
    segs = _smooth(segs, e.fill_gap_s, e.min_turn_s)
    timings["clustering"] = round(time.perf_counter() - t1, 3)
    timings["total"] = round(time.perf_counter() - t0, 3)
    hook("diarize: done", completed=3, total=3)
    out = _relabel((s.start, s.end, s.label) for s in segs)
    info["speakers_found"] = len({s.label for s in out})
    return DiarizationResult(tuple(out), backend="embedded", num_speakers=num_speakers, info=info)


def _frame_energy(samples: np.ndarray, n: int) -> np.ndarray:
    """Mean square of the samples around each mel frame (frame i centred on sample 160 i)."""
    hop = int(SAMPLE_RATE * FRAME_S)
    padded = np.pad(samples.astype(np.float32), (hop // 2, n * hop))
    sq = padded[: n * hop].reshape(n, hop) ** 2
    return sq.mean(axis=1)


def _windows(frames: Sequence[tuple[int, int]], window_s: float, step_s: float,
             min_window_s: float) -> list[tuple[int, int]]:
    """Embedding windows `(start_frame, n_frames)` inside speech regions: a region up
    to one window long is one window; a longer one is covered with overlapping windows."""
    w = max(1, int(round(window_s / FRAME_S)))
    step = max(1, int(round(step_s / FRAME_S)))
    wmin = max(1, int(round(min_window_s / FRAME_S)))
    out: list[tuple[int, int]] = []
    for a, b in frames:
        n = b - a
        if n < wmin:
            continue
        if n <= w:
            out.append((a, n))
            continue
        starts = list(range(a, b - w + 1, step))
        if starts[-1] + w < b:
            starts.append(b - w)
        out.extend((s, w) for s in starts)
    return out


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    c = np.stack([emb[labels == i].mean(axis=0) if np.any(labels == i) else np.zeros(emb.shape[1]) for i in range(k)])
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-8)


def cluster_embeddings(emb: np.ndarray, k: int, max_points: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and unit centroids (k', d) of L2-normed embeddings.

    Spectral clustering (Ng, Jordan & Weiss) on a sharpened cosine affinity, then
    nearest-centroid refinement in the embedding space. Long calls cluster an evenly
    spaced subset of at most `max_points` windows; the refinement labels all of them.
    """
    n = len(emb)
    if k <= 1 or n < max(3, k):
        labels = np.zeros(n, dtype=int)
        return labels, _centroids(emb, labels, 1)
    sub = np.linspace(0, n - 1, max_points).round().astype(int) if n > max_points else np.arange(n)
    sub_labels = spectral_labels(emb[sub], k)
    centroids = _centroids(emb[sub], sub_labels, k)
    labels = np.argmax(emb @ centroids.T, axis=1)
    for _ in range(10):
        if len(np.unique(labels)) < k:
            break
        centroids = _centroids(emb, labels, k)
        new = np.argmax(emb @ centroids.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    used = np.unique(labels)
    labels = np.searchsorted(used, labels)
    return labels, _centroids(emb, labels, len(used))


def _closest_pair(centroids: np.ndarray) -> tuple[float, int, int]:
    sim = centroids @ centroids.T
    np.fill_diagonal(sim, -np.inf)
    i, j = np.unravel_index(int(np.argmax(sim)), sim.shape)
    return float(sim[i, j]), int(min(i, j)), int(max(i, j))


def merge_alike(emb: np.ndarray, labels: np.ndarray, centroids: np.ndarray,
                threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge clusters whose centroids are at least `threshold` alike (cosine), closest
    pair first: one voice split in two is one speaker."""
    labels = labels.copy()
    while len(centroids) > 1:
        sim, i, j = _closest_pair(centroids)
        if sim < threshold:
            break
        labels[labels == j] = i
        labels[labels > j] -= 1
        centroids = _centroids(emb, labels, len(centroids) - 1)
    return labels, centroids


def spectral_labels(emb: np.ndarray, k: int) -> np.ndarray:
    """Spectral clustering of unit vectors into `k` groups (deterministic)."""
    from scipy.linalg import eigh

    n = len(emb)
    affinity = np.clip(emb @ emb.T, 0.0, 1.0).astype(np.float64)
    # Sharpen (Wang et al., 2018): keep each row's strongest neighbours, symmetrise.
    if n > 10:
        keep = max(2, int(np.ceil(0.2 * n)))
        thresh = -np.partition(-affinity, keep - 1, axis=1)[:, keep - 1:keep]
        affinity = np.where(affinity >= thresh, affinity, 0.01 * affinity)
        affinity = np.maximum(affinity, affinity.T)
    d = 1.0 / np.sqrt(affinity.sum(axis=1) + 1e-10)
    m = affinity * d[:, None] * d[None, :]
    _, vecs = eigh(m, subset_by_index=[n - k, n - 1])
    u = vecs / (np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-10)
    return _kmeans(u, k)


def _kmeans(x: np.ndarray, k: int, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means with a deterministic farthest-point start."""
    centres = [x[np.argmax(np.linalg.norm(x - x.mean(axis=0), axis=1))]]
    for _ in range(1, k):
        dist = np.min([np.linalg.norm(x - c, axis=1) for c in centres], axis=0)
        centres.append(x[np.argmax(dist)])
    c = np.stack(centres)
    labels = np.zeros(len(x), dtype=int)
    for it in range(iters):
        new = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        if it and np.array_equal(new, labels):
            break
        labels = new
        c = np.stack([x[labels == j].mean(axis=0) if np.any(labels == j) else c[j] for j in range(k)])
    return labels


def _frame_labels(frames: Sequence[tuple[int, int]], windows: Sequence[tuple[int, int]], scores: np.ndarray,
                  n_frames: int) -> np.ndarray:
    """Speaker index per 10 ms frame (-1: no speech). A speech frame takes the speaker
    whose summed similarity over the windows covering it is highest; frames no window
    covers take the nearest window's speaker."""
    k = scores.shape[1]
    acc = np.zeros((n_frames, k), dtype=np.float32)
    cover = np.zeros(n_frames, dtype=np.int32)
    # Centre-weighted votes: a window speaks most reliably about its middle.
    for (s, n), sc in zip(windows, scores):
        wgt = np.hanning(n + 2)[1:-1].astype(np.float32)[:, None]
        acc[s:s + n] += wgt * sc[None, :]
        cover[s:s + n] += 1
    centres = np.array([s + n / 2 for s, n in windows])
    labels = np.full(n_frames, -1, dtype=np.int64)
    for a, b in frames:
        idx = np.arange(a, b)
        lab = np.argmax(acc[a:b], axis=1)
        missing = cover[a:b] == 0
        if missing.any():
            nearest = np.abs(centres[None, :] - idx[missing][:, None]).argmin(axis=1)
            lab[missing] = np.argmax(scores[nearest], axis=1)
        labels[a:b] = lab
    return labels


def _segments_from_frames(labels: np.ndarray) -> list[SpeakerSegment]:
    out: list[SpeakerSegment] = []
    if len(labels) == 0:
        return out
    change = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], change, [len(labels)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        if labels[a] >= 0:
            out.append(SpeakerSegment(a * FRAME_S, b * FRAME_S, f"S{int(labels[a])}"))
    return out


def _smooth(segs: list[SpeakerSegment], fill_gap_s: float, min_turn_s: float) -> list[SpeakerSegment]:
    """Join same-speaker segments across short gaps; let tiny segments be absorbed by
    an adjacent neighbour (the nearer one) when one is within `fill_gap_s`."""
    segs = sorted(segs, key=lambda s: s.start)

    def join(xs: list[SpeakerSegment]) -> list[SpeakerSegment]:
        out: list[SpeakerSegment] = []
        for s in xs:
            if out and out[-1].label == s.label and s.start - out[-1].end <= fill_gap_s:
                out[-1] = SpeakerSegment(out[-1].start, max(out[-1].end, s.end), s.label)
            else:
                out.append(s)
        return out

    segs = join(segs)
    changed = True
    while changed and len(segs) > 1:
        changed = False
        # The shortest tiny segment first, so a run of tiny ones collapses sensibly.
        order = sorted(range(len(segs)), key=lambda i: segs[i].duration)
        for i in order:
            s = segs[i]
            if s.duration >= min_turn_s:
                break
            gaps = []
            if i > 0:
                gaps.append((s.start - segs[i - 1].end, i - 1))
            if i + 1 < len(segs):
                gaps.append((segs[i + 1].start - s.end, i + 1))
            gaps = [g for g in gaps if g[0] <= fill_gap_s and segs[g[1]].label != s.label]
            if not gaps:
                continue
            _, j = min(gaps)
            segs[i] = SpeakerSegment(s.start, s.end, segs[j].label)
            segs = join(segs)
            changed = True
            break
    return segs


# --------------------------------------------------------------------------- words -> turns


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def speaker_at(start: float, end: float, segments: Sequence[SpeakerSegment], starts: np.ndarray) -> str | None:
    """The label overlapping [start, end] most; else the nearest segment's label."""
    if not segments:
        return None
    i = int(np.searchsorted(starts, end, side="left"))
    best, best_ov = None, 0.0
    j = i - 1
    while j >= 0:
        s = segments[j]
        ov = _overlap(start, end, s.start, s.end)
        if ov > best_ov:
            best, best_ov = s.label, ov
        if s.end <= start:  # segments do not overlap: earlier ones end earlier still
            break
        j -= 1
    if best is not None:
        return best
    mid = (start + end) / 2
    cands = [segments[x] for x in (i - 1, i) if 0 <= x < len(segments)]
    # A zero-length word (or one in a gap): the nearest segment in time.
    return min(cands, key=lambda s: 0.0 if s.start <= mid <= s.end else min(abs(mid - s.start), abs(mid - s.end))).label


def assign_speakers(asr_segments: Sequence[Any], diarization: DiarizationResult, config: Config) -> list[Turn]:
    """Turns from ASR segments (duck-typed: `.words`, `.avg_logprob`, `.start`, `.end`,
    `.text`) and speaker segments: each word takes the speaker it overlaps most (the
    nearest segment when none overlaps); consecutive words of one speaker form a turn,
    split where the pause between words exceeds `models.asr.turn_pause_s` (as stereo turns are).
    A segment without word timings is assigned as a whole."""
    max_pause = config.section("models").asr.turn_pause_s
    segs = sorted(diarization.segments, key=lambda s: s.start)
    starts = np.array([s.start for s in segs], dtype=float)
    fallback = segs[0].label if segs else "SPEAKER_00"

    # (speaker, word, avg_logprob) in time order
    items: list[tuple[str, Word, float | None]] = []
    for seg in asr_segments:
        lp = getattr(seg, "avg_logprob", None)
        words = tuple(getattr(seg, "words", ()) or ())
        if not words:
            text = (getattr(seg, "text", "") or "").strip()
            if not text:
                continue
            words = (Word(text, float(seg.start), float(seg.end), 1.0),)
        for w in words:
            if not w.text.strip():
                continue
            spk = speaker_at(float(w.start), float(w.end), segs, starts) or fallback
            items.append((spk, w, lp))
    items.sort(key=lambda x: (x[1].start, x[1].end))

    turns: list[Turn] = []
    group: list[tuple[str, Word, float | None]] = []

    def flush() -> None:
        if not group:
            return
        words = tuple(w for _, w, _ in group)
        lps = [lp for _, _, lp in group if lp is not None]
        text = _join_words([w.text for w in words])
        turns.append(Turn(speaker=group[0][0], start=words[0].start, end=max(w.end for w in words), text=text,
                          words=words, avg_logprob=float(np.mean(lps)) if lps else None))
        group.clear()

    for item in items:
        if group and (item[0] != group[-1][0] or item[1].start - group[-1][1].end > max_pause):
            flush()
        group.append(item)
    flush()
    return turns


def _join_words(texts: list[str]) -> str:
    """faster-whisper words carry their leading space; plain words get one."""
    if any(t[:1].isspace() for t in texts[1:]):
        return "".join(texts).strip()
    return " ".join(t.strip() for t in texts).strip()
