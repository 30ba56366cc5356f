"""Speech to text: word-timestamped segments for mono calls, ready speaker turns for
stereo calls (one speaker per channel). The model behind it is an ASR backend
(pipeline/speech/asr_backend.py: faster-whisper, or onnx-asr with GigaAM-v3 / T-one), chosen per
language by `models.asr.by_language` (`route`); everything here after decoding (stereo,
crosstalk, the guard, turns) needs only the backend interface.

Options come from `models.asr` (configs/models.yaml). Pitfalls of the field
handled here:

- Whisper drops disfluencies ("um", "ну") unless prompted: a per-language
  `initial_prompt` full of fillers keeps them.
- Whisper leaves speech without words: with a prompt it jumps ahead; on a long or
  hard call it drops a window it scores as no speech, or loses the rest of the call
  once it conditions on its own garbled text. Speech that got no words
  (`uncovered_speech`; on stereo not the other side's bleed) is decoded again on its
  own, without the prompt or earlier text, and the words it is sure of are added.
- Whisper invents text on silence and music-on-hold ("Продолжение следует...",
  "Thank you for watching."): `guard_segments` removes configured phantom
  phrases (matched ignoring case and punctuation) and segments that Whisper's
  own scores mark as no-speech, degenerate or hopeless, before anything reaches
  signals.
- Stereo: each channel is transcribed on its own, as recorded; words decoded where a
  channel only carries the other side's bleed are dropped, words still heard on both
  channels go to the louder one (`crosstalk_margin_db`), and the words are cut
  into turns at pauses and wherever the other speaker talks in between.

Sampling (Whisper's temperature fallback) is seeded, and the decoder's random state
is reset after it sampled (`models.asr.reseed_sampling`): a recording always gives the
same transcript, whatever was decoded before it in the same process.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from callqa.pipeline.config import Config
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.settings import AsrOptions, HallucinationGuard
from callqa.pipeline.speech.decode import (STRONG_BLEED_DB, conditioned_like, decoded_again, echo_limit, frame_db,
                                          retimed_other, sides_gap, tones_kept)
from callqa.pipeline.types import LANGUAGES, Hook, Turn, Word, no_progress, uncovered


# Recordings sent to speech recognition by this process (transcribe_mono / transcribe_stereo, the
# ASR entry points): `callqa rescore` and benchmarks/rescore.py report it (0 when rescoring).
ASR_RUNS = 0




def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


@dataclass(frozen=True)
class AsrSegment:
    """One Whisper segment, times on the recording's timeline."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    channel: int | None = None

    def serialize(self) -> dict[str, Any]:
        return {"start": _r(self.start), "end": _r(self.end), "text": self.text,
                "words": [w.serialize() for w in self.words], "avg_logprob": _r(self.avg_logprob),
                "no_speech_prob": _r(self.no_speech_prob), "compression_ratio": _r(self.compression_ratio),
                "channel": self.channel}


@dataclass(frozen=True)
class DroppedSegment:
    """A segment (or part of one) that the hallucination guard removed, and why."""

    start: float
    end: float
    text: str
    reason: str  # phantom_phrase | no_speech | repetitive | low_confidence | empty | crosstalk
    channel: int | None = None

    def serialize(self) -> dict[str, Any]:
        return {"start": _r(self.start), "end": _r(self.end), "text": self.text, "reason": self.reason,
                "channel": self.channel}


