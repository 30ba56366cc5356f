"""The ASR backend interface and its onnx-asr implementation.

A backend takes mono float32 samples at `sample_rate`, a language and options, and returns
segments of words (text, start, end, confidence) plus an `AsrBackendInfo` (backend, model,
versions) for the batch's model fingerprint. Everything downstream (per-channel stereo,
crosstalk, hallucination guard, word-to-speaker, low-confidence flag) needs only this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import numpy as np

from callqa.models.asr_onnx import kind_of, load_onnx_model
from callqa.pipeline.types import Word

MAX_CHUNK_S = 25.0  # onnx-asr models are trained on short utterances


@dataclass(frozen=True)
class AsrBackendInfo:
    backend: str
    model: str
    versions: tuple[tuple[str, str], ...]

    def serialize(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "versions": dict(self.versions)}


@dataclass(frozen=True)
class BackendSegment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


class AsrBackend(Protocol):
    sample_rate: int

    def info(self) -> AsrBackendInfo: ...

    def transcribe(self, samples: np.ndarray, language: str, options: Any = None) -> list[BackendSegment]: ...


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "absent"


def quiet_cuts(samples: np.ndarray, rate: int, max_s: float = MAX_CHUNK_S, frame_s: float = 0.02) -> list[tuple[int, int]]:
    """Sample ranges of at most `max_s`, each cut at the quietest 20 ms frame of its last third."""
    n = samples.shape[0]
    limit, frame = int(max_s * rate), max(1, int(frame_s * rate))
    out, start = [], 0
    while n - start > limit:
        lo, hi = start + limit * 2 // 3, start + limit
        span = samples[lo:hi]
        k = span.shape[0] // frame
        levels = np.sqrt(np.mean(span[: k * frame].reshape(k, frame) ** 2, axis=1))
        cut = lo + int(np.argmin(levels)) * frame
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def tokens_to_words(tokens: list[str], times: list[float], logprobs: list[float], offset: float,
                    step: float, duration: float) -> list[Word]:
    """onnx-asr tokens (a leading space starts a word) -> words; end = next token's time; confidence = exp(mean logprob)."""
    groups: list[list[int]] = []
    for i, tok in enumerate(tokens):
        if not groups or tok.startswith(" "):
            groups.append([])
        groups[-1].append(i)
    words = []
    for g in groups:
        text = "".join(tokens[i] for i in g).strip()
        if not text:
            continue
        nxt = g[-1] + 1
        start = min(duration, offset + times[g[0]])
        end = min(duration, offset + (times[nxt] if nxt < len(times) else times[g[-1]] + step))
        conf = math.exp(sum(logprobs[i] for i in g) / len(g))
        words.append(Word(text=text, start=start, end=max(start, end), probability=conf))
    return words


class OnnxAsrBackend:
    """GigaAM-v3 / T-one from a local directory through onnx-asr."""

    def __init__(self, kind: str, path: str, threads: int = 2) -> None:
        self.kind, self.path, self.threads = kind, str(path), threads
        self.sample_rate = kind_of(kind).sample_rate

    def info(self) -> AsrBackendInfo:
        return AsrBackendInfo("onnx-asr", f"{self.kind}:{self.path}",
                              (("onnx-asr", _version("onnx-asr")), ("onnxruntime", _version("onnxruntime"))))

    def transcribe(self, samples: np.ndarray, language: str, options: Any = None) -> list[BackendSegment]:
        model = load_onnx_model(self.kind, self.path, self.threads)
        rate = self.sample_rate
        duration = samples.shape[0] / rate
        step = 0.03 if self.sample_rate == 8_000 else 0.04  # one output frame: T-one 30 ms, GigaAM 10 ms x 4
        out = []
        for a, b in quiet_cuts(np.asarray(samples, dtype=np.float32), rate):
            res = model.recognize(np.ascontiguousarray(samples[a:b], dtype=np.float32), sample_rate=rate)
            if not res.tokens:
                continue
            words = tokens_to_words(list(res.tokens), list(res.timestamps), list(res.logprobs),
                                    a / rate, step, duration)
            if words:
                out.append(BackendSegment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                                          tuple(words)))
        return out


def onnx_backend_for(language: str, by_language: dict[str, str], threads: int = 2) -> OnnxAsrBackend | None:
    """The onnx-asr backend `asr.by_language[language]` names (`KIND:DIR`, e.g. `gigaam-v3-ctc:/models/gigaam`),
    or None when the entry is a Whisper model (name or CTranslate2 dir). No entry at all is a clear error."""
    from callqa.models.asr_onnx import KINDS
    from callqa.pipeline.errors import ModelUnavailable

    entry = by_language.get(language)
    if entry is None:
        raise ModelUnavailable(f"no ASR model serves language {language!r}: set asr.by_language.{language} "
                               f"in configs/models.yaml (e.g. gigaam-v3-ctc:/path/to/dir after "
                               f"`callqa models pull gigaam-v3-ctc`)")
    kind, sep, path = entry.partition(":")
    if sep and kind in KINDS:
        return OnnxAsrBackend(kind, path, threads)
    return None
