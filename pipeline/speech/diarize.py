"""Who spoke when in a mono recording, and which words each speaker said.

Two backends (`models.diarization.backend`):

* ``pyannote`` – a pyannote.audio pipeline from a local directory, a config.yaml
  or a hub name (`models.diarization.pyannote.pipeline`);
* ``embedded`` – needs nothing but the packages: Silero VAD (faster-whisper) finds
  speech, the resemblyzer encoder embeds ~1.5 s windows inside it, spectral
  clustering groups the windows into `num_speakers`, clusters that are one voice are
  merged (`merge_same_voice`: a voicemail or an IVR prompt is one speaker), and
  smoothing turns frame labels into speaker segments;
* ``auto`` – pyannote when its pipeline is configured and loads, else embedded.

The number of speakers is estimated (1..`num_speakers`) unless a call fixes it
(`num_speakers` argument, from the call's metadata) or `speaker_count.estimate` is off;
`DiarizationResult.speakers` says which and why (`processing.speakers`). Overlapped
speech (`overlaps`: pyannote's segmentation, or `detect_overlaps` in the embedded
path) makes the turns of a mono call overlap, so interruptions are measured; where it
is not measured `overlap_note` says why (`processing.overlaps`, interruptions null).

Labels (``SPEAKER_00``, ``SPEAKER_01``, numbered by first appearance) mean nothing
by themselves; `pipeline/speech/roles.py` maps them to operator / client.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from callqa.pipeline.config import Config
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.types import Hook, Turn, Word, no_progress, uncovered

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_S = 0.01  # label resolution (the encoder's mel hop)




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
class Overlap:
    """Two speakers at once: `second` came in while `first` was speaking."""

    start: float
    end: float
    first: str
    second: str

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def serialize(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "first": self.first,
                "second": self.second}


@dataclass(frozen=True)
class DiarizationResult:
    """Speaker segments in time order, without overlap, and how they were made.

    `overlaps`: where two speakers talk at once, when `overlap_method` says they were
    measured; `overlap_method` None means they were not, and `overlap_note` says why
    (interruption indicators are then null, never a free score). `overlap_partial` says why
    overlaps that were measured still do not show that a side never cut in (the embedded
    detector finds only some): what was found counts, a side with none found is unknown."""

    segments: tuple[SpeakerSegment, ...]
    backend: str  # "embedded" | "pyannote:<source>"
    num_speakers: int | None = None  # as requested (None: the config default)
    info: dict[str, Any] = field(default_factory=dict, compare=False)  # effective options, timings
    overlaps: tuple[Overlap, ...] = ()
    overlap_method: str | None = None  # "pyannote-segmentation" | "embedded-windows"; None: not measured
    overlap_note: str | None = None  # why overlaps were not measured
    # measured, but a side with none found is unknown rather than none, and why (`OVERLAPS_PARTIAL`)
    overlap_partial: str | None = None

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

    @property
    def speakers(self) -> dict[str, Any]:
        """`processing.speakers`: how many speakers, how that was decided, and why."""
        d = dict(self.info.get("speakers") or {"count": len(self.labels), "method": "unknown"})
        d["count"] = len(self.labels)
        d["backend"] = self.backend
        return d

    def overlap_summary(self) -> dict[str, Any]:
        """`processing.overlaps`: measured or not (and why), and what was found."""
        if self.overlap_method is None:
            return {"measured": False, "reason": self.overlap_note or "overlapping speech was not measured"}
        d = {"measured": True, "method": self.overlap_method, "count": len(self.overlaps),
             "seconds": round(sum(o.duration for o in self.overlaps), 3),
             "items": [o.serialize() for o in self.overlaps]}
        if self.overlap_partial:
            d["partial"] = self.overlap_partial
        return d

    def serialize(self) -> dict[str, Any]:
        return {"backend": self.backend, "num_speakers": self.num_speakers,
                "segments": [s.serialize() for s in self.segments], "info": self.info,
                "overlaps": self.overlap_summary()}


# --------------------------------------------------------------------------- entry point


def diarize(audio: Any, config: Config, hook: Hook = no_progress, num_speakers: int | None = None) -> DiarizationResult:
    """Diarize a decoded recording (`pipeline.audio.Audio`; channels are mixed down).

    `num_speakers` given here is exact (a per-call limit); otherwise the configured
    number is the expected one, and the embedded backend may still find a single
    speaker when the voices are indistinguishable.
    """
    opts = config.section("models").diarization
    samples = _mono(audio)
    backend = opts.backend
    if tries_pyannote(opts):
        try:
            return _diarize_pyannote(samples, opts, opts.pyannote.pipeline, hook, num_speakers)
        except ModelUnavailable as e:
            if backend == "pyannote":
                raise
            log.warning("pyannote diarization unavailable, using the embedded diarizer: %s", e)
    elif backend == "pyannote":
        raise ModelUnavailable("models.diarization.backend is 'pyannote' but "
                               "models.diarization.pyannote.pipeline is not set")
    return diarize_embedded(samples, opts, hook=hook, num_speakers=num_speakers)


def tries_pyannote(opts: Any) -> bool:
    """Whether `diarize` tries pyannote first (`models.diarization`: backend auto or pyannote, with a
    pipeline set)."""
    return opts.backend in ("auto", "pyannote") and bool(opts.pyannote.pipeline)


def _mono(audio: Any) -> np.ndarray:
    samples = np.asarray(audio.samples if hasattr(audio, "samples") else audio, dtype=np.float32)
    rate = getattr(audio, "sample_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ValueError(f"diarization expects {SAMPLE_RATE} Hz audio, got {rate} Hz")
    if samples.ndim == 2:
        samples = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    return np.ascontiguousarray(samples, dtype=np.float32)


def _label_names(raw: Iterable[tuple[float, float, Any]]) -> dict[Any, str]:
    """Raw label -> SPEAKER_00.. by first appearance (what `_relabel` renames them to)."""
    names: dict[Any, str] = {}
    for start, end, lab in sorted(raw, key=lambda x: (x[0], x[1])):
        if end > start and lab not in names:
            names[lab] = f"SPEAKER_{len(names):02d}"
    return names


def _relabel(raw: Iterable[tuple[float, float, Any]]) -> list[SpeakerSegment]:
    """Segments in time order, labels renamed SPEAKER_00.. by first appearance."""
    raw = sorted(raw, key=lambda x: (x[0], x[1]))
    names = _label_names(raw)
    return [SpeakerSegment(float(start), float(end), names[lab]) for start, end, lab in raw if end > start]


# --------------------------------------------------------------------------- pyannote


def _diarize_pyannote(samples: np.ndarray, opts: Any, source: str, hook: Hook,
                      num_speakers: int | None) -> DiarizationResult:
    from callqa.pipeline.speech.diarize_models import pyannote_pipeline, run_pyannote

    pipeline = pyannote_pipeline(source, opts.pyannote.token_env, opts.pyannote.device)
    exact = num_speakers is not None
    n = num_speakers if exact else opts.num_speakers
    estimate = not exact and opts.speaker_count.estimate

    def progress(step: str, artifact: Any = None, file: Any = None, completed: int | None = None,
                 total: int | None = None) -> None:
        hook(f"diarize: {step}", completed=completed, total=total)

    raw, overlap_regions = run_pyannote(pipeline, samples, None if estimate else n, hook=progress,
                                        threads=opts.pyannote.threads, max_speakers=n if estimate else None)
    segs = _relabel(raw)
    found = len({s.label for s in segs})
    info: dict[str, Any] = {"requested_speakers": n, "_label_names": _label_names(raw), "speakers": {
        "count": found, "method": "estimated" if estimate else ("fixed" if exact else "configured"), "max": n,
        "reason": "pyannote's own speaker count (at most num_speakers)" if estimate else
        ("num_speakers given for this call" if exact else "models.diarization.speaker_count.estimate is off")}}
    result = _with_pyannote_overlaps(DiarizationResult(tuple(segs), backend=f"pyannote:{source}",
                                                       num_speakers=num_speakers, info=info),
                                     overlap_regions, opts.overlaps)
    info.pop("_label_names", None)
    return result


# --------------------------------------------------------------------------- embedded


def _region_frames(regions: Iterable[tuple[int, int]], n_frames: int) -> list[tuple[int, int]]:
    """Speech regions (samples at SAMPLE_RATE) as `[start, end)` frame ranges within the call's `n_frames`."""
    out = [(int(round(s / SAMPLE_RATE / FRAME_S)), int(round(en / SAMPLE_RATE / FRAME_S))) for s, en in regions]
    return [(max(0, a), min(n_frames, b)) for a, b in out if min(n_frames, b) > max(0, a)]