@dataclass(frozen=True)
class AsrResult:
    """What ASR produced for one call and how (model, language)."""

    segments: tuple[AsrSegment, ...]
    turns: tuple[Turn, ...]
    language: str
    language_probability: float
    model: str
    dropped: tuple[DroppedSegment, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. a channel re-decoded without the prompt
    backend: dict[str, Any] = field(default_factory=dict)  # AsrBackendInfo.serialize() + language, sample rate

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    def serialize(self) -> dict[str, Any]:
        return {"segments": [s.serialize() for s in self.segments], "turns": [t.serialize() for t in self.turns],
                "language": self.language, "language_probability": _r(self.language_probability),
                "model": self.model, "dropped": [d.serialize() for d in self.dropped], "notes": list(self.notes),
                "backend": dict(self.backend)}


# --------------------------------------------------------------------------- options


def asr_options(config: Config) -> AsrOptions:
    """The `asr` options with `hotwords` per language from `company.names` and `company.glossary`."""
    opts = config.section("models").asr
    if opts.filler_pass.enabled and not opts.filler_pass.words:
        opts = opts.model_copy(update={"filler_pass": opts.filler_pass.model_copy(
            update={"words": filler_words(config)})})
    if not opts.use_hotwords:
        return opts
    company = config.section("company")
    langs = set(company.glossary) | set(opts.initial_prompt) | {"en", "ru"}
    hot = {lang: ", ".join(dict.fromkeys(t.strip() for t in [*company.names, *company.glossary.get(lang, [])]
                                         if t.strip())) for lang in sorted(langs)}
    return opts.model_copy(update={"hotwords": {**{k: v for k, v in hot.items() if v}, **opts.hotwords}})


def filler_words(config: Config) -> dict[str, list[str]]:
    """Per language, the filler lexicon's spellings (`lexicons.<lang>.fillers`): what the filler
    pass may add."""
    out: dict[str, list[str]] = {}
    for lang in sorted(config.get("lexicons", {}) or {}):
        try:
            entries = config.section(f"lexicons.{lang}").fillers.entries
        except (KeyError, AttributeError, ValueError):
            continue
        texts = sorted({e.text.strip() for e in entries if e.text.strip()})
        if texts:
            out[lang] = texts
    return out


def model_label(opts: AsrOptions) -> str:
    """How the model is named in results: the configured name, or a directory's name."""
    name = opts.model.strip()
    if "/" in name and Path(name).expanduser().exists():
        name = Path(name).expanduser().resolve().name
    return f"faster-whisper:{name}"


def load_model(opts: AsrOptions) -> Any:
    """The configured WhisperModel, resolved offline and loaded once."""
    from callqa.pipeline.speech.asr import load_whisper, resolve_model

    path = resolve_model(opts.model, opts.models_dir)
    return load_whisper(str(path), opts.device, opts.compute_type, opts.cpu_threads)


def whisper_kwargs(opts: AsrOptions, language: str) -> dict[str, Any]:
    """Keyword arguments for `WhisperModel.transcribe` from our options (also used by the benchmark)."""
    guard = opts.hallucination
    prompt = opts.initial_prompt.get(language) if opts.use_initial_prompt else None
    return dict(
        language=language, task="transcribe", beam_size=opts.beam_size, word_timestamps=opts.word_timestamps,
        vad_filter=opts.vad_filter, vad_parameters=opts.vad.model_dump(), initial_prompt=prompt or None,
        condition_on_previous_text=opts.condition_on_previous_text,
        no_speech_threshold=guard.no_speech_threshold, log_prob_threshold=guard.log_prob_threshold,
        compression_ratio_threshold=guard.compression_ratio_threshold,
        hotwords=(opts.hotwords.get(language) or None) if opts.use_hotwords else None,
    )


def choose_language(model: Any, requested: str | None, samples: np.ndarray, opts: AsrOptions) -> tuple[str, float]:
    """The language to decode in. An English-only model decodes English; `requested` (metadata or
    config) wins otherwise; else Whisper detects it among the supported languages (ru, en)."""
    if not model.model.is_multilingual:
        if requested not in (None, "en"):
            raise ModelUnavailable(
                f"ASR model '{opts.model}' is English-only but the call's language is '{requested}': "
                "configure a multilingual model in models.asr.model (e.g. small or large-v3-turbo, "
                "`callqa models pull NAME`)")
        return "en", 1.0
    if requested:
        return requested, 1.0
    from faster_whisper.vad import VadOptions

    try:
        # VadOptions, not a dict: faster-whisper 1.x's detect_language hands vad_parameters to the VAD
        # as they are, and a dict fails there (AttributeError) although its docstring allows one
        _, _, probs = model.detect_language(audio=samples, vad_filter=opts.vad_filter,
                                            vad_parameters=VadOptions(**opts.vad.model_dump()))
    except ValueError:  # no speech at all: nothing to detect on
        return LANGUAGES[0], 0.0
    ours = {lang: p for lang, p in probs if lang in LANGUAGES}
    if not ours:
        return LANGUAGES[0], 0.0
    best = max(ours, key=lambda k: ours[k])
    return best, float(ours[best])


# --------------------------------------------------------------------------- hallucination guard

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def normalise_text(text: str) -> str:
    """Lower case, ё -> е, punctuation and extra spaces removed: how phantom phrases are compared."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return " ".join(_WORD_RE.findall(text))


def _phrase_tokens(guard: HallucinationGuard, language: str | None) -> list[tuple[str, ...]]:
    """Phantom phrases of the call's language first, then every other language's (Whisper may
    switch language on silence)."""
    langs = [language] if language in guard.phrases else []
    langs += [lang for lang in guard.phrases if lang != language]
    out: list[tuple[str, ...]] = []
    for lang in langs:
        for phrase in guard.phrases[lang]:
            toks = tuple(normalise_text(phrase).split())
            if toks and toks not in out:
                out.append(toks)
    return sorted(out, key=len, reverse=True)


def _phantom_word_mask(words: Sequence[Word], phrases: list[tuple[str, ...]]) -> list[bool]:
    """True for each word that belongs to a phantom phrase."""
    tokens: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(words):
        for tok in normalise_text(w.text).split():
            tokens.append(tok)
            owner.append(i)
    hit = [False] * len(words)
    taken = [False] * len(tokens)
    for ph in phrases:
        n = len(ph)
        for s in range(0, len(tokens) - n + 1):
            if not any(taken[s:s + n]) and tuple(tokens[s:s + n]) == ph:
                for k in range(s, s + n):
                    taken[k] = True
                    hit[owner[k]] = True
    return hit


COLLAPSED_WORD_S = 0.005  # a word Whisper gives no duration at all: its alignment collapsed
MAX_LOOP_WORDS = 4


def _collapsed_repeat_mask(words: Sequence[Word], before: list[str]) -> list[bool]:
    """True for each word of a decoder loop with collapsed timing: a run of one to MAX_LOOP_WORDS words,
    each without duration (COLLAPSED_WORD_S), saying for a third time or more the words said twice just
    before it ("no, no, no, no" on 0 s; "he's a bit young" four times over on 0 s). A repeat said aloud
    takes time, so it stays, and so does a second saying, also on no time: 8 kHz alignment collapses a
    real "Hello? Hello," too. `before`: the words kept just before (normalised), carried over from the
    channel's earlier segments; extended with this segment's kept words."""
    mask = [False] * len(words)
    norms = [normalise_text(w.text) for w in words]
    i = 0
    while i < len(words):
        for n in range(MAX_LOOP_WORDS, 0, -1):
            grp = range(i, i + n)
            if (i + n <= len(words) and len(before) >= 2 * n and all(norms[k] for k in grp)
                    and all(words[k].end - words[k].start <= COLLAPSED_WORD_S for k in grp)
                    and [norms[k] for k in grp] * 2 == before[-2 * n:]):
                for k in grp:
                    mask[k] = True
                i += n
                break
        else:
            if norms[i]:
                before.append(norms[i])
            i += 1
    return mask


def _split_out(seg: AsrSegment, mask: Sequence[bool], reason: str) -> tuple[DroppedSegment, AsrSegment | None]:
    """The words of `seg` that `mask` marks, as what was dropped for `reason`, and `seg` with the rest
    (None: no word left)."""
    bad = [w for w, m in zip(seg.words, mask) if m]
    good = tuple(w for w, m in zip(seg.words, mask) if not m)
    gone = DroppedSegment(bad[0].start, bad[-1].end, _join_words(bad), reason, seg.channel)
    if not good:
        return gone, None
    return gone, replace(seg, start=good[0].start, end=good[-1].end, text=_join_words(good), words=good)


def _strip_phrases(norm: str, phrases: list[tuple[str, ...]]) -> str:
    padded = f" {norm} "
    for ph in phrases:
        padded = padded.replace(f" {' '.join(ph)} ", " ")
    return " ".join(padded.split())


def _join_words(words: Iterable[Word]) -> str:
    return " ".join(w.text for w in words if w.text).strip()


def _speech_share(start: float, end: float, speech: Sequence[tuple[float, float]]) -> float:
    """Share of [start, end] inside the speech spans (seconds)."""
    if end <= start:
        return 1.0 if any(a <= start <= b for a, b in speech) else 0.0
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in speech) / (end - start)


def _segment_speech_share(seg: AsrSegment, speech: Sequence[tuple[float, float]]) -> float:
    """Share of a segment in the speech spans: of its words' own times when it has words (each
    word weighed by its length, at least 10 ms), else of its span. Whisper's segment can reach
    across a long silence; on a stereo channel, the other side's whole turn (seed 6060, call 5:
    "and when ... you do not need to do anything" over 14.7-21.9 s, 7 of 9 words heard by the VAD
    but a third of the span)."""
    if not seg.words:
        return _speech_share(seg.start, seg.end, speech)
    weights = [max(w.end - w.start, 0.01) for w in seg.words]
    inside = sum(wt * _speech_share(w.start, w.end, speech) for w, wt in zip(seg.words, weights))
    return inside / sum(weights)


def guard_segments(segments: Sequence[AsrSegment], guard: HallucinationGuard, language: str | None,
                   repetition: bool = True, speech: Sequence[tuple[float, float]] | None = None,
                   ) -> tuple[list[AsrSegment], list[DroppedSegment]]:
    """Remove invented text: phantom phrases (whole segments or the words of the phrase inside a
    segment), segments Whisper itself scores as no-speech, degenerate repetition loops (only
    for backends whose decoder can loop: `repetition`; within a segment, words that say the words
    just before again without taking any time, `_collapsed_repeat_mask`), and segments of very low confidence
    where no speech was heard. `speech`: the VAD's speech spans (s), when known: a segment of low
    confidence at least half inside them is garbled speech (8 kHz, a strong accent), which plain
    faster-whisper keeps too; dropping it cost whole 30 s windows of real words (Whisper scores a
    window, not a segment). It stays, and `low_asr_confidence` says what the model thought of it,
    unless it loops within itself (`_loops`: "thank you so much thank you so much..."), which
    is the decoder stuck, not speech it misheard. Returns (kept, dropped)."""
    phrases = _phrase_tokens(guard, language)
    kept: list[AsrSegment] = []
    dropped: list[DroppedSegment] = []
    said: list[str] = []  # the words kept so far (normalised): a collapsed loop repeats their last ones

    def drop(seg: AsrSegment, reason: str, text: str | None = None) -> None:
        dropped.append(DroppedSegment(seg.start, seg.end, seg.text if text is None else text, reason, seg.channel))

    for seg in segments:
        if seg.no_speech_prob > guard.no_speech_threshold and seg.avg_logprob < guard.log_prob_threshold:
            drop(seg, "no_speech")
            continue
        # Whisper's ratio covers its whole 30 s window; a segment is a loop when its own text is too.
        if repetition and min(seg.compression_ratio, compression_ratio(seg.text)) > guard.compression_ratio_threshold:
            drop(seg, "repetitive")
            continue
        if seg.avg_logprob < guard.min_avg_logprob:
            if _loops(normalise_text(seg.text).split()):  # a loop is not garbled speech, heard or not
                drop(seg, "repetitive")
                continue
            if speech is None or _segment_speech_share(seg, speech) < 0.5:
                drop(seg, "low_confidence")
                continue
        if seg.words:
            mask = _phantom_word_mask(seg.words, phrases)
            if any(mask):
                gone, rest = _split_out(seg, mask, "phantom_phrase")
                dropped.append(gone)
                if rest is None or not any(normalise_text(w.text) for w in rest.words):
                    continue
                seg = rest
            mask = _collapsed_repeat_mask(seg.words, said) if repetition else []
            if any(mask):
                gone, rest = _split_out(seg, mask, "repetitive")
                dropped.append(gone)
                if rest is None:
                    continue
                seg = rest
        else:
            norm = normalise_text(seg.text)
            rest = _strip_phrases(norm, phrases)
            if norm and not rest:
                drop(seg, "phantom_phrase")
                continue
            if rest != norm:  # a phrase inside a longer segment: keep the rest of the text
                dropped.append(DroppedSegment(seg.start, seg.end, seg.text, "phantom_phrase", seg.channel))
                seg = AsrSegment(seg.start, seg.end, rest, (), seg.avg_logprob, seg.no_speech_prob,
                                 seg.compression_ratio, seg.channel)
        if not normalise_text(seg.text):
            drop(seg, "empty")
            continue
        kept.append(seg)
    return kept, dropped


# --------------------------------------------------------------------------- decoding


def _convert(seg: Any, channel: int | None, duration_s: float, offset: float = 0.0) -> AsrSegment:
    """A faster-whisper segment -> ours; times shifted by `offset` and kept within the recording."""
    def clip(t: float) -> float:
        return min(max(0.0, float(t) + offset), duration_s)

    words: list[Word] = []
    for w in seg.words or ():
        text = w.word.strip()
        if not text:
            continue
        start = clip(w.start)
        end = max(start, clip(w.end))
        if words and not w.word[:1].isspace():  # "real" + "-time": one word, as written
            prev = words[-1]
            words[-1] = Word(prev.text + text, prev.start, max(prev.end, end),
                             min(prev.probability, float(w.probability)))
            continue
        words.append(Word(text=text, start=start, end=end, probability=float(w.probability)))
    return AsrSegment(start=clip(seg.start), end=clip(seg.end), text=seg.text.strip(), words=tuple(words),
                      avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
                      compression_ratio=float(seg.compression_ratio), channel=channel)


def pieces(samples: np.ndarray, max_piece_s: float, rate: int = 16000) -> list[tuple[int, int]]:
    """`[(start, end), ...]` sample ranges of at most `max_piece_s`, cut at the quietest moment
    near each boundary, so long recordings are decoded piece by piece (Whisper's features for
    a whole hour would need gigabytes)."""
    n = samples.shape[0]
    if not np.isfinite(max_piece_s) or n <= max_piece_s * rate:
        return [(0, n)]
    limit = int(max_piece_s * rate)
    frame = max(1, int(BLEED_FRAME_S * rate))
    levels = frame_db(samples, frame)
    search = int(min(30.0, max_piece_s / 4) * rate) // frame
    out, start = [], 0
    while n - start > limit:
        target = (start + limit) // frame
        lo = max(start // frame + 1, target - search)
        cut = (lo + int(np.argmin(levels[lo:target + 1]))) * frame if target >= lo else start + limit
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def _seed_sampling(model: Any = None, seed: int = 0) -> None:
    """Whisper falls back to sampling (temperature > 0) on hard windows: seed it so the same
    recording always gives the same transcript, whatever was decoded before it
    (`models.asr.reseed_sampling`)."""
    from callqa.pipeline.speech.asr import reseed_sampling

    reseed_sampling(model, seed)


def _decode_channel(model: Any, samples: np.ndarray, kwargs: dict[str, Any], channel: int | None,
                    hook: Hook, step: str, max_piece_s: float = float("inf")) -> list[AsrSegment]:
    duration = samples.shape[0] / 16000.0
    total = max(1, int(round(duration)))
    hook(step, completed=0, total=total)
    from callqa.pipeline.speech.asr import mark_sampled

    out: list[AsrSegment] = []
    for a, b in pieces(samples, max_piece_s):
        _seed_sampling(model)
        got: list[Any] = []
        try:
            gen, _info = model.transcribe(np.ascontiguousarray(samples[a:b], dtype=np.float32), **kwargs)
            for seg in gen:
                got.append(seg)
                out.append(_convert(seg, channel, duration, offset=a / 16000.0))
                hook(step, completed=min(total, int(round(out[-1].end))), total=total)
        except ValueError:  # VAD found no speech (some faster-whisper versions)
            continue
        finally:
            mark_sampled(model, got)
    hook(step, completed=total, total=total)
    return out


def _loud_frames(samples: np.ndarray, below_db: float, rate: int = 16000) -> np.ndarray | None:
    """Per BLEED_FRAME_S frame: louder than the recording's loud frames (90th percentile of the
    audible ones, above -60 dBFS) less `below_db`; None when nothing is audible."""
    return _loud(frame_db(samples, max(1, int(BLEED_FRAME_S * rate))), below_db)


def _loud(levels: np.ndarray, below_db: float) -> np.ndarray | None:
    """`_loud_frames` on frame levels (dB) already measured."""
    audible = levels[levels > -60.0]
    if audible.size == 0:
        return None
    return levels > float(np.percentile(audible, 90)) - below_db


def uncovered_speech(samples: np.ndarray, segments: Sequence[AsrSegment], vad: Any, rate: int = 16000,
                     elsewhere: np.ndarray | None = None) -> list[tuple[float, float, float]]:
    """Stretches `(start_s, end_s, speech_s)` holding speech (Silero VAD) that no transcribed
    word covers; `elsewhere` (per BLEED_FRAME_S frame: a stereo channel carries only the other
    side there, its bleed) is left out: that speech is not this channel's to transcribe.

    Whisper sometimes jumps ahead and skips speech (its timestamps leap over it), more
    often with a prompt. Cheap first: loud frames far from every word; only those
    stretches go through the VAD, so holds with music cost little."""
    frame = max(1, int(BLEED_FRAME_S * rate))
    active = _loud_frames(samples, 25.0, rate)
    if active is None:
        return []
    covered = np.zeros(active.size, dtype=bool)
    reach = int(0.3 / BLEED_FRAME_S)
    for seg in segments:
        spans = [(w.start, w.end) for w in seg.words] or [(seg.start, seg.end)]
        for start, end in spans:
            covered[max(0, int(start / BLEED_FRAME_S) - reach):int(end / BLEED_FRAME_S) + reach + 1] = True
    loose = active & ~covered
    if elsewhere is not None:
        k = min(loose.size, elsewhere.size)
        loose[:k] &= ~elsewhere[:k]
    if loose.sum() * BLEED_FRAME_S < 1.0:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    out = []
    idx = np.flatnonzero(loose)
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > int(0.5 / BLEED_FRAME_S)) + 1):
        if run.size * BLEED_FRAME_S < 0.5:
            continue
        chunk = np.ascontiguousarray(samples[run[0] * frame:(run[-1] + 1) * frame], dtype=np.float32)
        stamps = get_speech_timestamps(chunk, VadOptions(**vad.model_dump()), sampling_rate=rate)
        speech = sum(st["end"] - st["start"] for st in stamps) / rate
        if speech > 0:
            out.append((run[0] * BLEED_FRAME_S, (run[-1] + 1) * BLEED_FRAME_S, speech))
    return out


def uncovered_speech_s(samples: np.ndarray, segments: Sequence[AsrSegment], vad: Any, rate: int = 16000,
                       elsewhere: np.ndarray | None = None) -> float:
    """Seconds of speech that no transcribed word covers (see `uncovered_speech`)."""
    return sum(sp for _, _, sp in uncovered_speech(samples, segments, vad, rate, elsewhere))


@dataclass(frozen=True)
class Spliced:
    """Stretches `spans` (s) of a call put one after another in one buffer, each starting at `starts[i]`
    (s) in it, to decode them at once; maps the buffer's times back to the call's."""
    spans: tuple[tuple[float, float], ...]
    starts: tuple[float, ...]

    def piece(self, t: float) -> int:
        """Index of the stretch that holds buffer time `t`."""
        return max(0, int(np.searchsorted(np.asarray(self.starts), t, side="right")) - 1)

    def to_call(self, t: float, i: int) -> float:
        """Buffer time `t` within stretch i as a time in the call."""
        return t - self.starts[i] + self.spans[i][0]

    def words_by_piece(self, segments: Sequence[AsrSegment]) -> list[tuple[int, AsrSegment, tuple[Word, ...]]]:
        """`(i, segment, words)` for each stretch i that a decoded segment's words fall in (by each word's
        middle), the words in call time; a segment without words: its middle's stretch, no words."""
        out: list[tuple[int, AsrSegment, tuple[Word, ...]]] = []
        for seg in segments:
            at = [self.piece((w.start + w.end) / 2) for w in seg.words]
            for i in sorted(set(at)) or [self.piece((seg.start + seg.end) / 2)]:
                out.append((i, seg, tuple(Word(w.text, self.to_call(w.start, i), self.to_call(w.end, i),
                                               w.probability) for w, k in zip(seg.words, at) if k == i)))
        return out


def _splice(samples: np.ndarray, spans: Sequence[tuple[float, float]], sep_s: float,
            rate: int = 16000) -> tuple[np.ndarray, Spliced]:
    """The stretches `spans` (s) of `samples`, one after another with `sep_s` of silence after each,
    as one float32 buffer to decode at once, and where each stretch lies in it."""
    parts: list[np.ndarray] = []
    starts: list[float] = []
    pos = 0.0
    for a, b in spans:
        piece = samples[int(a * rate):int(b * rate)]
        parts += [piece, np.zeros(int(sep_s * rate), np.float32)]
        starts.append(pos)
        pos += piece.size / rate + sep_s
    return np.concatenate(parts).astype(np.float32, copy=False), Spliced(tuple(spans), tuple(starts))


def _decode_spliced(model: Any, samples: np.ndarray, spans: Sequence[tuple[float, float]], sep_s: float,
                    kwargs: dict[str, Any], channel: int | None, hook: Hook, step: str,
                    max_piece_s: float) -> tuple[list[AsrSegment], Spliced]:
    """The stretches `spans` of `samples` decoded at once (`_splice`), with the map back to the call."""
    spliced, where = _splice(samples, spans, sep_s)
    return _decode_channel(model, spliced, kwargs, channel, hook, step, max_piece_s), where


def _decode_checked(model: Any, samples: np.ndarray, opts: AsrOptions, lang: str, channel: int | None,
                    hook: Hook, step: str, elsewhere: np.ndarray | None = None) -> tuple[list[AsrSegment], str | None]:
    """Decode; when the decoding left `retry_without_prompt_s` of speech without words, decode
    those stretches again on their own (no prompt, no earlier text as context) and add what they
    hold. Whisper skips speech after a prompt, and on a long hard call without one: a 30 s window
    it scores as no speech, or the rest of the call once it conditions on its own garbled text."""
    raw, note = _decode_retried(model, samples, opts, lang, channel, hook, step, elsewhere)
    raw, looped = redecode_loops(model, samples, raw, opts, lang, channel, hook, step)
    note = "; ".join(n for n in (note, looped) if n) or None
    if not opts.filler_pass.enabled:
        return raw, note
    added = filler_pass(model, samples, raw, opts, lang, channel, hook, step)
    if not added:
        return raw, note
    where = "" if channel is None else f"channel {channel}: "
    extra = f"{where}filler pass added {sum(len(a.words) for a in added)} filler word(s)"
    return sorted(raw + added, key=lambda sg: (sg.start, sg.end)), (f"{note}; {extra}" if note else extra)


RETRY_MIN_CONFIDENCE = 0.5  # a re-decoded stretch's words are added when their geometric-mean probability is this


def _decode_retried(model: Any, samples: np.ndarray, opts: AsrOptions, lang: str, channel: int | None,
                    hook: Hook, step: str, elsewhere: np.ndarray | None = None) -> tuple[list[AsrSegment], str | None]:
    kwargs = whisper_kwargs(opts, lang)
    raw = _decode_channel(model, samples, kwargs, channel, hook, step, opts.max_piece_s)
    if opts.retry_without_prompt_s <= 0:
        return raw, None
    gaps = uncovered_speech(samples, raw, opts.vad, elsewhere=elsewhere)
    missed = sum(sp for _, _, sp in gaps)
    if missed < opts.retry_without_prompt_s:
        return raw, None
    # The skipped stretches, one after another with a little silence between, in one decoding.
    rate, pad, sep = 16000, 0.3, 0.5
    spans = [(max(0.0, s0 - pad), min(samples.size / rate, e0 + pad)) for s0, e0, _ in gaps]
    alone = {**kwargs, "initial_prompt": None, "condition_on_previous_text": False}
    redo, stretches = _decode_spliced(model, samples, spans, sep, alone, channel, hook, step + " (retry)",
                                      opts.max_piece_s)
    keep = []
    for i, seg, ws in stretches.words_by_piece(redo):
        # Only what lies in the skipped stretch (the stretch's edges may repeat known words).
        ws = tuple(w for w in ws if gaps[i][0] - pad <= (w.start + w.end) / 2 <= gaps[i][1] + pad)
        # Speech the first decoding left is hard speech: only words Whisper is fairly sure of are
        # added (on 8 kHz calls the rest were mostly invented: "1-1-1-1-1", "Your computer is very close").
        if ws and word_confidence(ws) >= RETRY_MIN_CONFIDENCE:
            keep.append(AsrSegment(ws[0].start, ws[-1].end, _join_words(ws), ws, seg.avg_logprob,
                                   seg.no_speech_prob, seg.compression_ratio, seg.channel))
        elif not seg.words:
            keep.append(AsrSegment(stretches.to_call(seg.start, i), stretches.to_call(seg.end, i), seg.text,
                                   (), seg.avg_logprob, seg.no_speech_prob, seg.compression_ratio, seg.channel))
    merged = sorted(raw + keep, key=lambda sg: sg.start)
    left = uncovered_speech_s(samples, merged, opts.vad, elsewhere=elsewhere)
    where = "" if channel is None else f"channel {channel}: "
    return merged, (f"{where}{missed:.1f} s of speech had no words; re-decoded {len(gaps)} stretch(es) on their "
                    f"own, without a prompt or the text before ({left:.1f} s left)")


LOOP_REPEATS = 4  # a run of one to MAX_LOOP_WORDS words said this many times back to back is decoded again
# ... and its new words replace it from this geometric-mean probability: a loop is wrong for certain, so a
# hard stretch's words count at a lower bar than the words of a skipped one (`RETRY_MIN_CONFIDENCE`): seed 5419,
# call 15's 13 "change"s came back at 0.30 as "Can I have your ... please? ... the fifth, and March"
LOOP_MIN_CONFIDENCE = 0.2