def diarize_embedded(samples: np.ndarray, opts: Any, hook: Hook = no_progress,
                     num_speakers: int | None = None) -> DiarizationResult:
    """The embedded diarizer on mono 16 kHz samples. `opts` is `DiarizationOptions`."""
    from callqa.pipeline.speech.asr import share_vad
    from callqa.pipeline.speech.diarize_models import (embed_windows, mel_frames, speech_regions_any_level,
                                                         window_pitch)

    share_vad()  # one Silero pass per recording, shared with faster-whisper's vad_filter
    e = opts.embedded
    exact = num_speakers is not None
    k = num_speakers if exact else opts.num_speakers
    duration = len(samples) / SAMPLE_RATE
    info: dict[str, Any] = {"requested_speakers": k}

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    info["timings_s"] = timings
    hook("diarize: speech", completed=0, total=3)
    regions, recorded = speech_regions_any_level(samples, e.vad_threshold, e.min_silence_duration_ms,
                                                 e.speech_pad_ms)
    n_frames = int(np.ceil(duration / FRAME_S))
    frames = _region_frames(regions, n_frames)
    # The overlap detector looks at the speaker changes, pauses and voices heard as recorded (`loud`): the
    # quiet voices' frames closed the pauses at changes and trained its mixes on barely audible speech
    # (158 mono calls of 5 seeds, 7 invented and 28 found before: with them invented 15, found 29; without 10, 28).
    loud = np.zeros(n_frames, dtype=bool)
    for a, b in _region_frames(recorded, n_frames):
        loud[a:b] = True
    info["speech_s"] = round(sum(b - a for a, b in frames) * FRAME_S, 3)
    timings["vad"] = round(time.perf_counter() - t0, 3)
    if not frames:
        info["speakers"] = {"count": 0, "method": "estimated", "max": k, "reason": "no speech found"}
        return DiarizationResult((), backend="embedded", num_speakers=num_speakers, info=info,
                                 **_no_overlaps(opts.overlaps))

    windows = _windows(frames, e.window_s, e.step_s, e.min_window_s)
    if not windows:  # only tiny bits of speech: nothing to tell voices apart by
        info["speakers"] = {"count": 1, "method": "estimated", "max": k,
                            "reason": "only speech shorter than an embedding window"}
        segs = [SpeakerSegment(a * FRAME_S, b * FRAME_S, "SPEAKER_00") for a, b in frames]
        return DiarizationResult(tuple(_smooth(segs, e.fill_gap_s, e.min_turn_s)), backend="embedded",
                                 num_speakers=num_speakers, info=info, **_no_overlaps(opts.overlaps))

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
    count = opts.speaker_count
    estimate = not exact and count.estimate
    if estimate and len(windows) < count.min_windows:
        labels, centroids = cluster_embeddings(emb, 1)
        info["speakers"] = _count_info(k, 1, "estimated", f"under {count.min_windows} embedding windows of speech: "
                                       "too little to tell voices apart", emb, labels)
    else:
        labels, centroids = cluster_embeddings(emb, k)
        if len(centroids) > 1:
            info["centroid_similarity"] = round(_closest_pair(centroids)[0], 3)
        if estimate:
            labels, centroids, why, apart_by = merge_same_voice(
                emb, labels, e.same_voice_similarity, count.min_share, e.same_voice_max_silhouette,
                pitch=lambda: window_pitch(samples, windows), pitch_min_semitones=count.pitch_min_semitones,
                pitch_min_t=count.pitch_min_t, pitch_min_windows=count.pitch_min_windows,
                silhouette_min_windows=count.silhouette_min_windows, min_speaker_windows=count.min_speaker_windows)
            info["speakers"] = _count_info(k, len(centroids), "estimated", why, emb, labels)
            if apart_by:
                info["speakers"]["apart_by"] = apart_by
        else:
            info["speakers"] = _count_info(k, len(centroids), "fixed" if exact else "configured",
                                           "num_speakers given for this call" if exact else
                                           "models.diarization.speaker_count.estimate is off", emb, labels)
    scores = emb @ centroids.T  # (windows, speakers) cosine similarity

    frame_labels = _frame_labels(frames, windows, scores, n_frames)
    unsure = unsure_share(frames, windows, scores, n_frames, e.unsure_margin)
    if unsure is not None:
        info["speakers"]["unsure_share"] = round(unsure, 3)
    segs = _segments_from_frames(frame_labels)
    segs = _smooth(segs, e.fill_gap_s, e.min_turn_s)
    timings["clustering"] = round(time.perf_counter() - t1, 3)
    names = _label_names((s.start, s.end, s.label) for s in segs)
    if e.edge_margin_s is None:
        trimmed = segs
    else:
        by_voice = quiet_by_voice(energy, segs, frame_labels >= 0)
        trimmed = trim_quiet_edges(level_changes(segs, energy, by_voice), by_voice, e.edge_margin_s)
    out = _relabel((s.start, s.end, s.label) for s in trimmed)
    info["speakers_found"] = len({s.label for s in out})

    t1 = time.perf_counter()
    info["overlap_candidates"] = []
    heard_segs = _smooth(_segments_from_frames(np.where(loud, frame_labels, -1)), e.fill_gap_s, e.min_turn_s)
    overlaps, method, note = detect_overlaps(mel, energy, loud, heard_segs, emb, labels, centroids,
                                             opts.overlaps, e, log=info["overlap_candidates"])
    overlaps = [Overlap(o.start, o.end, names[o.first], names[o.second]) for o in overlaps]
    partial = OVERLAPS_PARTIAL if method and len(centroids) > 1 and not opts.overlaps.none_found_counts else None
    timings["overlaps"] = round(time.perf_counter() - t1, 3)
    timings["total"] = round(time.perf_counter() - t0, 3)
    hook("diarize: done", completed=3, total=3)
    return DiarizationResult(tuple(out), backend="embedded", num_speakers=num_speakers, info=info,
                             overlaps=tuple(overlaps), overlap_method=method, overlap_note=note,
                             overlap_partial=partial)