def repeat_runs(tokens: Sequence[str], min_repeats: int) -> list[tuple[int, int]]:
    """`(i, j)` for each run `tokens[i:j]` that says one to MAX_LOOP_WORDS words `min_repeats` times or more
    back to back ("change change change change", "three or three or three or three or"), left to right."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        best = 0
        for n in range(1, MAX_LOOP_WORDS + 1):
            k = 1
            while tokens[i + k * n:i + (k + 1) * n] == tokens[i:i + n] and len(tokens[i:i + n]) == n:
                k += 1
            if k >= min_repeats and k * n > best:
                best = k * n
        if best:
            out.append((i, i + best))
            i += best
        else:
            i += 1
    return out


def redecode_loops(model: Any, samples: np.ndarray, segments: Sequence[AsrSegment], opts: AsrOptions, lang: str,
                   channel: int | None, hook: Hook, step: str) -> tuple[list[AsrSegment], str | None]:
    """Whisper stuck in a loop that takes time ("change change change ..." written over 10 s of a hard 8 kHz
    call, where the operator asked for a name and the client gave it; plain faster-whisper writes the same)
    is decoded again: each stretch of `LOOP_REPEATS` or more repeats, on its own, without a prompt or the
    text before as context (what set the decoder on its track). Its words replace the loop's when they
    hold no loop of their own (three repeats) and are not mere noise to Whisper (`LOOP_MIN_CONFIDENCE`);
    otherwise the loop stays: a real "no, no, no, no" or "zero zero zero zero" comes back as it was.
    Returns the segments and what was done (None: no loop)."""
    flat = [(k, i, normalise_text(w.text)) for k, seg in enumerate(segments) for i, w in enumerate(seg.words)]
    flat = [f for f in flat if f[2]]
    runs = repeat_runs([f[2] for f in flat], LOOP_REPEATS)
    if not runs:
        return list(segments), None
    spans = [(segments[flat[a][0]].words[flat[a][1]].start, segments[flat[b - 1][0]].words[flat[b - 1][1]].end)
             for a, b in runs]
    rate, pad, sep = 16000, 0.3, 0.5
    padded = [(max(0.0, s0 - pad), min(samples.size / rate, e0 + pad)) for s0, e0 in spans]
    kwargs = {**whisper_kwargs(opts, lang), "initial_prompt": None, "condition_on_previous_text": False}
    redo, stretches = _decode_spliced(model, samples, padded, sep, kwargs, channel, hook, step + " (loop)",
                                      opts.max_piece_s)
    found: list[list[Word]] = [[] for _ in spans]
    for i, _, ws in stretches.words_by_piece(redo):  # not the known words around the loop
        found[i] += [w for w in ws if spans[i][0] <= (w.start + w.end) / 2 <= spans[i][1]]
    drop: set[tuple[int, int]] = set()
    added: list[AsrSegment] = []
    for (a, b), ws in zip(runs, found):
        toks = [t for w in ws for t in normalise_text(w.text).split()]
        if not toks or repeat_runs(toks, 3) or word_confidence(ws) < LOOP_MIN_CONFIDENCE:
            continue
        drop |= {(k, i) for k, i, _ in flat[a:b]}
        first = segments[flat[a][0]]
        added.append(AsrSegment(ws[0].start, ws[-1].end, _join_words(ws), tuple(ws), first.avg_logprob,
                                first.no_speech_prob, first.compression_ratio, first.channel))
    where = "" if channel is None else f"channel {channel}: "
    if not added:
        return list(segments), f"{where}decoded {len(runs)} decoder loop(s) again on their own; kept as they were"
    out: list[AsrSegment] = []
    for k, seg in enumerate(segments):
        if not any((k, i) in drop for i in range(len(seg.words))):
            out.append(seg)
            continue
        part: list[Word] = []  # the words before and after the loop, each their own segment
        for i, w in enumerate([*seg.words, None]):
            if w is not None and (k, i) not in drop:
                part.append(w)
            elif part:
                if normalise_text(_join_words(part)):
                    out.append(replace(seg, start=part[0].start, end=part[-1].end, text=_join_words(part),
                                       words=tuple(part)))
                part = []
    return sorted(out + added, key=lambda sg: (sg.start, sg.end)), \
        f"{where}{len(added)} of {len(runs)} decoder loop(s) decoded again on their own and replaced"


def filler_gaps(segments: Sequence[AsrSegment], speech: Sequence[tuple[float, float]],
                min_gap_s: float) -> list[tuple[float, float]]:
    """Stretches `(start_s, end_s)` of VAD `speech` that no first-pass word covers, at least
    `min_gap_s` long: where Whisper may have left out a filler ("Um, everything looks fine")."""
    said = [(float(w.start), float(w.end)) for sg in segments for w in (sg.words or (Word(sg.text, sg.start, sg.end),))]
    return [(a, b) for a, b in uncovered(speech, said) if b - a >= min_gap_s]


def _voiced(samples: np.ndarray, gaps: Sequence[tuple[float, float]], min_s: float,
            rate: int = 16000) -> list[tuple[float, float]]:
    """The part of each gap between its first and last loud frame (within 20 dB of the recording's
    loud frames), when that holds at least `min_s` of loud frames: a pause the VAD padded is silent."""
    loud = _loud_frames(samples, 20.0, rate)
    if loud is None:
        return []
    out = []
    for a, b in gaps:
        f0, f1 = int(a / BLEED_FRAME_S), int(np.ceil(b / BLEED_FRAME_S))
        idx = np.flatnonzero(loud[f0:f1])
        if idx.size * BLEED_FRAME_S >= min_s:
            out.append((max(a, (f0 + idx[0]) * BLEED_FRAME_S), min(b, (f0 + idx[-1] + 1) * BLEED_FRAME_S)))
    return out


def _filler_tokens(words: Sequence[str]) -> list[tuple[str, ...]]:
    toks = {tuple(normalise_text(w).split()) for w in words}
    return sorted((t for t in toks if t), key=len, reverse=True)


FILLER_SEP_S = 0.3  # silence between the stretches put end to end for the filler pass
FILLER_MIN_VOICED_S = 0.12  # a stretch with less sound than this (a pause the VAD padded) is not decoded


def filler_pass(model: Any, samples: np.ndarray, segments: Sequence[AsrSegment], opts: AsrOptions, lang: str,
                channel: int | None = None, hook: Hook = no_progress, step: str = "transcribe",
                speech: Sequence[tuple[float, float]] | None = None) -> list[AsrSegment]:
    """Filler words (`opts.filler_pass.words[lang]`) that the first pass (`segments`) left out,
    as new segments to add; the first pass's words are never changed or dropped.

    The stretches of speech without first-pass words (`filler_gaps`), each with `pad_s` of context,
    are put end to end (`FILLER_SEP_S` of silence between) and decoded once with a filler-biased
    prompt; a decoded word is kept only when it (or a run of words) is a filler of the lexicon,
    Whisper gives it at least `min_probability`, and its middle lies in a stretch. Its times are
    kept within that stretch, so it never overlaps a first-pass word."""
    fp = opts.filler_pass
    vocab = _filler_tokens(fp.words.get(lang, ()))
    if not vocab or samples.size == 0:
        return []
    if fp.source == "whole":
        return _fillers_from_whole(model, samples, segments, opts, lang, vocab, channel, hook, step)
    rate = 16000
    duration = samples.shape[0] / rate
    if speech is None:
        speech = _vad_speech(samples, opts) if opts.vad_filter else [(0.0, duration)]
    gaps = _voiced(samples, filler_gaps(segments, speech or [], fp.min_gap_s), FILLER_MIN_VOICED_S)
    if not gaps:
        return []
    spans = [(max(0.0, a - fp.pad_s), min(duration, b + fp.pad_s)) for a, b in gaps]
    kwargs = {**whisper_kwargs(opts, lang), "initial_prompt": _filler_prompt(opts, lang), "vad_filter": False,
              "hotwords": None, "condition_on_previous_text": False, "word_timestamps": True, "temperature": 0.0}
    redo, stretches = _decode_spliced(model, samples, spans, FILLER_SEP_S, kwargs, channel, hook,
                                      step + " (fillers)", opts.max_piece_s)
    out: list[AsrSegment] = []
    words = _credible_words(redo, opts)
    firsts = _first_pass_tokens(segments)
    taken: set[int] = set()  # one filler per stretch: a run of them is a decoder loop, not hesitation
    toks = [tuple(normalise_text(w.text).split()) for w in words]
    for a, b in _filler_runs(toks, vocab):
        ws = words[a:b]
        k = stretches.piece(ws[0].start)  # the stretch it was decoded in
        lo, hi = gaps[k]
        shift = stretches.to_call(0.0, k)
        mid = (ws[0].start + ws[-1].end) / 2 + shift
        # Word times on short stretches are rough: within the stretch's context is near enough; the
        # times are then kept inside the stretch. A filler the first pass wrote next to it is not added again.
        if (k in taken or not lo - fp.pad_s <= mid <= hi + fp.pad_s
                or min(w.probability for w in ws) < fp.min_probability
                or any(t == toks[a] and lo - 1.0 <= w.start <= hi + 1.0 for t, w in firsts)):
            continue
        taken.add(k)
        new = tuple(Word(w.text, min(hi, max(lo, w.start + shift)), min(hi, max(lo, w.end + shift)),
                         w.probability) for w in ws)
        out.append(AsrSegment(new[0].start, new[-1].end, _join_words(new), new,
                              _neighbour_logprob(segments, min(hi, max(lo, mid))), 0.0, 1.0, channel))
    return out


def _neighbour_logprob(segments: Sequence[AsrSegment], t: float) -> float:
    """The confidence of the first-pass segment at or nearest to `t` (what an added filler inherits)."""
    if not segments:
        return 0.0
    return min(segments, key=lambda sg: 0.0 if sg.start <= t <= sg.end else min(abs(sg.start - t),
                                                                                abs(sg.end - t))).avg_logprob


def _filler_prompt(opts: AsrOptions, lang: str) -> str | None:
    """The filler pass's prompt: `filler_pass.prompt` of the language, else its `initial_prompt`."""
    return opts.filler_pass.prompt.get(lang) or opts.initial_prompt.get(lang) or None


def _first_pass_tokens(segments: Sequence[AsrSegment]) -> list[tuple[tuple[str, ...], Word]]:
    """Each first-pass word with its normalised tokens, by start time."""
    return sorted(((tuple(normalise_text(w.text).split()), w) for sg in segments for w in sg.words),
                  key=lambda tw: tw[1].start)


def _credible_words(segments: Sequence[AsrSegment], opts: AsrOptions) -> list[Word]:
    """The words of `segments` except those of segments Whisper itself scores as no speech or
    as a repetition loop: those hold no fillers to add."""
    guard = opts.hallucination
    return [w for sg in segments for w in sg.words
            if not (sg.no_speech_prob > guard.no_speech_threshold and sg.avg_logprob < guard.log_prob_threshold)
            and min(sg.compression_ratio, compression_ratio(sg.text)) <= guard.compression_ratio_threshold]


def _filler_runs(toks: Sequence[tuple[str, ...]], vocab: Sequence[tuple[str, ...]]) -> Iterator[tuple[int, int]]:
    """`(i, j)` for each run `toks[i:j]` (normalised words) that is a filler of `vocab` (longest
    fillers first: "you know" before "you"), left to right, not overlapping."""
    i = 0
    while i < len(toks):
        for ph in vocab:
            run, j = [], i
            while j < len(toks) and len(sum(run, ())) < len(ph):
                run.append(toks[j])
                j += 1
            if tuple(sum(run, ())) == ph:
                yield i, j
                i = j
                break
        else:
            i += 1


def _filler_slot(ws: Sequence[Word], after: tuple[tuple[str, ...], Word] | None,
                 firsts: Sequence[tuple[tuple[str, ...], Word]]) -> tuple[float, float]:
    """Where a filler of the second decoding goes among the first pass's words (`firsts`, by start):
    Whisper times a hesitation late, often at or after the word that follows it, so when the word after
    it in the second decoding (`after`: its tokens and the word) is a first-pass word within
    `FILLER_NEAR_S`, the filler goes just before that word, in the pause after the word before it;
    otherwise it keeps its own times."""
    s0, e0 = ws[0].start, ws[-1].end
    if after is None:
        return s0, e0
    cands = [i for i, (t, w) in enumerate(firsts) if t == after[0] and abs(w.start - after[1].start) <= FILLER_NEAR_S]
    if not cands:
        return s0, e0
    i = min(cands, key=lambda k: abs(firsts[k][1].start - after[1].start))
    at = firsts[i][1].start
    if s0 < at:  # already before it
        return s0, min(e0, at)
    before = firsts[i - 1][1].end if i > 0 else 0.0
    start = max(before, at - (e0 - s0))
    return (start, at) if at - start >= 0.01 else (at - 0.01, at)


FILLER_NEAR_S = 1.0  # fillers this near each other, or the same filler the first pass wrote, are one hesitation


def _fillers_from_whole(model: Any, samples: np.ndarray, segments: Sequence[AsrSegment], opts: AsrOptions,
                        lang: str, vocab: Sequence[tuple[str, ...]], channel: int | None, hook: Hook,
                        step: str) -> list[AsrSegment]:
    """`filler_pass.source: whole`: the whole channel decoded a second time with the filler prompt
    (the prompt's style carries through the recording, so Whisper writes hesitations it otherwise
    drops). A filler of that decoding is placed among the first pass's words (`_filler_slot`) and
    added where the first pass wrote neither the same filler within `FILLER_NEAR_S` nor any word
    whose middle lies in the filler's time; no first-pass word is changed or dropped, so a prompt that
    costs words elsewhere costs nothing here."""
    fp = opts.filler_pass
    kwargs = {**whisper_kwargs(opts, lang), "initial_prompt": _filler_prompt(opts, lang), "hotwords": None,
              "condition_on_previous_text": True, "word_timestamps": True, "temperature": 0.0}
    redo = _decode_channel(model, samples, kwargs, channel, hook, step + " (fillers)", opts.max_piece_s)
    words = _credible_words(redo, opts)
    toks = [tuple(normalise_text(w.text).split()) for w in words]
    firsts = _first_pass_tokens(segments)
    out: list[AsrSegment] = []
    last_end = kept_end = -1e9
    for a, b in _filler_runs(toks, vocab):
        ws = words[a:b]
        s0, e0 = _filler_slot(ws, (toks[b], words[b]) if b < len(words) else None, firsts)
        # fillers back to back are a decoder loop; one added within FILLER_NEAR_S before is the same
        # hesitation doubled by the prompt's style ("Um, ... um")
        loop, last_end = s0 < last_end + 0.1, e0
        if (loop or s0 < kept_end + FILLER_NEAR_S or min(w.probability for w in ws) < fp.min_probability
                or any(t == toks[a] and abs(w.start - s0) <= FILLER_NEAR_S for t, w in firsts)
                or any(s0 <= (w.start + w.end) / 2 <= e0 for _, w in firsts)):
            continue
        kept_end = e0
        shift = s0 - ws[0].start
        new = tuple(Word(w.text, min(e0, w.start + shift), min(e0, w.end + shift), w.probability) for w in ws)
        out.append(AsrSegment(s0, e0, _join_words(new), new, _neighbour_logprob(segments, (s0 + e0) / 2),
                              0.0, 1.0, channel))
    return out


def _check_rate(audio: Any) -> None:
    if getattr(audio, "sample_rate", 16000) != 16000:
        raise ValueError(f"Whisper needs 16 kHz audio, got {audio.sample_rate} Hz (audio.sample_rate)")


def _vad_speech(samples: np.ndarray, opts: AsrOptions, rate: int = 16000) -> list[tuple[float, float]] | None:
    """Speech spans (s) by Silero VAD with `asr.vad`, as faster-whisper's `vad_filter` finds them;
    None when `asr.vad_filter` is off. Backends that decode chunks cut them at these pauses."""
    if not opts.vad_filter:
        return None
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from callqa.pipeline.speech.asr import share_vad

    share_vad()  # the diarizer then reuses these speech probabilities
    stamps = get_speech_timestamps(np.ascontiguousarray(samples, dtype=np.float32),
                                   VadOptions(**opts.vad.model_dump()), sampling_rate=rate)
    return [(st["start"] / rate, st["end"] / rate) for st in stamps]


# A call whose VAD found this much speech but whose ASR wrote (almost) no words -- at most
# ASR_NO_WORDS_PER_S words per second of speech -- was most likely spoken in a language the model
# does not serve (a Russian call through the English tiny.en): flag `asr_no_words`, not `no_speech`.
ASR_NO_WORDS_MIN_SPEECH_S = 3.0
ASR_NO_WORDS_PER_S = 0.1


def _loops(tokens: Sequence[str]) -> bool:
    """A decoder loop inside one segment: at least 6 words of which at most 60 % differ
    ("and thank you very much thank you very much")."""
    return len(tokens) >= 6 and len(set(tokens)) / len(tokens) <= 0.6


def word_confidence(words: Sequence[Any]) -> float:
    """The geometric mean of the words' probabilities (1.0 without any): never above the arithmetic
    mean, and one near-zero word weighs in."""
    probs = [w.probability for w in words if getattr(w, "probability", None) is not None]
    return math.exp(sum(math.log(max(p, 1e-4)) for p in probs) / len(probs)) if probs else 1.0


def credible_word_count(asr: "AsrResult", guard: HallucinationGuard) -> int:
    """Words of the call that the model itself believes. A segment under the guard's
    `log_prob_threshold` does not count when its words are mostly guesses (geometric-mean
    probability < 0.5), when it loops within itself (`_loops`), or when it repeats the previous
    segment's text (a decoder loop over speech it cannot read, e.g. Russian through tiny.en, which
    writes 0, 9 or 24 such words depending on the CPU)."""
    count, previous = 0, None
    for part in asr.segments or asr.turns:
        norm = normalise_text(part.text)
        unsure = getattr(part, "avg_logprob", 0.0) < guard.log_prob_threshold
        guessed = word_confidence(part.words) < 0.5
        repeated = bool(norm) and previous is not None and f" {norm} " in f" {previous} "
        if not (unsure and (guessed or repeated or _loops(norm.split()))):
            count += len(part.words) or len(part.text.split())
        previous = norm
    return count


def speech_without_words(audio: Any, config: Config, asr: "AsrResult") -> dict[str, Any] | None:
    """`{"speech_s", "words", "model", "language", "note"}` when Silero VAD finds at least
    `ASR_NO_WORDS_MIN_SPEECH_S` of speech in the call but the ASR wrote (almost) no credible words
    (`credible_word_count`); else None. The VAD runs only when the word count is already that low
    (cheap on every ordinary call)."""
    opts = asr_options(config)
    words = credible_word_count(asr, opts.hallucination)
    if words > ASR_NO_WORDS_PER_S * float(audio.duration_s) or audio.duration_s < ASR_NO_WORDS_MIN_SPEECH_S:
        return None
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    rate = int(getattr(audio, "sample_rate", 16000))
    stamps = get_speech_timestamps(np.ascontiguousarray(audio.mono(), dtype=np.float32),
                                   VadOptions(**opts.vad.model_dump()), sampling_rate=rate)
    speech_s = sum(st["end"] - st["start"] for st in stamps) / rate
    if speech_s < ASR_NO_WORDS_MIN_SPEECH_S or words > ASR_NO_WORDS_PER_S * speech_s:
        return None
    note = (f"speech found ({speech_s:.1f} s) but the model produced {'no' if not words else words} "
            f"credible word{'' if words == 1 else 's'}: the spoken language may not be served by {asr.model} "
            f"(language '{asr.language}'), or the recording is too poor for it -- set `language` in metadata "
            f"or route it with models.asr.by_language")
    return {"speech_s": round(speech_s, 1), "words": words, "model": asr.model, "language": asr.language,
            "text": asr.text[:240], "note": note}