# --------------------------------------------------------------------------- overlapped speech

OVERLAPS_OFF = "overlap detection is off (models.diarization.overlaps.detect)"
OVERLAPS_PARTIAL = ("the embedded overlap detector finds only some of the interruptions on a mono call (a fifth to "
                    "a half of those of simulated calls), so a side it found none by is unknown, not zero "
                    "(models.diarization.overlaps.none_found_counts)")


def _no_overlaps(oopts: Any) -> dict[str, Any]:
    """A recording with at most one voice: no overlap, measured trivially (unless switched off)."""
    return {"overlap_note": OVERLAPS_OFF} if not oopts.detect else {"overlap_method": "embedded-windows"}


def _with_pyannote_overlaps(result: DiarizationResult, regions: Sequence[tuple[float, float, str, str]],
                            oopts: Any) -> DiarizationResult:
    """Overlapped speech from pyannote's segmentation (its non-exclusive diarization), with
    the labels renamed as `result.segments` were."""
    from dataclasses import replace

    if not oopts.detect:
        return replace(result, overlap_note=OVERLAPS_OFF)
    # The exclusive diarization was relabelled by first appearance: the same map here.
    names = result.info.get("_label_names") or {}
    found = [Overlap(a, b, names.get(f, f), names.get(s, s)) for a, b, f, s in regions if b > a]
    return replace(result, overlaps=tuple(found), overlap_method="pyannote-segmentation")