def samples_at(audio: Any, rate: int) -> np.ndarray:
    """The call's channels (channels, n) at a backend's `rate`. A recording made at that rate or
    lower (8 kHz telephony for T-one) is decoded again at its own rate, so the model hears the
    original samples, not an upsampled-then-downsampled copy (raised and with tones replaced as
    `audio` was, `conditioned_like`); otherwise resampled."""
    if rate == audio.sample_rate:
        return audio.samples
    src = getattr(audio, "source", None)
    if src is not None and 0 < (src.sample_rate or 0) <= rate:
        native = decoded_again(audio, rate)
        if native is not None:
            return conditioned_like(audio, native, rate)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, audio.sample_rate)
    return np.ascontiguousarray(resample_poly(audio.samples, rate // g, audio.sample_rate // g, axis=1),
                                dtype=np.float32)


def _to_segments(raw: Sequence[Any], channel: int | None) -> list[AsrSegment]:
    return [AsrSegment(s.start, s.end, s.text, tuple(s.words), s.avg_logprob, s.no_speech_prob,
                       compression_ratio(s.text) if s.compression_ratio is None else s.compression_ratio, channel)
            for s in raw]


def _decode_with(backend: Any, samples: np.ndarray, lang: str, opts: AsrOptions, channel: int | None, hook: Hook,
                 step: str, speech16: np.ndarray | None = None,
                 elsewhere: np.ndarray | None = None) -> tuple[list[AsrSegment], list[str]]:
    """One channel through any backend (pipeline/speech/asr_backend.py); `speech16` (16 kHz) gives the VAD
    spans to backends that cut chunks at pauses; `elsewhere` the frames where a stereo channel carries
    only the other side (`DecodeOptions.elsewhere`)."""
    from callqa.pipeline.speech.asr_backend import DecodeOptions

    speech = (_vad_speech(speech16, opts) if speech16 is not None and getattr(backend, "cuts_at_pauses", False)
              else None)
    do = DecodeOptions(asr=opts, channel=channel, hook=hook, step=step, speech=speech, elsewhere=elsewhere)
    return _to_segments(backend.transcribe(samples, lang, do), channel), do.notes


FIRST_PASS_S = 30.0


def _word_confidence(segments: Sequence[Any]) -> float:
    """Geometric mean of word probabilities (0 without words): how sure a model is of what it heard."""
    probs = [max(1e-6, float(w.probability)) for s in segments for w in s.words]
    return float(np.exp(np.mean(np.log(probs)))) if probs else 0.0


@lru_cache(maxsize=1)
def _en_words() -> tuple[Any, frozenset[str]]:
    """spaCy's English lemma table (inflected forms, looked up by hash) and its lemmas + stop words."""
    from spacy.lang.en.stop_words import STOP_WORDS

    from callqa.pipeline.signals.nlp import lookup_table

    table = lookup_table("en")
    return table, frozenset(v for v in table.values() if isinstance(v, str)) | frozenset(STOP_WORDS)


def known_word_share(segments: Sequence[Any], language: str) -> float:
    """Share of the decoded words that are words of `language` (pymorphy3's Russian dictionary,
    spaCy's English lemma table): a model fed another language's speech writes look-alikes."""
    words = [normalise_text(w.text) for s in segments for w in s.words]
    words = [w for w in words if w and not w.isdigit()]
    if not words:
        return 0.0
    if language == "ru":
        from callqa.pipeline.signals.nlp import load_morph

        morph = load_morph()
        known = sum(1 for w in words if morph.word_is_known(w))
    elif language == "en":
        table, lemmas = _en_words()
        known = sum(1 for w in words if all(t in lemmas or t in table for t in w.split()))
    else:
        return 1.0  # no dictionary: confidence alone decides
    return known / len(words)


def route(audio: Any, opts: AsrOptions, requested: str | None, channel: int = 0,
          hook: Hook = no_progress) -> tuple[str, float, Any, str | None]:
    """(language, probability, backend, note): the call's language and the backend serving it.

    The language is `requested` (metadata or `asr.language`); else a multilingual Whisper's
    language ID; else, when models for several languages are configured, a first pass over the
    first `FIRST_PASS_S` of speech with each of them: each scores its mean word confidence times
    the share of its words that are real words of its language (a model hearing a foreign
    language is often confident about look-alike words); the best wins (probability = its share
    of the scores). No model for the language: a clear error naming it and
    `models.asr.by_language.<language>`."""
    from callqa.pipeline.speech.asr_backend import WhisperBackend, backend_for, configured_backends

    if requested:
        return requested, 1.0, backend_for(requested, opts), None
    samples16 = audio.channel(channel) if audio.channels > 1 else audio.mono()
    for key, backend in configured_backends(opts).items():  # a multilingual Whisper knows the language
        if isinstance(backend, WhisperBackend):
            try:
                multilingual = backend.languages() is None
            except ModelUnavailable:
                multilingual = False
            if multilingual:
                lang, prob = backend.detect_language(samples16)
                return lang, prob, backend_for(lang, opts), None
    candidates: dict[str, Any] = {}
    errors: list[str] = []
    for lang in LANGUAGES:
        try:
            candidates[lang] = backend_for(lang, opts)
        except ModelUnavailable as e:
            errors.append(str(e))
    if not candidates:
        raise ModelUnavailable("no ASR model serves any language: " + "; ".join(errors))
    if len(candidates) == 1:
        (lang, backend), = candidates.items()
        return lang, 1.0, backend, None
    speech = _vad_speech(samples16, opts) or [(0.0, audio.duration_s)]
    start = speech[0][0] if speech else 0.0
    window = (max(0.0, start - 0.2), min(audio.duration_s, start + FIRST_PASS_S))
    scores: dict[str, float] = {}
    parts: list[str] = []
    for lang, backend in candidates.items():
        rate = backend.sample_rate
        chans = samples_at(audio, rate)
        x = chans[channel] if audio.channels > 1 else chans.mean(axis=0, dtype=np.float32)
        piece = np.ascontiguousarray(x[int(window[0] * rate):int(window[1] * rate)], dtype=np.float32)
        segs, _ = _decode_with(backend, piece, lang, opts, None, hook, f"language check ({lang})",
                               samples16[int(window[0] * 16000):int(window[1] * 16000)])
        conf, share = _word_confidence(segs), known_word_share(segs, lang)
        scores[lang] = conf * share
        parts.append(f"{lang} {conf * share:.2f} = confidence {conf:.2f} x known words {share:.2f} "
                     f"({candidates[lang].info().label})")
    best = max(scores, key=lambda k: scores[k])
    total = sum(scores.values())
    where = f"a first pass over {window[1] - window[0]:.0f} s of speech"
    if scores[best] < 0.05:  # no model heard its own language: nothing to go on
        best = next(iter(candidates))
        return best, 0.0, candidates[best], (f"language undecided by {where} ({'; '.join(parts)}): "
                                             f"'{best}' assumed; set the call's language in its metadata")
    return best, scores[best] / total, candidates[best], (f"language '{best}' chosen by {where}: "
                                                          f"{'; '.join(parts)}")


def asr_fingerprint(config: Config) -> dict[str, Any]:
    """What identifies the ASR models a configuration uses, from the backends' info records
    (backend, model, versions, directory) per routed language; nothing is loaded."""
    from callqa.pipeline.speech.asr_backend import configured_backends

    out = {}
    for lang, backend in configured_backends(config.section("models").asr).items():
        info = backend.info()
        out[lang] = {**info.serialize(), "location": info.location}
    return out


def _backend_record(backend: Any, lang: str) -> dict[str, Any]:
    return {**backend.info().serialize(), "language": lang, "sample_rate": backend.sample_rate}


def transcribe_mono(audio: Any, config: Config, language: str | None, hook: Hook = no_progress) -> AsrResult:
    """Segments with word timestamps for a one-channel recording; `turns` stay empty (the
    diarizer turns words into speaker turns)."""
    global ASR_RUNS
    ASR_RUNS += 1
    _check_rate(audio)
    opts = asr_options(config)
    lang, prob, backend, note = route(audio, opts, language, hook=hook)
    # The tones the analysis replaced are kept for the ASR (`decode.tones_kept`)
    kept_tones = tones_kept(audio, backend.sample_rate)
    chans = samples_at(audio, backend.sample_rate) if kept_tones is None else kept_tones
    samples = chans[0] if chans.shape[0] == 1 else chans.mean(axis=0, dtype=np.float32)
    raw, notes = _decode_with(backend, samples, lang, opts, None, hook, "transcribe", audio.mono())
    kept, dropped = guard_segments(raw, opts.hallucination, lang, getattr(backend, "can_loop", True),
                                   speech=_vad_speech(samples, opts) if backend.sample_rate == 16000 else None)
    return AsrResult(segments=tuple(kept), turns=(), language=lang, language_probability=prob,
                     model=backend.info().label, dropped=tuple(dropped), notes=tuple(([note] if note else []) + notes),
                     backend=_backend_record(backend, lang))


# --------------------------------------------------------------------------- stereo


@dataclass(frozen=True)
class _ChWord:
    word: Word
    channel: int
    logprob: float
    segment: int = -1  # which of the call's ASR segments it came from (-1: not known)


def _level_db(x: np.ndarray) -> float:
    if x.size == 0:
        return -120.0
    x64 = x.astype(np.float64)
    return 10.0 * np.log10(max(float(np.dot(x64, x64)) / x.size, 1e-12))


def _similar(a: str, b: str) -> bool:
    a, b = normalise_text(a), normalise_text(b)
    if not a or not b:
        return False
    return a == b or SequenceMatcher(None, a, b).ratio() >= 0.6


MIN_LEVEL_SPAN_S = 0.25


def _heard_on_other_channel(cw: _ChWord, words: Sequence[_ChWord], tol: float = 0.3) -> bool:
    """The same word decoded on another channel at that moment: one spoken word, heard twice."""
    w = cw.word
    return any(o.channel != cw.channel and o.word.start < w.end + tol and o.word.end > w.start - tol
               and _similar(o.word.text, w.text) for o in words)


def drop_crosstalk(words: Sequence[_ChWord], samples: np.ndarray, rate: int, margin_db: float,
                   gaps: Sequence[float | None] | None = None) -> tuple[list[_ChWord], list[_ChWord]]:
    """Split words into (kept, crosstalk). A word on channel c is the other channel's
    crosstalk (bleed) when the other channel is at least `margin_db` louder over the word and
    either the other channel has the same word at that moment and c's level there is what the
    other side's bleed alone gives (the other channel's level minus c's bleed gap, `bleed_gaps`,
    within `margin_db`; without a measured gap, any such duplicate: the louder one wins), or
    the word is far (2 x `margin_db`) quieter than channel c's own speech (its loudest words).
    Real overlapping speech, loud on its own channel, is kept, also when both sides say the
    same word at once (a client's "thank you" under the operator's "you are welcome")."""
    n = samples.shape[1]
    levels: list[tuple[float, float]] = []  # (own dB, loudest other dB) per word
    half = int(MIN_LEVEL_SPAN_S * rate / 2)
    for cw in words:
        s = min(n, max(0, int(cw.word.start * rate)))
        e = min(n, max(s + 1, int(np.ceil(cw.word.end * rate))))
        if e - s < 2 * half:  # word times are approximate: judge at least MIN_LEVEL_SPAN_S around the word
            mid = (s + e) // 2
            s, e = max(0, mid - half), min(n, mid + half)
        own = _level_db(samples[cw.channel, s:e])
        other = max((_level_db(samples[c, s:e]) for c in range(samples.shape[0]) if c != cw.channel),
                    default=-120.0)
        levels.append((own, other))
    typical: dict[int, float] = {}
    for ch in {cw.channel for cw in words}:
        # The channel's own speech level: its louder words (bleed words are the quiet ones).
        typical[ch] = float(np.percentile([lv[0] for cw, lv in zip(words, levels) if cw.channel == ch], 90))
    kept: list[_ChWord] = []
    cross: list[_ChWord] = []
    for cw, (own, other) in zip(words, levels):
        is_cross = False
        if other - own >= margin_db:
            gap = gaps[cw.channel] if gaps is not None else None
            bleed_alone = gap is None or own <= other - gap + margin_db
            far_under = typical[cw.channel] - own >= 2 * margin_db
            is_cross = (bleed_alone and _heard_on_other_channel(cw, words)) or far_under
        (cross if is_cross else kept).append(cw)
    return kept, cross


def words_to_turns(words: Sequence[_ChWord], pause_s: float) -> list[Turn]:
    """Merge both channels' words by time into turns: a channel's words are cut into a new
    turn at a pause longer than `pause_s` or when the other speaker started a word in between."""
    ordered = sorted(words, key=lambda cw: (cw.word.start, cw.word.end, cw.channel))
    open_turns: dict[int, list[_ChWord]] = {}
    last_start: dict[int, float] = {}  # latest word start seen per channel
    done: list[list[_ChWord]] = []
    for cw in ordered:
        cur = open_turns.get(cw.channel)
        if cur is not None:
            prev_end = cur[-1].word.end
            others = [t for c, t in last_start.items() if c != cw.channel]
            interrupted = any(t >= prev_end for t in others)
            if cw.word.start - prev_end > pause_s or interrupted:
                done.append(cur)
                cur = None
        if cur is None:
            cur = []
            open_turns[cw.channel] = cur
        cur.append(cw)
        last_start[cw.channel] = cw.word.start
    done.extend(t for t in open_turns.values() if t)
    turns = []
    for group in done:
        ws = tuple(cw.word for cw in group)
        turns.append(Turn(speaker=f"channel_{group[0].channel}", start=ws[0].start, end=ws[-1].end,
                          text=_join_words(ws), words=ws, channel=group[0].channel,
                          avg_logprob=float(np.mean([cw.logprob for cw in group]))))
    turns.sort(key=lambda t: (t.start, t.end))
    return turns


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: how well the text compresses."""
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data))) if data else 0.0


BLEED_FRAME_S = 0.05


BLEED_ONLY_CORRELATION = 0.8


OWN_LOUDER_SHARE = 0.05  # strong bleed: a channel louder than the other in this share of the loud frames has a voice


def _bleed_only(own: np.ndarray, other: np.ndarray, margin_db: float, strong: bool = False) -> bool:
    """True when a channel carries nothing but the other side's bleed (a one-sided call: an
    IVR or voicemail with the other leg silent): its level follows the other channel's, frame
    by frame (correlation >= BLEED_ONLY_CORRELATION over the audible frames), far (2 x
    `margin_db`) under it. Two people talking in turns never correlate like that -- unless each
    voice is echoed strongly on the other channel (`strong`): then a side with a voice of its own is
    also `margin_db` louder than the other in `OWN_LOUDER_SHARE` of the loud frames (a quiet client on
    an 8 kHz call with a 10 dB echo both ways had every word dropped)."""
    active = np.maximum(own, other) > -60.0
    if active.sum() < 10 or float(np.std(own[active])) == 0.0 or float(np.std(other[active])) == 0.0:
        return False
    if float(np.corrcoef(own[active], other[active])[0, 1]) < BLEED_ONLY_CORRELATION:
        return False
    theirs = other[other > -60.0]
    if theirs.size == 0:  # nothing there for this to be the bleed of
        return False
    # This channel's loud frames; with none over -60 dBFS, its frames while either side is audible: a faint
    # copy of the other side (a client leg recorded 12 dB down, an IVR's bleed 42 dB under it) that follows
    # it is bleed all the same, and Whisper still read words off it
    loud = own[own > -60.0] if (own > -60.0).any() else own[active]
    if strong:  # the frames with speech in them: within 20 dB of the call's loud speech, not its noise floor
        top = np.maximum(own, other)
        heard = active & (top >= np.percentile(top[active], 90) - 20.0)
        if float(np.mean(own[heard] > other[heard] + margin_db)) >= OWN_LOUDER_SHARE:
            return False
    return float(np.percentile(theirs, 90)) - float(np.percentile(loud, 90)) >= 2 * margin_db


def late_echo_frames(samples: np.ndarray, rate: int, c: int,
                     own: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Channel `c`'s frames (BLEED_FRAME_S; `own`: its `channel_levels`) that are the other side's voice
    come back late (`echo_lag`: a speakerphone, no echo cancelling at the far end) and strongly (the
    re-timed other side under STRONG_BLEED_DB over this channel where it speaks loudly): where the other
    side, re-timed, is over this channel by half that coupling. An echo weak against the other side but
    within STRONG_BLEED_DB of this side's own voice (this side's leg recorded quieter) counts too, judged
    half way between the two. With the delay (s) and the coupling (dB); None for a bleed without delay or a
    weak one, which `bleed_mask` handles."""
    frame = max(1, int(BLEED_FRAME_S * rate))
    retimed = retimed_other(samples, rate, c, frame)
    if retimed is None:
        return None
    lag, other = retimed
    if other.size != own.size:
        return None
    audible = other > -60.0
    if audible.sum() < 20:
        return None
    loud = audible & (other >= np.percentile(other[audible], 50))
    coupling = float(np.median(other[loud] - own[loud]))
    limit = echo_limit(coupling, other, own)
    if limit is None:
        return None
    return (other - own) >= limit, lag / rate, coupling


def channel_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """(channels, frames) level (dB) of each channel's BLEED_FRAME_S frames."""
    frame = max(1, int(BLEED_FRAME_S * rate))
    return np.stack([frame_db(samples[c], frame) for c in range(samples.shape[0])])


def _loudest_other(levels: np.ndarray, c: int) -> np.ndarray:
    """Per frame, the loudest level of the channels other than `c`."""
    return np.max(np.delete(levels, c, axis=0), axis=0)


def bleed_frames(samples: np.ndarray, rate: int, margin_db: float) -> np.ndarray:
    """`bleed_mask` of the channels' `channel_levels`."""
    return bleed_mask(channel_levels(samples, rate), margin_db)


def bleed_mask(levels: np.ndarray, margin_db: float, strong: bool = False) -> np.ndarray:
    """(channels, frames) True where a channel only carries the other side's bleed: another
    channel is `margin_db` louder and this one is far (2 x `margin_db`) under its own speech
    level (its loud frames); every frame when the whole channel is bleed (`_bleed_only`). Words decoded
    there are dropped (`drop_bleed_words`), so bleed is neither transcribed nor duplicated;
    real overlapping speech, loud on its own channel, is untouched."""
    mask = np.zeros(levels.shape, dtype=bool)
    for c in range(levels.shape[0]):
        own = levels[c]
        other = _loudest_other(levels, c)
        if _bleed_only(own, other, margin_db, strong):  # nothing of its own: every word on it is the other side's
            mask[c] = True
            continue
        near_own_level = _loud(own, 2 * margin_db)
        if near_own_level is None:
            continue
        m = (other - own >= margin_db) & ~near_own_level
        # Only runs of bleed (3 frames or more), not single frames inside speech.
        run = m.astype(np.int8)
        mask[c] = m & (np.convolve(run, np.ones(3, dtype=np.int8), mode="same") >= 2)
    return mask


BLEED_WORD_SHARE = 0.5
SOUNDING_DB = 6.0  # a frame this far over its channel's quietest tenth carries sound (not the line's noise)
OWN_VOICE_WORD_SHARE = 1 / 3


def drop_bleed_words(words: Sequence[_ChWord], bleed: np.ndarray, min_share: float = BLEED_WORD_SHARE,
                     voiced: np.ndarray | None = None,
                     sounding: np.ndarray | None = None) -> tuple[list[_ChWord], list[_ChWord]]:
    """Split words into (kept, bleed): a word is the other side's bleed when at least
    `min_share` of its frames are `bleed_frames` of its own channel (the channel only carries
    the other side there; with `sounding`, of its frames that carry sound on the channel, where it
    has any: a word Whisper stretched over the line's silence before an echo is judged on the echo),
    unless the channel's own voice (`voiced`, `own_voice_frames`) fills `OWN_VOICE_WORD_SHARE` of them
    and the other channel has no such word then: a word of the channel's own that Whisper stretched
    into the other side's next turn (the client's "speaking." at 7.61-8.31 s, spoken until 7.97 s, the
    operator on from 7.89 s), not the other side's "Yes." heard off the bleed just before this side's
    own next turn. Done on decoded words rather than by silencing the audio, which changes what
    Whisper hears around the silenced stretches."""
    kept: list[_ChWord] = []
    gone: list[_ChWord] = []
    for cw in words:
        f0, f1 = _judged_frames(cw.word)
        span = bleed[cw.channel, f0:f1]
        if sounding is not None and sounding[cw.channel, f0:f1].any():
            span = span[sounding[cw.channel, f0:f1]]
        is_bleed = bool(span.size) and float(span.mean()) >= min_share
        if is_bleed and voiced is not None:
            own = voiced[cw.channel, f0:f1]
            is_bleed = (not (own.size and float(own.mean()) >= OWN_VOICE_WORD_SHARE)
                        or _heard_on_other_channel(cw, words))
        (gone if is_bleed else kept).append(cw)
    return kept, gone


# A word Whisper timed shorter than this (down to no time at all: 9.67-9.67 s) is judged over this much
# around its middle: on one frame, a pause between two of the other side's syllables, a stray "front,"
# (probability 0.06) off an IVR's echo was kept and made the one-voice recording a dialogue (seed 5003, 53).
MIN_JUDGED_WORD_S = 0.25


def _judged_frames(word: Word) -> tuple[int, int]:
    """The `BLEED_FRAME_S` frames `[f0, f1)` a word's bleed share is taken over: its own, or
    `MIN_JUDGED_WORD_S` around its middle when it is shorter."""
    start, end = float(word.start), float(word.end)
    if end - start < MIN_JUDGED_WORD_S:
        mid = (start + end) / 2
        start, end = max(0.0, mid - MIN_JUDGED_WORD_S / 2), mid + MIN_JUDGED_WORD_S / 2
    f0 = int(start / BLEED_FRAME_S)
    return f0, max(f0 + 1, int(np.ceil(end / BLEED_FRAME_S)))


MIN_BLEED_GAP_FRAMES = 20  # 1 s of bleed frames to measure a channel's bleed gap


def bleed_gaps(levels: np.ndarray, bleed: np.ndarray) -> list[float | None]:
    """Per channel, how far (dB) under the other channel its bleed sits: the median of the
    other channel's level minus its own (`channel_levels`) over its `bleed_mask` frames (None
    under `MIN_BLEED_GAP_FRAMES` of them, or for a channel that is all bleed). Noise on the bleed
    frames makes the gap smaller than the true one, never larger."""
    out: list[float | None] = []
    for c in range(levels.shape[0]):
        m = bleed[c]
        if int(m.sum()) < MIN_BLEED_GAP_FRAMES or bool(m.all()):
            out.append(None)
            continue
        out.append(float(np.median(_loudest_other(levels, c)[m] - levels[c][m])))
    return out


def own_speech(speech: Sequence[tuple[float, float]], bleed_row: np.ndarray) -> list[tuple[float, float]]:
    """A channel's speech spans (s, its VAD's) without the frames where it only carries the
    other side's bleed (`bleed_frames` of that channel): what the channel's own speaker said.
    An 8 kHz client whom Whisper scored under `min_avg_logprob` on their own channel lost a
    whole turn (corpus seed 2718, call 0: 12 words more than plain faster-whisper)."""
    out: list[tuple[float, float]] = []
    for a, b in speech:
        f0, f1 = int(a / BLEED_FRAME_S), max(int(a / BLEED_FRAME_S) + 1, int(np.ceil(b / BLEED_FRAME_S)))
        row = np.zeros(f1 - f0, dtype=bool)
        part = bleed_row[f0:f1]
        row[:part.size] = part
        edges = np.flatnonzero(np.diff(np.concatenate(([True], row, [True])).astype(np.int8)))
        for s0, s1 in zip(edges[::2], edges[1::2]):  # runs of frames that are not bleed
            start, end = max(a, float((f0 + s0) * BLEED_FRAME_S)), min(b, float((f0 + s1) * BLEED_FRAME_S))
            if end > start:
                out.append((start, end))
    return out


def own_voice_frames(levels: np.ndarray, bleed: np.ndarray, margin_db: float,
                     gaps: Sequence[float | None] | None = None) -> np.ndarray:
    """(channels, frames) True where a channel carries its own speaker's voice: within 2 x `margin_db`
    of its speech level (its loud frames, `_loud`), not its `bleed_mask` frames, and, where its bleed gap
    is known (`bleed_gaps`), `margin_db` over what the other side's bleed alone gives there (a strong
    bleed of a loud voice reaches a quiet speaker's own level)."""
    out = np.zeros(bleed.shape, dtype=bool)
    for c in range(levels.shape[0]):
        near_own_level = _loud(levels[c], 2 * margin_db)
        if near_own_level is None:
            continue
        out[c] = near_own_level & ~bleed[c]
        gap = gaps[c] if gaps is not None else None
        if gap is not None and levels.shape[0] > 1:
            out[c] &= levels[c] >= _loudest_other(levels, c) - gap + margin_db
    return out


VOICE_REACH_S = 2.0  # how far before a segment's next word its early-timed opening is looked for
MIN_VOICE_S = 0.1
MAX_VOICE_GAP_S = 0.5  # ... ending at most this long before that word


def _voice_before(voiced: np.ndarray, after: float, before: float | None) -> tuple[float, float] | None:
    """The channel's own voice in the `VOICE_REACH_S` before `after` (after its kept word ending at
    `before`), running up to within `MAX_VOICE_GAP_S` of it: (first voiced frame's start, last one's
    end), or None under `MIN_VOICE_S` of it."""
    fa = int(np.ceil(max(0.0, after - VOICE_REACH_S, before or 0.0) / BLEED_FRAME_S))
    fb = min(len(voiced), int(after / BLEED_FRAME_S))
    v = np.flatnonzero(voiced[fa:fb]) + fa if fb > fa else np.array([], dtype=int)
    if v.size * BLEED_FRAME_S < MIN_VOICE_S or after - (v[-1] + 1) * BLEED_FRAME_S > MAX_VOICE_GAP_S:
        return None
    # The stretch of voice that runs up to the segment's next word (pauses up to MAX_VOICE_GAP_S inside it).
    k = v.size - 1
    while k > 0 and (v[k] - v[k - 1] - 1) * BLEED_FRAME_S <= MAX_VOICE_GAP_S:
        k -= 1
    return float(v[k] * BLEED_FRAME_S), float(min(after, (v[-1] + 1) * BLEED_FRAME_S))


def _voice_after(voiced: np.ndarray, before: float, after: float | None) -> tuple[float, float] | None:
    """The channel's own voice that starts within `MAX_VOICE_GAP_S` after its kept word ending at `before`,
    looked for up to `VOICE_REACH_S` on and not past its next kept word (starting at `after`): (its start, the
    end of the stretch with pauses up to `MAX_VOICE_GAP_S` inside), or None under `MIN_VOICE_S` of it."""
    fa = int(before / BLEED_FRAME_S)
    reach = before + VOICE_REACH_S if after is None else min(after, before + VOICE_REACH_S)
    fb = min(len(voiced), int(np.ceil(reach / BLEED_FRAME_S)))
    v = np.flatnonzero(voiced[fa:fb]) + fa if fb > fa else np.array([], dtype=int)
    if v.size * BLEED_FRAME_S < MIN_VOICE_S or v[0] * BLEED_FRAME_S - before > MAX_VOICE_GAP_S:
        return None
    k = 0
    while k + 1 < v.size and (v[k + 1] - v[k] - 1) * BLEED_FRAME_S <= MAX_VOICE_GAP_S:
        k += 1
    return max(before, float(v[0] * BLEED_FRAME_S)), float(min(reach, (v[k] + 1) * BLEED_FRAME_S))


def _placed(run: Sequence[_ChWord], start: float, end: float, at_start: bool = False) -> dict[int, _ChWord]:
    """The run moved to end at `end` (`at_start`: to begin at `start`), its words' lengths kept, squeezed into
    `start`..`end`."""
    total = run[-1].word.end - run[0].word.start
    begin = start if at_start else max(start, end - total)
    stop = min(end, start + total) if at_start else end
    scale = (stop - begin) / total if total > 0 else 0.0
    return {id(cw): replace(cw, word=replace(cw.word, start=begin + (cw.word.start - run[0].word.start) * scale,
                                             end=(begin + (cw.word.end - run[0].word.start) * scale
                                                  if total > 0 else stop))) for cw in run}