def detect_overlaps(mel: np.ndarray, energy: np.ndarray, speech: np.ndarray, segs: Sequence[SpeakerSegment],
                    emb: np.ndarray, labels: np.ndarray, centroids: np.ndarray, oopts: Any,
                    e: Any, log: list[dict[str, Any]] | None = None) -> tuple[list[Overlap], str | None, str | None]:
    """Overlapped speech at the speaker changes of the embedded diarization.

    Two voices at once leave no pause: a change from voice X to voice Y inside continuous speech
    (segments under `max_gap_s` apart) with a pause at the noise floor of `reply_pause_s` or more within
    `reply_reach_s` of it is a plain change or a quick reply. Around each other change, short windows
    (`window_s` every `step_s`, within `search_s`) are scored by a detector this call's own voices train
    (`_mix_detector`): made-up windows of X and Y speaking at once against X alone, Y alone and X then Y
    after a short pause. In an interruption the voice that was speaking dominates the mix, so a window
    of both still sounds mostly like one voice; the detector learns what the other adds. Where the
    smoothed score passes `mix_threshold`, the windows above it (without inner pauses, at least
    `min_overlap_s`) are an overlap, Y coming in while X spoke. Returns the overlaps (labels as in
    `segs`), the method, and why they were not measured (method None): the voices too alike to tell in
    a mix (mean window similarity across them above `max_voice_similarity`), or too little of one voice
    alone to learn from. `log` gets one record per change looked at (`info["overlap_candidates"]`).
    """
    log = [] if log is None else log
    from callqa.pipeline.speech.diarize_models import embed_windows

    if not oopts.detect:
        return [], None, OVERLAPS_OFF
    k = len(centroids)
    if k < 2:
        return [], "embedded-windows", None  # one voice: nobody to overlap with
    cross = cross_similarity(emb, labels)
    alike = float(np.max(cross[~np.eye(k, dtype=bool)]))
    if alike > oopts.max_voice_similarity:
        return [], None, (f"the voices are too alike to tell apart in overlapping speech (window similarity "
                          f"{alike:.3f} > models.diarization.overlaps.max_voice_similarity "
                          f"{oopts.max_voice_similarity})")
    n = min(len(mel), len(energy))
    speech = speech[:n] if len(speech) >= n else np.pad(speech, (0, n - len(speech)))
    quiet = _quiet_frames(energy[:n], speech)
    reach = int(round(oopts.reply_reach_s / FRAME_S))
    reply_min = max(1, int(round(oopts.reply_pause_s / FRAME_S)))
    changes = []  # (x, y, change frame)
    for prev, nxt in zip(segs, segs[1:]):
        if prev.label == nxt.label:
            continue
        at = round(float(nxt.start), 2)
        if nxt.start - prev.end > oopts.max_gap_s:
            log.append({"at": at, "result": f"pause {nxt.start - prev.end:.2f} s"})
            continue
        t = int(round((prev.end + nxt.start) / 2 / FRAME_S))
        pause, _ = _longest_quiet_at(quiet, t - reach, t + reach)
        if pause >= reply_min:  # two voices at once leave no pause at all
            log.append({"at": round(t * FRAME_S, 2), "pause_s": round(pause * FRAME_S, 2),
                        "result": "pause at the change"})
            continue
        changes.append((int(prev.label[1:]), int(nxt.label[1:]), t))
    if not changes:
        return [], "embedded-windows", None
    w = max(2, int(round(oopts.window_s / FRAME_S)))
    step = max(1, int(round(oopts.step_s / FRAME_S)))
    search = int(round(oopts.search_s / FRAME_S))
    wins: list[tuple[int, int]] = []
    owner: list[int] = []
    for c, (_, _, t) in enumerate(changes):
        for st in range(max(0, t - search - w // 2), min(n, t + search + w // 2) - w + 1, step):
            if speech[st:st + w].mean() >= 0.5:
                wins.append((st, w))
                owner.append(c)
    if not wins:
        return [], "embedded-windows", None
    detector = _mix_detector(mel[:n], energy[:n], speech, quiet, segs, w, oopts, e)
    if detector is None:
        return [], None, ("too little of each voice alone to learn how the two sound at once "
                          f"(under {MIX_MIN_CLEAN} windows of {oopts.window_s} s of one voice each)")
    weights, bias = detector
    score = embed_windows(mel, energy, wins, batch_size=e.batch_size, threads=e.threads) @ weights + bias
    owner_a = np.array(owner)
    found: list[Overlap] = []
    strength: list[float] = []
    for c, (x, y, t) in enumerate(changes):
        idx = np.flatnonzero(owner_a == c)
        at = round(float(t * FRAME_S), 2)
        if len(idx) == 0:
            log.append({"at": at, "result": "no speech window at the change"})
            continue
        cen = np.array([wins[i][0] + w / 2 for i in idx]) * FRAME_S
        s = np.convolve(score[idx], np.ones(3) / 3, mode="same") if len(idx) >= 3 else score[idx]
        best = int(np.argmax(s))
        if s[best] <= oopts.mix_threshold:
            log.append({"at": at, "mix": round(float(s[best]), 2), "result": "no window of both voices"})
            continue
        a = b = best
        while a - 1 >= 0 and s[a - 1] > oopts.mix_threshold:
            a -= 1
        while b + 1 < len(s) and s[b + 1] > oopts.mix_threshold:
            b += 1
        half = oopts.step_s / 2 + oopts.window_s / 4  # a window of both voices holds them in its middle half
        start, end = _longest_sounding(quiet, max(0.0, cen[a] - half), cen[b] + half, oopts.max_pause_s)
        kept = end - start >= oopts.min_overlap_s
        log.append({"at": at, "mix": round(float(s[best]), 2), "sounding_s": round(end - start, 2),
                    "result": "overlap" if kept else "pauses inside"})
        if kept:
            found.append(Overlap(float(start), float(end), f"S{x}", f"S{y}"))
            strength.append(float(s[best]))
    return one_way(found, strength, segs, log), "embedded-windows", None


def one_way(found: Sequence[Overlap], strength: Sequence[float], segs: Sequence[SpeakerSegment],
            log: list[dict[str, Any]] | None = None) -> list[Overlap]:
    """Two voices at once over the same time cannot each have come in over the other. Overlaps found at
    the changes on either side of one short turn may share their time with the voices the other way round
    (the search around each change reaches the other's): one overlap seen twice. Kept is the one whose
    interrupted voice (`first`) is the diarizer's just before the overlap starts (it was speaking when the
    other came in), else the one whose windows sounded more like both voices (`strength`)."""
    def speaking_before(o: Overlap) -> bool:
        t = o.start - FRAME_S
        return any(sg.start <= t < sg.end and sg.label == o.first for sg in segs)

    out = list(found)
    for i, a in enumerate(found):
        for j in range(i + 1, len(found)):
            b = found[j]
            if a in out and b in out and (a.first, a.second) == (b.second, b.first) \
                    and min(a.end, b.end) > max(a.start, b.start):
                worse = max((a, strength[i]), (b, strength[j]), key=lambda os: (not speaking_before(os[0]), -os[1]))[0]
                out.remove(worse)
                if log is not None:
                    log.append({"at": round(worse.start, 2), "result": "the same overlap heard the other way round"})
    return out


MIX_MIN_CLEAN = 2  # windows of one voice alone (each) that the mix detector needs
MIX_EDGES_S = (0.5, 0.25, 0.0)  # a window of one voice alone keeps this far inside its segment, if it can


def _mix_detector(mel: np.ndarray, energy: np.ndarray, speech: np.ndarray, quiet: np.ndarray,
                  segs: Sequence[SpeakerSegment], w: int, oopts: Any, e: Any) -> tuple[np.ndarray, float] | None:
    """A linear detector of two voices at once, trained on this call's own voices: (weights, bias)
    over speaker embeddings, 0 half-way between the classes and 1 a standard deviation of the
    training scores toward "both"; None with under `MIX_MIN_CLEAN` windows of each voice alone.

    Windows of one voice alone (`w` frames inside a segment, as far from its edges as `MIX_EDGES_S` allows) are put
    together in the mel power domain, where voices add: `oopts.mix_examples` each of X speaking
    with Y coming in over half of the window or more (both orders), of X alone, and of X then Y
    after a pause of up to 0.25 s of this call's own `quiet` frames (`_quiet_frames`; a quick reply).
    Seeded: a recording always gets the same detector."""
    from callqa.pipeline.speech.diarize_models import embed_windows

    clean: dict[int, list[int]] = {}
    for label in sorted({int(sg.label[1:]) for sg in segs}):
        for edge_s in MIX_EDGES_S:  # a voice with short turns only: windows nearer their edges
            edge = int(round(edge_s / FRAME_S))
            found = [st for sg in segs if int(sg.label[1:]) == label
                     for st in range(int(round(sg.start / FRAME_S)) + edge, int(round(sg.end / FRAME_S)) - edge - w + 1,
                                     max(1, w // 5))
                     if speech[st:st + w].mean() >= 0.8]
            if len(found) >= MIX_MIN_CLEAN:
                clean[label] = found
                break
    if len(clean) < 2:
        return None
    voices = sorted(clean)[:2]
    rng = np.random.default_rng(0)
    quiet = np.flatnonzero(quiet)
    mels, ens, ys = [], [], []
    for _ in range(oopts.mix_examples):
        x, y = voices if rng.random() < 0.5 else voices[::-1]
        sx, sy = clean[x][rng.integers(len(clean[x]))], clean[y][rng.integers(len(clean[y]))]
        mx, my, ex, ey = mel[sx:sx + w], mel[sy:sy + w], energy[sx:sx + w], energy[sy:sy + w]
        ov = int(rng.integers(w // 2, w + 1))  # Y comes in over X for this many frames, then speaks alone
        a = int(rng.integers(0, w - ov + 1))
        m, en = mx.copy(), ex.copy()
        m[a:a + ov] += my[:ov]
        en[a:a + ov] += ey[:ov]
        m[a + ov:], en[a + ov:] = my[ov:w - a], ey[ov:w - a]
        mels.append(m), ens.append(en), ys.append(1)
        gap = int(rng.integers(0, 26))  # a quick reply: X, a pause of up to 0.25 s, then Y
        a = int(rng.integers(w // 5, 4 * w // 5))
        q = quiet[rng.integers(len(quiet), size=gap)] if len(quiet) else np.zeros(gap, dtype=int)
        mels.append(np.vstack([mx[:a], mel[q], my[:w - a - gap]]))
        ens.append(np.concatenate([ex[:a], energy[q], ey[:w - a - gap]]))
        ys.append(0)
        mels.append(mx), ens.append(ex), ys.append(0)
    wins = [(i * w, w) for i in range(len(mels))]
    z = embed_windows(np.vstack(mels), np.concatenate(ens), wins, batch_size=e.batch_size, threads=e.threads)
    lab = np.array(ys) == 1
    return _linear_discriminant(z[lab], z[~lab])


def _linear_discriminant(pos: np.ndarray, neg: np.ndarray, shrink: float = 0.3) -> tuple[np.ndarray, float]:
    """Fisher's discriminant with the covariance shrunk toward a scaled identity (more dimensions than
    examples): (weights, bias), the score 0 half-way between the class means, in standard deviations
    of the training scores."""
    mp, mn = pos.mean(axis=0), neg.mean(axis=0)
    cov = np.cov(np.vstack([pos - mp, neg - mn]).T)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    wts = np.linalg.solve(cov, mp - mn)
    bias = -0.5 * float((mp + mn) @ wts)
    sd = float(np.std(np.concatenate([pos @ wts, neg @ wts]))) or 1.0
    return wts / sd, bias / sd


def _quiet_frames(energy: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Frames at the noise floor: under a level 35 % of the way (in dB) from the floor
    (10th percentile of all frames) to the speech level (75th percentile of the speech frames: the
    VAD's speech holds the speakers' pauses between words and phrases -- half of it on a halting
    voice -- and their median sat near the floor, so a 0.6 s pause between two speakers measured
    0.05 s and a plain change of speaker passed for an overlap). `speech` (the VAD's frames) is cut
    or padded to the length of `energy`."""
    return energy < _quiet_level(energy, speech)


def _quiet_level(energy: np.ndarray, speech: np.ndarray) -> float:
    """The energy under which a frame is quiet (`_quiet_frames`)."""
    speech = speech[:len(energy)] if len(speech) >= len(energy) else np.pad(speech, (0, len(energy) - len(speech)))
    floor = float(np.percentile(energy, 10)) + 1e-12
    level = float(np.percentile(energy[speech], 75)) if speech.any() else float(np.max(energy))
    level = max(level, floor)
    return floor * (level / floor) ** 0.35


def _longest_quiet_at(quiet: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """The longest run of quiet frames in [a, b): (length, first frame)."""
    best, at, run = 0, max(0, a), 0
    for i in range(max(0, a), max(0, b)):
        run = run + 1 if i < len(quiet) and quiet[i] else 0
        if run > best:
            best, at = run, i - run + 1
    return best, at


def _longest_sounding(quiet: np.ndarray, start: float, end: float, max_pause_s: float) -> tuple[float, float]:
    """The longest part of [start, end] without a quiet run longer than `max_pause_s`."""
    a, b = int(round(start / FRAME_S)), int(round(end / FRAME_S))
    q = quiet[a:b]
    limit = max(1, int(round(max_pause_s / FRAME_S)))
    pieces, cur, run = [], a, 0
    for i, v in enumerate(q):
        run = run + 1 if v else 0
        if run == limit:  # a pause: the piece ends where it began
            pieces.append((cur, a + i - limit + 1))
            cur = None
        if not v and cur is None:
            cur = a + i
    if cur is not None:
        pieces.append((cur, b))
    if not pieces:
        return start, start
    pa, pb = max(pieces, key=lambda p: p[1] - p[0])
    return pa * FRAME_S, pb * FRAME_S


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


def cross_similarity(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, k): mean cosine similarity between the windows of cluster i and those of
    cluster j (the diagonal: within a cluster, pairs of distinct windows)."""
    k = int(labels.max()) + 1 if len(labels) else 0
    sim = emb @ emb.T
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            block = sim[np.ix_(labels == i, labels == j)]
            if i == j:
                n = block.shape[0]
                out[i, j] = (block.sum() - np.trace(block)) / (n * (n - 1)) if n > 1 else 1.0
            else:
                out[i, j] = block.mean() if block.size else 0.0
    return out


def silhouette(emb: np.ndarray, labels: np.ndarray, i: int, j: int) -> float:
    """Mean silhouette (cosine distance) of the windows of clusters i and j, as a two-way split:
    near 1 when every window is much nearer its own cluster, near 0 for an arbitrary split."""
    m = (labels == i) | (labels == j)
    x, lab = emb[m], labels[m]
    if len(x) < 3 or len(np.unique(lab)) < 2:
        return 0.0
    d = 1.0 - x @ x.T
    same = lab[:, None] == lab[None, :]
    n_same = same.sum(axis=1) - 1
    a = np.where(n_same > 0, (d * same).sum(axis=1) / np.maximum(n_same, 1), 0.0)
    b = (d * ~same).sum(axis=1) / np.maximum((~same).sum(axis=1), 1)
    return float(np.mean((b - a) / np.maximum(np.maximum(a, b), 1e-9)))


def pitch_differs(pitch: np.ndarray, a: np.ndarray, b: np.ndarray, min_semitones: float,
                  min_t: float) -> tuple[bool, str]:
    """Whether the windows `a` and `b` (boolean masks) are pitched apart as two voices are: their
    median pitches (`pitch`: semitones per window, NaN unvoiced) at least `min_semitones` apart and
    the difference consistent (Welch's t of the means at least `min_t`). A split of one voice by
    timbre alone leaves the halves at nearly one pitch; a voice's own melody spreads its windows,
    which the t statistic weighs. Returns (differs, what was measured)."""
    x, y = pitch[a], pitch[b]
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) < 3 or len(y) < 3 or min_semitones <= 0:
        return False, ""
    diff = abs(float(np.median(x) - np.median(y)))
    se = float(np.sqrt(np.var(x, ddof=1) / len(x) + np.var(y, ddof=1) / len(y)))
    t = abs(float(np.mean(x) - np.mean(y))) / max(se, 1e-6)
    return diff >= min_semitones and t >= min_t, f"pitch {diff:.1f} semitones apart (t {t:.1f})"


def merge_same_voice(emb: np.ndarray, labels: np.ndarray, same_voice: float, min_share: float,
                     max_silhouette: float = 1.0, pitch: Callable[[], np.ndarray] | None = None,
                     pitch_min_semitones: float = 0.0, pitch_min_t: float = 0.0,
                     pitch_min_windows: int = 0, silhouette_min_windows: int = 0,
                     min_speaker_windows: int = 1) -> tuple[np.ndarray, np.ndarray, str, str | None]:
    """How many speakers the clusters really are: a cluster with under `min_share` of the
    windows, or under `min_speaker_windows` windows (one odd window of a short voicemail -- a breath,
    a click, a rising close -- is no voice of its own), joins the cluster its windows are most
    alike; two clusters whose windows are on average at least `same_voice` alike (cosine; `cross_similarity`) and that do not split the
    windows cleanly (silhouette at most `max_silhouette`) are one voice split in two and are
    merged, most alike pair first, unless their pitch tells them apart (`pitch`: computes the
    windows' pitch in semitones when first needed; `pitch_differs`): at 8 kHz two voices of one
    kind sound alike to the speaker encoder, which was trained on wideband speech, but keep their
    own pitch. Pitch is weighed only on `pitch_min_windows` windows of the two clusters or more: on a
    few seconds one voice's own intonation (a voicemail's question, a rising close) sets its halves
    apart as consistently as two voices. A clean split likewise counts only on `silhouette_min_windows`
    windows or more: forced in two, the few windows of a short one-voice recording often split cleanly by
    chance. Clustering always finds the clusters it is asked for, so a
    one-voice recording (voicemail, IVR, an operator talking into silence) comes out as one speaker
    only through this test. Returns labels, unit centroids, why, and what told the last two voices
    apart when more than one is left: "voice" (the encoder hears them differ) or "pitch" (the encoder
    hears one voice, only their pitch differs: weaker evidence of two people; roles.py then leans on
    the words)."""
    labels = labels.copy()
    why: list[str] = []
    pitches: list[np.ndarray] = []
    apart_by: str | None = None

    def join(i: int, j: int) -> None:  # j into i
        labels[labels == j] = i
        labels[labels > j] -= 1

    while labels.max() > 0:
        k = int(labels.max()) + 1
        counts = np.bincount(labels, minlength=k)
        shares = counts / len(labels)
        cross = cross_similarity(emb, labels)
        small = int(np.argmin(shares))
        if shares[small] < min_share or counts[small] < min_speaker_windows:
            others = [j for j in range(k) if j != small]
            target = max(others, key=lambda j: cross[small, j])
            why.append(f"a cluster with {shares[small]:.0%} of the speech (< {min_share:.0%}) joined its nearest"
                       if shares[small] < min_share else
                       f"a cluster of {counts[small]} window{'s' if counts[small] != 1 else ''} "
                       f"(< {min_speaker_windows}) joined its nearest")
            join(min(small, target), max(small, target))
            continue
        off = cross.copy()
        np.fill_diagonal(off, -np.inf)
        i, j = np.unravel_index(int(np.argmax(off)), off.shape)
        sil = silhouette(emb, labels, int(i), int(j))
        n_pair = int(np.sum((labels == i) | (labels == j)))
        split_cleanly = sil > max_silhouette
        if off[i, j] < same_voice or (split_cleanly and n_pair >= silhouette_min_windows):
            why.append(f"voices differ: windows of different clusters are {off[i, j]:.3f} alike on average "
                       + (f"(< {same_voice})" if off[i, j] < same_voice else
                          f"but split cleanly (silhouette {sil:.3f} > {max_silhouette})"))
            apart_by = "voice"
            break
        notes = []
        if split_cleanly:
            notes.append(f"its clean split (silhouette {sil:.3f}) not weighed on {n_pair} windows "
                         f"(< {silhouette_min_windows})")
        if pitch is not None and pitch_min_semitones > 0:
            if n_pair < pitch_min_windows:
                notes.append(f"pitch not weighed on {n_pair} windows (< {pitch_min_windows})")
            else:
                if not pitches:
                    pitches.append(np.asarray(pitch(), dtype=float))
                differs, measured = pitch_differs(pitches[0], labels == i, labels == j, pitch_min_semitones,
                                                  pitch_min_t)
                if differs:
                    why.append(f"voices differ: windows of different clusters are {off[i, j]:.3f} alike on "
                               f"average (silhouette {sil:.3f}) but their {measured} (>= {pitch_min_semitones}, "
                               f"t >= {pitch_min_t})")
                    apart_by = "pitch"
                    break
                if measured:
                    notes.append(measured)
        why.append(f"one voice: windows of two clusters are {off[i, j]:.3f} alike on average (>= {same_voice})"
                   + ("" if split_cleanly else f" and do not split cleanly (silhouette {sil:.3f})")
                   + "".join(f"; {n}" for n in notes))
        join(min(i, j), max(i, j))
    k = int(labels.max()) + 1
    return labels, _centroids(emb, labels, k), "; ".join(why) or "one cluster", apart_by if k > 1 else None


def _count_info(requested: int, found: int, method: str, why: str, emb: np.ndarray,
                labels: np.ndarray) -> dict[str, Any]:
    """What `processing.speakers` records: the count, how it was reached, and the evidence."""
    k = int(labels.max()) + 1 if len(labels) else 0
    out: dict[str, Any] = {"count": found, "method": method, "max": requested, "reason": why,
                           "windows": int(len(labels))}
    if k > 1:
        cross = cross_similarity(emb, labels)
        out["cross_similarity"] = round(float(np.max(cross[~np.eye(k, dtype=bool)])), 3)
        out["silhouette"] = round(silhouette(emb, labels, 0, 1), 3)
        out["shares"] = [round(float(x), 3) for x in np.bincount(labels, minlength=k) / len(labels)]
    return out


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


def _frame_votes(windows: Sequence[tuple[int, int]], scores: np.ndarray,
                 n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms frame: the centre-weighted sum of the similarities to each speaker of the windows
    covering it (a window speaks most reliably about its middle), the sum of those weights, and how
    many windows cover it."""
    k = scores.shape[1]
    acc = np.zeros((n_frames, k), dtype=np.float32)
    weight = np.zeros(n_frames, dtype=np.float32)
    cover = np.zeros(n_frames, dtype=np.int32)
    for (s, n), sc in zip(windows, scores):
        wgt = np.hanning(n + 2)[1:-1].astype(np.float32)
        acc[s:s + n] += wgt[:, None] * sc[None, :]
        weight[s:s + n] += wgt
        cover[s:s + n] += 1
    return acc, weight, cover


def _frame_labels(frames: Sequence[tuple[int, int]], windows: Sequence[tuple[int, int]], scores: np.ndarray,
                  n_frames: int) -> np.ndarray:
    """Speaker index per 10 ms frame (-1: no speech). A speech frame takes the speaker
    whose summed similarity over the windows covering it is highest; frames no window
    covers take the nearest window's speaker."""
    acc, _, cover = _frame_votes(windows, scores, n_frames)
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


def unsure_share(frames: Sequence[tuple[int, int]], windows: Sequence[tuple[int, int]], scores: np.ndarray,
                 n_frames: int, margin: float) -> float | None:
    """The share of the speech (frames some window covers) whose speaker the voices hardly decide: the
    two likeliest speakers' weighted mean similarities (`_frame_votes`) differ by under `margin`. Where
    two voices sound alike to the encoder (8 kHz, one kind of voice), a fifth or more of the speech can
    be a toss-up, and the clusters then hold both people's words (seed 5151: a GSM call's turns cut
    mid-sentence, DER 0.24, its roles taken the wrong way at 0.67). None: fewer than two speakers."""
    if scores.shape[1] < 2 or not frames:
        return None
    acc, weight, cover = _frame_votes(windows, scores, n_frames)
    speech = np.zeros(n_frames, dtype=bool)
    for a, b in frames:
        speech[a:b] = True
    speech &= cover > 0
    if not speech.any():
        return None
    mean = acc[speech] / weight[speech][:, None]
    top2 = np.sort(mean, axis=1)[:, -2:]
    return float(np.mean(top2[:, 1] - top2[:, 0] < margin))


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


SOUND_RUN_S = 0.05  # a voice's quiet frames are found on the energy averaged over this
NOISE_MIN_S = 1.0  # the noise's level is measured on at least this much of the call without speech
VOICE_LEVEL_MIN_S = 2.0  # a voice with less speech than this is trimmed at the level of all the call's speech


def _voice_frames(segs: Sequence[SpeakerSegment], label: str, n: int) -> np.ndarray:
    """Per frame (of `n`): within a segment of `label`."""
    mask = np.zeros(n, dtype=bool)
    for s in segs:
        if s.label == label:
            mask[int(round(s.start / FRAME_S)):int(round(s.end / FRAME_S))] = True
    return mask


def quiet_by_voice(energy: np.ndarray, segs: Sequence[SpeakerSegment], speech: np.ndarray) -> dict[str, np.ndarray]:
    """`_quiet_frames` for each voice (label of `segs`) at that voice's own speech level. A mono mix
    often holds one side well under the other (the far end of a line, a quiet recorder): at the level of
    all the speech, the quiet voice's word onsets and trailing words sat at the "noise floor" and were
    trimmed off its turns, the loud one's tails were not (seed 5631, client 12 dB down: the client's turns
    ended 0.3-0.5 s early, the operator's talk ratio 0.04-0.09 too high). A voice with under
    `VOICE_LEVEL_MIN_S` of speech gets the level of all the speech (`speech`).

    A voice near the noise floor: frames at the noise's own level (90th percentile where the VAD heard no
    speech) stay quiet, though never over the level of all the speech (a meeting's "noise" holds distant
    voices: ami_dev00 DER 0.076 -> 0.085 at the noise's level), and a frame sounds only where the energy
    averaged over `SOUND_RUN_S` does too (a lone frame of noise over that level is no voice going on)."""
    n = len(energy)
    every_level = _quiet_level(energy, speech)
    k = max(1, int(round(SOUND_RUN_S / FRAME_S)))
    smooth = np.convolve(energy, np.ones(k) / k, mode="same")
    noise = smooth[:len(speech)][~speech[:n]]
    ceiling = float(np.percentile(noise, 90)) if noise.size * FRAME_S >= NOISE_MIN_S else 0.0
    out: dict[str, np.ndarray] = {}
    for label in {s.label for s in segs}:
        mask = _voice_frames(segs, label, n)
        if mask.sum() * FRAME_S < VOICE_LEVEL_MIN_S:
            out[label] = energy < every_level
            continue
        level = max(_quiet_level(energy, mask), min(ceiling, every_level))
        out[label] = (energy < level) | (smooth < level)
    return out


VOICES_APART_DB = 8.0  # voices this far apart in level (dB) are told apart by it at a change of speaker
LEVEL_REACH_S = 1.0  # how far from a change of speaker a bit of speech may go to the other voice by its level
ISLAND_PAUSE_S = 0.05  # quiet frames that part two bits of speech at a change


def voice_levels(db: np.ndarray, segs: Sequence[SpeakerSegment],
                 quiet: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Each voice's level (dB): the 75th percentile of the frame levels `db` over its segments'
    sounding frames, for a voice with at least `VOICE_LEVEL_MIN_S` of them."""
    out = {}
    for label, q in quiet.items():
        mask = _voice_frames(segs, label, len(db)) & ~q[:len(db)]
        if mask.sum() * FRAME_S >= VOICE_LEVEL_MIN_S:
            out[label] = float(np.percentile(db[mask], 75))
    return out


def _islands(sounding: np.ndarray, a: int, b: int, min_pause: int) -> list[tuple[int, int]]:
    """Runs `[i, j)` of sounding frames in [a, b) parted by at least `min_pause` quiet frames."""
    out: list[list[int]] = []
    for i in np.flatnonzero(sounding[a:b]) + a:
        if out and i - out[-1][1] < min_pause:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return [(i, j) for i, j in out]


def level_changes(segs: Sequence[SpeakerSegment], energy: np.ndarray,
                  quiet: Mapping[str, np.ndarray]) -> list[SpeakerSegment]:
    """Changes of speaker moved by the voices' levels, where two voices lie `VOICES_APART_DB` apart
    (mono: one side recorded well under the other). An embedding window holding the end of the quiet
    voice's turn and the start of the loud one sounds like the loud voice, so the loud voice's segment
    began with the quiet one's last words, or ended with its first ones (seed 5631, client 12 dB down:
    "... four six nine four" with "four" in the operator's turn). Walking from a change into the loud
    voice's segment, within `LEVEL_REACH_S`, each bit of speech (parted by `ISLAND_PAUSE_S` of quiet
    frames) whose peak lies in the quiet voice's third of the range between the two levels goes to the
    quiet voice, up to the first that does not; the change then falls in the pause after the last one
    moved. The loud voice keeps at least one bit. Only that way: walking into the quiet voice's segment
    too, its own louder words went to the loud voice (25 mono calls of seed 5631: 3.1 s of 3.5 moved so
    were wrong; the other way 0.4 s of 10)."""
    db = 10 * np.log10(energy + 1e-12)
    levels = voice_levels(db, segs, quiet)
    out = list(segs)
    reach, pause = int(round(LEVEL_REACH_S / FRAME_S)), max(1, int(round(ISLAND_PAUSE_S / FRAME_S)))
    for k in range(len(out) - 1):
        x, y = out[k], out[k + 1]
        if x.label == y.label or x.label not in levels or y.label not in levels:
            continue
        lx, ly = levels[x.label], levels[y.label]
        if abs(lx - ly) < VOICES_APART_DB or y.start - x.end > ISLAND_PAUSE_S:
            continue
        soft = min(lx, ly) + abs(lx - ly) / 3  # the top of the quiet voice's third
        sounding = ~quiet[x.label if lx < ly else y.label]  # as the quiet voice is heard
        at = int(round(y.start / FRAME_S))
        if ly > lx:  # into the loud voice's segment after the change
            bits = _islands(sounding, at, min(int(round(y.end / FRAME_S)), at + reach), pause)
        else:  # ... or before it, walking back
            bits = _islands(sounding, max(int(round(x.start / FRAME_S)), at - reach), at, pause)[::-1]
        moved = 0
        while moved < len(bits) - 1 and float(db[bits[moved][0]:bits[moved][1]].max()) <= soft:
            moved += 1
        if not moved:
            continue
        near, far = bits[moved - 1], bits[moved]
        new = (near[1] + far[0]) // 2 if ly > lx else (far[1] + near[0]) // 2
        out[k] = SpeakerSegment(x.start, new * FRAME_S, x.label)
        out[k + 1] = SpeakerSegment(new * FRAME_S, y.end, y.label)
    return out


def trim_quiet_edges(segs: Sequence[SpeakerSegment], quiet: np.ndarray | Mapping[str, np.ndarray],
                     margin_s: float) -> list[SpeakerSegment]:
    """Each segment from its first to its last frame that is not `quiet` (at the noise floor,
    `_quiet_frames`), widened by `margin_s` within the segment. The VAD pads its speech regions and
    the smoothing joins them across pauses, so a segment started ~0.15 s before its speaker and ended
    ~0.3 s after (simulated corpus, seed 2718: false alarm 0.047 of the reference speech, confusion
    0.055, miss 0.024). A segment without a sounding frame keeps its edges: the VAD heard speech.
    `quiet` is one for all the segments or one per label (`quiet_by_voice`)."""
    margin = int(round(margin_s / FRAME_S))
    out = []
    for s in segs:
        a, b = int(round(s.start / FRAME_S)), int(round(s.end / FRAME_S))
        q = quiet if isinstance(quiet, np.ndarray) else quiet[s.label]
        loud = np.flatnonzero(~q[a:b]) if b > a else np.array([], dtype=int)
        if loud.size == 0:
            out.append(s)
            continue
        lo, hi = max(a, a + int(loud[0]) - margin), min(b, a + int(loud[-1]) + 1 + margin)
        out.append(SpeakerSegment(lo * FRAME_S, hi * FRAME_S, s.label) if (lo, hi) != (a, b) else s)
    return out


# --------------------------------------------------------------------------- words -> turns


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def segment_at(start: float, end: float, segments: Sequence[SpeakerSegment], starts: np.ndarray) -> int | None:
    """The index of the segment overlapping [start, end] most; else of the nearest segment."""
    if not segments:
        return None
    i = int(np.searchsorted(starts, end, side="left"))
    best, best_ov = None, 0.0
    j = i - 1
    while j >= 0:
        s = segments[j]
        ov = _overlap(start, end, s.start, s.end)
        if ov > best_ov:
            best, best_ov = j, ov
        if s.end <= start:  # segments do not overlap: earlier ones end earlier still
            break
        j -= 1
    if best is not None:
        return best
    mid = (start + end) / 2
    cands = [x for x in (i - 1, i) if 0 <= x < len(segments)]
    # A zero-length word (or one in a gap): the nearest segment in time.
    return min(cands, key=lambda x: 0.0 if segments[x].start <= mid <= segments[x].end
               else min(abs(mid - segments[x].start), abs(mid - segments[x].end)))


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
    held: set[int] = set()  # the speech segments that hold a word
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
            at = segment_at(float(w.start), float(w.end), segs, starts)
            if at is not None:
                held.add(at)
            items.append((fallback if at is None else segs[at].label, w, lp))
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
    dopts = config.section("models").diarization
    min_s = dopts.untranscribed_min_s
    if min_s is not None:  # a speaker's speech without a word: a turn without text
        turns = untranscribed_turns(turns, [s for i, s in enumerate(segs) if i not in held], min_s)
    if dopts.turn_bounds == "speech":
        turns = widen_to_speech(turns, segs)
    return apply_overlaps(turns, diarization.overlaps)


def untranscribed_turns(turns: list[Turn], segments: Sequence[SpeakerSegment], min_s: float) -> list[Turn]:
    """`turns` plus, for the diarized speech in `segments` that no turn holds (the ASR wrote no word
    there: a garbled 8 kHz stretch, an interjection under the other voice, a call whose words were
    withheld as not credible), a turn of its speaker without text, so talk time, pauses and
    turn-taking see that speech and it does not read as silence. Such a turn never overlaps another
    turn; stretches shorter than `min_s` are left out."""
    taken = sorted((t.start, t.end) for t in turns)
    added: list[Turn] = []
    for seg in sorted(segments, key=lambda s: (s.start, s.end)):
        for a, b in uncovered([(seg.start, seg.end)], taken):
            if b - a >= min_s:
                added.append(Turn(speaker=seg.label, start=a, end=b, text=""))
        bisect.insort(taken, (seg.start, seg.end))  # overlapping segments: the first one keeps the span
    if not added:
        return turns
    return sorted(turns + added, key=lambda t: (t.start, t.end))


def widen_to_speech(turns: list[Turn], segments: Sequence[SpeakerSegment]) -> list[Turn]:
    """Turns span their speaker's speech, not only their words: a turn starts where the speaker's
    speech segment holding its first word starts and ends where the one holding its last word ends
    (word times end early on narrow-band audio, and words the ASR missed are speech all the same;
    Whisper's time of a last word also runs on into the silence after the speech, or belongs to a
    word it invented there, so a turn with words is cut back to its speaker's speech as well).
    Turns never come to overlap: where two neighbours' spans would, they meet at the later turn's
    first word (or where its speaker's speech starts, when that is later). Two turns of one speaker
    split by a pause between their words thus meet where the speaker's speech goes on through that
    pause (words missed there), and keep the pause where the speech stops. A turn with no speech of
    its speaker around it keeps its word times. Words keep their own times."""
    from dataclasses import replace

    out = sorted(turns, key=lambda t: (t.start, t.end))
    segments = sorted(segments, key=lambda s: s.start)
    starts = np.array([s.start for s in segments], dtype=float)
    ends = np.maximum.accumulate(np.array([s.end for s in segments], dtype=float))  # no segment before lo reaches
    span: list[list[float]] = []
    for t in out:
        lo, hi = int(np.searchsorted(ends, t.start, side="right")), int(np.searchsorted(starts, t.end, side="left"))
        own = [s for s in segments[lo:hi] if s.label == t.speaker and s.end > t.start]
        if not own:
            span.append([t.start, t.end])
        elif t.words:
            span.append([own[0].start, max(own[-1].end, own[0].start + 0.01)])
        else:  # a turn of speech without words: only ever wider
            span.append([min(t.start, own[0].start), max(t.end, own[-1].end)])
    for i in range(len(out) - 1):
        (s0, e0), (s1, e1) = span[i], span[i + 1]
        if e0 > s1:
            meet = min(e0, max(s1, out[i + 1].start))
            meet = min(max(meet, s0 + 0.01), e1 - 0.01)
            if s0 < meet < e1:
                span[i][1], span[i + 1][0] = meet, meet
    for i, t in enumerate(out):
        start, end = span[i]
        if end <= start:  # squeezed out by its neighbours' speech: its words' own times
            start, end = t.start, t.end
        if (start, end) != (t.start, t.end):
            out[i] = replace(t, start=start, end=end)
    return out


def apply_overlaps(turns: list[Turn], overlaps: Sequence[Overlap], reach_s: float = 1.0) -> list[Turn]:
    """Mono turns never overlap (each word has one speaker); where two voices were heard at
    once, the turn of the speaker who came in starts at the overlap and the interrupted
    speaker's turn lasts to its end, so timing signals see the interruption. Words keep
    their own times. `reach_s`: how far from the overlap those turns may lie."""
    from dataclasses import replace

    out = list(turns)
    for o in overlaps:
        came = [i for i, t in enumerate(out) if t.speaker == o.second and o.start - reach_s <= t.start <= o.end + reach_s]
        was = [i for i, t in enumerate(out) if t.speaker == o.first and t.start < o.start and t.end >= o.start - reach_s]
        if not came or not was:
            continue
        i, j = came[0], was[-1]
        out[i] = replace(out[i], start=min(out[i].start, o.start))
        out[j] = replace(out[j], end=max(out[j].end, o.end))
    return out


def _join_words(texts: list[str]) -> str:
    """faster-whisper words carry their leading space; plain words get one."""
    if any(t[:1].isspace() for t in texts[1:]):
        return "".join(texts).strip()
    return " ".join(t.strip() for t in texts).strip()