def restore_turn_edges(kept: Sequence[_ChWord], gone: Sequence[_ChWord], max_words: int = 3,
                       opening_gap_s: float = 0.5, quiet_before_s: float = 1.0, max_closing_words: int = 1,
                       closing_gap_s: float = 0.05, quiet_after_s: float = 1.0,
                       voiced: np.ndarray | None = None) -> tuple[list[_ChWord], list[_ChWord]]:
    """Give back words taken for bleed or crosstalk that open or close one of the channel's own turns.
    Whisper stretches a turn's edge words over the pause beside them, into the other side's speech, where
    the channel carries only bleed: a reply's first word timed back into the other side's greeting ("I" at
    0.95-1.85 s for a reply that starts at 3.6 s, its next word from 1.85 s), a question's last word timed on
    into the other side's answer ("you?" at 6.39-7.07 s for speech that ends at 6.5 s).
    Opening: a run of at most `max_words` dropped words that ends at most `opening_gap_s` before the channel's
    next kept word, after at least `quiet_before_s` without a kept word of that channel (an answer's "Yes. Of
    course," timed seconds early, into the other side's question, 0.44 s before the rest of the turn); with
    `voiced` known, it is placed on the channel's voice before that word (a "not" stretched over 2.2 s of the
    other side's turn ends up where it was said).
    The run may also end further from that word when both are of the same Whisper segment: its first words
    timed seconds early, into the other side's turn, across a pause the VAD cut out ("Okay." at 14.76 s of
    "Okay. What do I need to do?", whose "What" is at 22.2 s), or a word inside it (the "No" of an operator's
    "Hello. ... No worries" timed into the client's turn, 1.5 s before "worries"); they are moved up to that
    word, where the segment says they were spoken -- only onto the channel's own voice (`voiced`,
    `own_voice_frames`) with no kept word of it between, `quiet_before_s` after its previous kept word counted
    from where they land: a run with no such voice just before the segment's next word is bleed Whisper decoded
    there ("Please, re-or" off the other side's "three four nine eight"), and stays dropped.
    Closing: at most `max_closing_words` dropped words joined without a gap (<= `closing_gap_s`, also between
    them) to the channel's previous kept word, with no word of that channel for `quiet_after_s` after them (a
    pause that ends a stereo turn, `turn_pause_s`: an operator's "... check it with you." whose "you." the
    client's interruption drowned, the operator's next words 1.0-1.7 s later), kept or dropped in their
    Whisper segment (a segment that goes on into the other side's bleed, "you want to click on the", is that
    bleed from its first dropped word).
    Or such words timed late that end that word's Whisper segment (Whisper times a segment's last word up to
    where it ends, "one." of "... nineteen ninety one." 19.6 s late): with `voiced` known, where the channel's
    own voice goes on within `MAX_VOICE_GAP_S` after the word, they are moved onto it (a client's "Who is
    this?" whose "this?" Whisper put at 8.02-9.08 s, inside the operator's reply, 1.2 s after "is", where the
    client's voice ends at 7.05 s).
    A run is dropped words in a row, none more than `quiet_before_s` after the one before it (a closing
    word and the next turn's opening word, both dropped, are two runs). Bleed decoded as words comes in runs
    of its own, apart from the edges of the channel's speech; a word the other channel also has at that
    moment is the other side's and stays dropped."""
    kept, gone = list(kept), list(gone)
    every = kept + gone
    back: set[int] = set()
    moved: dict[int, _ChWord] = {}
    for ch in {cw.channel for cw in gone}:
        seq = sorted([(cw, True) for cw in kept if cw.channel == ch] + [(cw, False) for cw in gone if cw.channel == ch],
                     key=lambda p: (p[0].word.start, p[0].word.end))
        i = 0
        while i < len(seq):
            if seq[i][1]:
                i += 1
                continue
            j = i + 1  # a run: dropped words in a row, none more than quiet_before_s after the one before it
            while j < len(seq) and not seq[j][1] and seq[j][0].word.start - seq[j - 1][0].word.end <= quiet_before_s:
                j += 1
            run = [cw for cw, _ in seq[i:j]]
            prev = next((cw for cw, keep in reversed(seq[:i]) if keep), None)  # the channel's kept words around it
            nxt = seq[j][0] if j < len(seq) and seq[j][1] else None  # None: another run follows
            before = prev.word.end if prev is not None else None
            after = nxt.word.start if nxt is not None else None
            later = next((cw.word.start for cw, keep in seq[j:] if keep), None)
            in_segment = (voiced is not None and after is not None and len(run) <= max_words
                          and after - run[-1].word.end > opening_gap_s and run[0].segment >= 0
                          and all(cw.segment == run[0].segment for cw in run + [nxt])
                          and not any(_heard_on_other_channel(cw, every) for cw in run))
            room = _voice_before(voiced[ch], after, before) if in_segment else None
            placed = _placed(run, *room) if room is not None else {}
            if placed and (before is None or min(cw.word.start for cw in placed.values()) - before >= quiet_before_s):
                moved.update(placed)  # timed seconds early: moved onto the channel's voice before the rest
                back.update(placed.keys())
            elif (len(run) <= max_words and after is not None and after - run[-1].word.end <= opening_gap_s
                    and (before is None or run[0].word.start - before >= quiet_before_s)):
                given = [cw for cw in run if not _heard_on_other_channel(cw, every)]
                room = _voice_before(voiced[ch], after, before) if voiced is not None and given else None
                if room is not None:  # on the channel's voice, not stretched over the other side's words
                    moved.update(_placed(given, *room))
                back.update(id(cw) for cw in given)
            elif before is not None and run[0].word.start - before <= closing_gap_s:
                k = 1
                while k < len(run) and run[k].word.start - run[k - 1].word.end <= closing_gap_s:
                    k += 1
                closing = run[:k]
                last = closing[-1]  # the channel's next word: kept, or dropped in the same Whisper segment
                following = next((cw.word.start for cw, keep in seq[i + len(closing):]
                                  if keep or (cw.segment == last.segment and cw.segment >= 0)), None)
                quiet_after = following is None or following - last.word.end >= quiet_after_s
                if len(closing) <= max_closing_words and quiet_after:
                    back.update(id(cw) for cw in closing if not _heard_on_other_channel(cw, every))
            elif (voiced is not None and prev is not None and len(run) <= max_closing_words and run[0].segment >= 0
                    and run[0].segment == prev.segment and not any(cw.segment == prev.segment for cw, _ in seq[j:])
                    and not any(_heard_on_other_channel(cw, every) for cw in run)):
                room = _voice_after(voiced[ch], prev.word.end, later)
                if room is not None:  # timed late, apart from the rest: moved onto the channel's voice after it
                    moved.update(_placed(run, *room, at_start=True))
                    back.update(id(cw) for cw in run)
            i = j
    if not back:
        return kept, gone
    return (sorted(kept + [moved.get(id(cw), cw) for cw in gone if id(cw) in back],
                   key=lambda cw: (cw.word.start, cw.channel)),
            [cw for cw in gone if id(cw) not in back])


def transcribe_stereo(audio: Any, config: Config, language: str | None, hook: Hook = no_progress) -> AsrResult:
    """Each channel transcribed on its own, crosstalk removed, merged into turns labelled
    `channel_0` / `channel_1` with `Turn.channel` set (roles come from the channel map).

    Crosstalk is handled after decoding, on words: words decoded where a channel only carries
    the other side's bleed (`bleed_frames`) are dropped (`drop_bleed_words`), and words still
    heard on both channels go to the louder one (`drop_crosstalk`). Each channel is decoded
    as recorded (the same audio plain faster-whisper would get): silencing bleed before
    ASR cost words. Any backend (pipeline/speech/asr_backend.py) decodes, at its own sample rate."""
    global ASR_RUNS
    ASR_RUNS += 1
    _check_rate(audio)
    opts = asr_options(config)
    margin = config.section("models").diarization.crosstalk_margin_db
    n_ch, rate = audio.channels, audio.sample_rate
    # One language for the whole call, detected on the channel with the most energy.
    loudest = int(np.argmax([_level_db(audio.samples[c]) for c in range(n_ch)]))
    lang, prob, backend, route_note = route(audio, opts, language, channel=loudest, hook=hook)
    levels = channel_levels(audio.samples, rate)
    notes: list[str] = [route_note] if route_note else []
    gap = sides_gap(levels)
    strong = gap is not None and gap < STRONG_BLEED_DB
    if strong:
        # Each side's voice on the other channel only `gap` under it: bleed is no longer "far" (2 x margin)
        # under the channel's own speech. Judged at half the gap instead.
        margin = min(margin, gap / 4.0)
        notes.append(f"strong bleed between the channels (the sides {gap:.0f} dB apart): crosstalk judged "
                     f"with a {margin:.1f} dB margin")
    bleed = bleed_mask(levels, margin, strong)
    sounding = np.ones(levels.shape, dtype=bool)  # frames a word's bleed share is judged on
    for c in range(n_ch if n_ch == 2 else 0):
        echo = late_echo_frames(audio.samples, rate, c, levels[c])
        if echo is not None:
            bleed[c] |= echo[0]
            # On a channel the other side comes back on, a stray word of the echo is stretched over the
            # silence before it ("of course." over 0.3 s of line noise and 0.2 s of echo, on the silent
            # side of a one-voice IVR, made it a dialogue): its share is taken over the frames with sound.
            sounding[c] = levels[c] >= np.percentile(levels[c], 10) + SOUNDING_DB
            notes.append(f"channel {c + 1} carries the other side's voice {echo[1] * 1000:.0f} ms late and "
                         f"{echo[2]:.0f} dB under it (an echo): its words there dropped as the other side's")
    chans = samples_at(audio, backend.sample_rate)
    segments: list[AsrSegment] = []
    dropped: list[DroppedSegment] = []
    for c in range(n_ch):
        # The channel as recorded: silencing its bleed before decoding (digital silence in the
        # middle of a call) made Whisper stop early or skip whole turns; bleed words go afterwards.
        samples = np.ascontiguousarray(chans[c], dtype=np.float32)
        raw, got = _decode_with(backend, samples, lang, opts, c, hook, f"transcribe channel {c + 1}/{n_ch}",
                                audio.channel(c), elsewhere=bleed[c])
        notes.extend(got)
        # The channel's own speech: its VAD also hears the other side's bleed, under which
        # low-confidence text is invented; that text goes, garbled speech of the channel's own stays.
        speech = (own_speech(_vad_speech(samples, opts) or [], bleed[c])
                  if backend.sample_rate == 16000 and opts.vad_filter else None)
        del samples
        kept, gone = guard_segments(raw, opts.hallucination, lang, getattr(backend, "can_loop", True), speech)
        segments.extend(kept)
        dropped.extend(gone)
    words = [_ChWord(w, s.channel or 0, s.avg_logprob, k)
             for k, s in enumerate(segments) for w in (s.words or (Word(s.text, s.start, s.end),))]
    gaps = bleed_gaps(levels, bleed)
    voiced = own_voice_frames(levels, bleed, margin, gaps)
    words, in_bleed = drop_bleed_words(words, bleed, voiced=voiced, sounding=sounding)
    kept_words, cross = drop_crosstalk(words, audio.samples, rate, margin, gaps)
    kept_words, cross = restore_turn_edges(kept_words, in_bleed + cross, voiced=voiced)
    dropped.extend(DroppedSegment(cw.word.start, cw.word.end, cw.word.text, "crosstalk", cw.channel) for cw in cross)
    turns = words_to_turns(kept_words, opts.turn_pause_s)
    segments.sort(key=lambda s: (s.start, s.channel or 0))
    return AsrResult(segments=tuple(segments), turns=tuple(turns), language=lang, language_probability=prob,
                     model=backend.info().label, dropped=tuple(sorted(dropped, key=lambda d: d.start)),
                     notes=tuple(notes), backend=_backend_record(backend, lang))


# --------------------------------------------------------------------------- evaluation

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}


def _say_en(n: int) -> str:
    """English words for 0 <= n < 10**12."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _say_en(n % 100))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _say_en(n // size) + " " + name + ("" if n % size == 0 else " " + _say_en(n % size))
    return str(n)


def _ordinal_en(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return (head + " " + last).strip()


def _numbers_en(text: str) -> str:
    # Codes (ticket, card, phone numbers) are said digit by digit: "4729", "4 7 2 9", "4-7-2-9".
    text = re.sub(r"\b\d(?:[ -]?\d){3,}\b(?![.,]\d)",
                  lambda m: " ".join(_ONES[int(d)] for d in re.sub(r"\D", "", m.group(0))), text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,250 -> 1250
    text = re.sub(r"\$(\d+)", r"\1 dollars", text)
    text = re.sub(r"(\d+)%", r"\1 percent", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _ordinal_en(_say_en(int(m.group(1)))), text)
    text = re.sub(r"\b(\d+)\.(\d+)\b",
                  lambda m: _say_en(int(m.group(1))) + " point " + " ".join(_ONES[int(d)] for d in m.group(2)), text)
    return re.sub(r"\d+", lambda m: _say_en(int(m.group(0))) if len(m.group(0)) < 12 else m.group(0), text)


_FILLER_VARIANTS = {"umm": "um", "ummm": "um", "hmm": "hm", "uhh": "uh", "uhm": "um", "mhm": "mm hmm",
                    "okay": "ok", "э": "э", "ээ": "э", "эээ": "э", "мм": "м", "ммм": "м"}


def wer_text(text: str, language: str = "en") -> str:
    """Text normalised for word error rate: lower case, no punctuation, hyphens as spaces,
    English numbers as spoken words, filler spelling variants unified."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    text = re.sub(r"(?<=\w)['’](?=\w)", "", text)  # don't -> dont, on both sides alike
    if language == "en":
        text = _numbers_en(text)
    words = _WORD_RE.findall(text.replace("_", " "))
    return " ".join(_FILLER_VARIANTS.get(w, w) for w in words)
