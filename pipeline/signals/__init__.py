"""Call signals: the measured layer between a diarized transcript and the
competency scores (CONTRACTS.md, `signals`).

    signals = compute_signals(transcript, config, audio=audio, meta=meta)
    signals.serialize()  # talk time, silences, interruptions, fillers, script, ...

`compute_signals_batch` does the same for many calls with one polars frame for
the timing part (the fast path for large batches).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

from callqa.pipeline.config import Config
from callqa.pipeline.types import CallMeta, Transcript
from callqa.pipeline.signals import lexical
from callqa.pipeline.signals.settings import CONFIG_SECTIONS, SignalsConfig  # noqa: F401  (schemas live beside the code)
from callqa.pipeline.signals.text import CallTokens, tokenize_transcript
from callqa.pipeline.signals.timing import (compute_timing, script_not_applicable, speech_seconds, turns_frame,
                                            untranscribed_speech)

__all__ = ["CallSignals", "compute_signals", "compute_signals_batch"]


def _r(x: Any, nd: int = 3) -> Any:
    """Round floats inside plain JSON-like values."""
    if isinstance(x, float):
        return round(x, nd)
    if isinstance(x, dict):
        return {k: _r(v, nd) for k, v in x.items()}
    if isinstance(x, list):
        return [_r(v, nd) for v in x]
    return x


@dataclass(frozen=True)
class CallSignals:
    """Every signal of one call; `serialize()` gives the `signals` section of the call result."""

    talk_time_s: dict[str, float]
    talk_ratio_operator: float | None
    silence_s: float
    longest_silence_s: float
    longest_silence: dict[str, Any] | None
    interruptions: dict[str, Any]
    speech_rate_wpm: dict[str, float | None]
    syllables_per_s: dict[str, float | None]
    words: dict[str, int]
    filler_words: dict[str, Any]
    script: dict[str, Any] | None
    forbidden_phrases: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    sentiment: dict[str, Any]
    loudness: dict[str, Any] | None
    longest_monologue_s: dict[str, float]
    longest_monologue: dict[str, Any] | None
    response_latency_s: dict[str, float] | None
    questions: dict[str, Any]
    first_solution_s: float | None
    phrases: dict[str, list[dict[str, Any]]]
    untranscribed: dict[str, Any] | None = None  # speech the audio heard with no transcribed word
    # how it was made (not part of the serialized section)
    sentiment_model: str = field(default="lexicon", compare=False)
    language: str = field(default="", compare=False)
    nlp: str = field(default="", compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    _META = ("sentiment_model", "language", "nlp", "warnings")

    def serialize(self) -> dict[str, Any]:
        return {f.name: _r(copy.deepcopy(getattr(self, f.name))) for f in fields(self) if f.name not in self._META}


# --- one call's word-based part ---------------------------------------------------------

def _language(transcript: Transcript, config: Config, meta: CallMeta | None = None) -> tuple[str, str | None]:
    """The language a call is analysed in (a code of `languages.known`) and, when the call's own
    language is not listed, a warning naming both (`languages.unknown: guess`: the listed language
    whose letters its text has most of, the first listed on a tie) or an InputError (`error`)."""
    from callqa.pipeline.errors import InputError

    langs = config.section("languages")
    known = list(langs.known)
    if transcript.language in langs.known:
        return transcript.language, None
    text = " ".join(t.text for t in transcript.turns[:20]).lower()
    alphabets = [frozenset(langs.known[k].letters.lower()) for k in known]
    counts = [sum(1 for c in text if c in letters) for letters in alphabets]
    guess = known[counts.index(max(counts))]
    if not transcript.language:
        return guess, None
    call = (meta.call_id if meta is not None and meta.call_id else None) or "this call"
    problem = (f"language {transcript.language!r} is not configured (languages.known: {', '.join(known)}; "
               "a language is added with configs/languages.yaml and its lexicon, scripts and UI strings)")
    if langs.unknown == "error":
        raise InputError(call, problem)
    return guess, f"{call}: {problem}; analysed as {guess!r} (the most letters of its alphabet)"


def _sentiment_scores(transcript: Transcript, toks: CallTokens, comp: lexical.Compiled,
                      found: dict, config: Config) -> tuple[list[float | None], str, str, list[str]]:
    """Per-turn scores, backend, model name, warnings."""
    from callqa.pipeline.signals.sentiment import LexiconSentiment, TransformersSentiment
    from callqa.pipeline.errors import ModelUnavailable

    opts = config.section("models").sentiment
    warnings: list[str] = []
    n = len(transcript.turns)
    has_words = [False] * n
    for t in toks.turn:
        has_words[t] = True
    if opts.backend == "transformers":
        try:
            scorer = TransformersSentiment(opts.model or "", opts.device, opts.batch_size, opts.label_map,
                                           opts.max_length, lexical._file_for(config, "models.yaml"))
            scores = scorer.score_texts([t.text if has_words[i] else "" for i, t in enumerate(transcript.turns)])
            return scores, "transformers", scorer.name, warnings
        except ModelUnavailable as e:
            if not opts.fallback_to_lexicon:
                raise
            warnings.append(f"{e}; using the lexicon sentiment")
    lex = comp.lexicon.sentiment
    scorer = LexiconSentiment(lex.negations, lex.intensifiers, lex.negation_window, lex.negation_scalar, lex.alpha,
                             lex.negation_bridge, lex.exclamation)
    scores = scorer.score_turns(toks, n, lexical.sentiment_hits(found))
    return [s if has_words[i] else None for i, s in enumerate(scores)], "lexicon", "lexicon", warnings


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _trajectory(transcript: Transcript, scores: list[float | None], sig: SignalsConfig, backend: str,
                backchannel: list[bool]) -> dict[str, Any]:
    per_turn = [{"turn": i, "speaker": t.speaker, "start": round(t.start, 3), "end": round(t.end, 3), "score": s}
                for i, (t, s) in enumerate(zip(transcript.turns, scores)) if s is not None]
    begin, end = transcript.conversation_span()
    # "угу", "хорошо" on their own acknowledge; they do not show how the client feels
    client = [(p["start"], p["score"]) for p in per_turn if p["speaker"] == "client" and not backchannel[p["turn"]]]
    opts = sig.sentiment
    if opts.by == "turns":
        k_first = max(1, round(len(client) * opts.start_share))
        k_last = max(1, round(len(client) * opts.end_share))
        first = [s for _, s in client[:k_first]]
        last = [s for _, s in client[-k_last:]] if client else []
    else:
        first = [s for st, s in client if st < begin + (end - begin) * opts.start_share]
        last = [s for st, s in client if st >= end - (end - begin) * opts.end_share]
        if client and not first:
            first = [client[0][1]]  # no client speech in the first third: their first turn
        if client and not last:
            last = [client[-1][1]]
    op = [p["score"] for p in per_turn if p["speaker"] == "operator"]
    return {"client_start": _mean(first), "client_end": _mean(last), "operator_mean": _mean(op),
            "client_min": min((s for _, s in client), default=None), "backend": backend, "per_turn": per_turn}


@dataclass
class _WordPart:
    lang: str
    toks: CallTokens
    comp: lexical.Compiled
    speakers: list[str]
    found: dict
    words_per_turn: list[int]
    syllables: list[int]
    backchannel: list[bool]
    warnings: list[str] = field(default_factory=list)


def _word_part(transcript: Transcript, config: Config, meta: CallMeta | None = None) -> _WordPart:
    lang, warning = _language(transcript, config, meta)
    comp = lexical.compiled_for(config, lang)
    toks = tokenize_transcript(transcript, comp.nlp)
    speakers = [t.speaker for t in transcript.turns]
    found = lexical.match_call(comp, toks, speakers)
    n = len(transcript.turns)
    return _WordPart(lang, toks, comp, speakers, found, lexical.words_per_turn(toks, n),
                     lexical.syllables(toks, comp, n), lexical.backchannel_turns(toks, comp, n),
                     [warning] if warning else [])


def _quote_turn(text: str, max_words: int) -> str:
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words]) + " …"


def _assemble(transcript: Transcript, wp: _WordPart, timing: dict[str, Any], config: Config, audio: Any,
              meta: CallMeta | None) -> CallSignals:
    sig: SignalsConfig = config.section("signals")
    toks, comp, speakers, found = wp.toks, wp.comp, wp.speakers, wp.found
    words = lexical.word_count(toks, speakers)
    company = lexical.company_mentions(comp, found, toks)
    open_q, closed_q = lexical.questions(comp, found, toks, speakers)
    script = lexical.script_compliance(comp, lexical.choose_script(comp, meta, sig), found, toks, speakers,
                                       transcript.conversation_span(), company, sig, open_q)
    heard = None if audio is None else (audio.activity if audio.channels == 2 else audio.speech)
    why_not = (script_not_applicable(transcript.turns, sig, timing.get("talk_time_s"), heard)
               if script is not None else None)
    if why_not:  # a wrong number, a voicemail: the script could not be followed (indicators null, no flag)
        script = {**script, "not_applicable": why_not}
    phrases = lexical.phrase_evidence(comp, found, toks, speakers, company)
    first_sol = lexical.first_solution(found, toks)
    all_q = sorted([q["start"] for q in open_q + closed_q])
    scores, backend, model, warnings = _sentiment_scores(transcript, toks, comp, found, config)
    warnings = wp.warnings + warnings
    quotes = [_quote_turn(t.text, sig.quote_max_words) for t in transcript.turns]

    def turn_quote(d: dict | None) -> dict | None:
        if d is None:
            return None
        if "first_turn" in d:
            a, b = d.pop("first_turn"), d.pop("last_turn")
            d["quote"] = _quote_turn(" ".join(transcript.turns[i].text for i in range(a, b + 1)
                                              if transcript.turns[i].speaker == "operator"), sig.quote_max_words)
            d["turn"] = a
        return d

    for item in timing["interruptions"]["items"]:
        item["quote"] = quotes[item["turn"]]
    if getattr(transcript, "overlap_note", None):  # mono, overlaps not measured: unknown, not zero
        timing["interruptions"] = {"by_operator": None, "by_client": None, "items": [], "measured": False,
                                   "reason": transcript.overlap_note}
    elif getattr(transcript, "overlap_partial", None):  # mono, only some overlaps found: none is unknown
        inter = timing["interruptions"]
        for side in ("by_operator", "by_client"):
            inter[side] = inter[side] or None
        inter["reason"] = transcript.overlap_partial
    loud = None
    if audio is not None:
        from callqa.pipeline.signals.loudness import loudness

        loud = loudness(audio.turn_levels_db, transcript, sig.loudness, quotes)  # audio: AudioMeasures
    return CallSignals(
        talk_time_s=timing["talk_time_s"],
        talk_ratio_operator=timing["talk_ratio_operator"],
        silence_s=timing["silence_s"],
        longest_silence_s=timing["longest_silence_s"],
        longest_silence=timing["longest_silence"],
        interruptions=timing["interruptions"],
        speech_rate_wpm=timing["speech_rate_wpm"],
        syllables_per_s=timing["syllables_per_s"],
        words=words,
        filler_words=lexical.fillers(found, toks, speakers, words),
        script=script,
        forbidden_phrases=[lexical.ev(m, toks, speakers) for m in found.get("forbidden", [])],
        escalations=[lexical.ev(m, toks, speakers) for m in found.get("escalation", [])],
        sentiment=_trajectory(transcript, scores, sig, backend, wp.backchannel),
        loudness=loud,
        longest_monologue_s=timing["longest_monologue_s"],
        longest_monologue=turn_quote(timing["longest_monologue"]),
        response_latency_s=timing["response_latency_s"],
        questions={"open": open_q, "closed": closed_q, "first_question_s": all_q[0] if all_q else None,
                   "before_solution": sum(1 for s in all_q if first_sol is None or s < first_sol)},
        first_solution_s=first_sol,
        phrases=phrases,
        untranscribed=untranscribed_speech(transcript.turns, heard),
        sentiment_model=model,
        language=wp.lang,
        nlp=_nlp_name(comp.nlp),
        warnings=tuple(warnings),
    )


def _nlp_name(lang: Any) -> str:
    from callqa.pipeline.signals import nlp

    return nlp.describe(lang)


# --- public API -------------------------------------------------------------------------------

def compute_signals_batch(transcripts: Sequence[Transcript], config: Config, audios: Sequence[Any] | None = None,
                          metas: Sequence[CallMeta | None] | None = None) -> list[CallSignals]:
    """Signals for many calls: words per call, timing for all calls in one polars frame."""
    metas = metas or [None] * len(transcripts)
    parts = [_word_part(t, config, m) for t, m in zip(transcripts, metas)]
    rows: dict[str, list[Any]] = {k: [] for k in ("call", "turn", "speaker", "start", "end", "words", "syllables",
                                                  "backchannel", "speech")}
    pause_s = config.section("signals").silence.pause_in_turn_s
    for c, (tr, wp) in enumerate(zip(transcripts, parts)):
        n = len(tr.turns)
        rows["call"].extend([c] * n)
        rows["turn"].extend(range(n))
        rows["speaker"].extend(wp.speakers)
        rows["start"].extend(t.start for t in tr.turns)
        rows["end"].extend(t.end for t in tr.turns)
        rows["words"].extend(wp.words_per_turn)
        rows["syllables"].extend(wp.syllables)
        rows["backchannel"].extend(wp.backchannel)
        rows["speech"].extend(speech_seconds(t.words, pause_s) for t in tr.turns)
    durations = [max([t.duration_s] + [x.end for x in t.turns]) for t in transcripts]
    from callqa.pipeline.signals.measures import AudioMeasures, measure_audio

    # Decoded audio is measured first (levels per turn, channel activity); stored measures
    # (pipeline/signals/measures.py) are used as they are: rescoring decodes nothing.
    audios = [a if a is None or isinstance(a, AudioMeasures) else measure_audio(a, t, m, config)
              for a, t, m in zip(audios or [None] * len(transcripts), transcripts, metas)]
    activity, speech = _activity_frame(audios), _activity_frame(audios, "speech")
    timing = compute_timing(turns_frame(rows), durations, config.section("signals"), activity, speech)
    return [_assemble(tr, wp, tm, config, au, me)
            for tr, wp, tm, au, me in zip(transcripts, parts, timing, audios, metas)]


def _channel_speakers(transcript: Transcript, meta: CallMeta | None) -> dict[int, str]:
    """Stereo: the speaker on each channel, from the transcript's turns (after role assignment), else
    the call's channel map; a channel without either takes the speaker the other channel does not have."""
    votes: dict[int, dict[str, float]] = {}
    for t in transcript.turns:
        if t.channel is not None and t.speaker in ("operator", "client"):
            v = votes.setdefault(t.channel, {})
            v[t.speaker] = v.get(t.speaker, 0.0) + t.duration
    out = {c: max(v, key=v.__getitem__) for c, v in votes.items()}
    cmap = meta.channel_map if meta is not None else None
    for c in (0, 1):
        if c not in out and cmap and c < len(cmap) and cmap[c] in ("operator", "client"):
            out[c] = cmap[c]
    if len(out) == 1:
        (c, who), = out.items()
        out[1 - c] = "client" if who == "operator" else "operator"
    if len(set(out.values())) != len(out):
        return {}  # both channels one speaker: not a two-sided recording to read from the audio
    return out


def _activity_frame(measures: Sequence[Any], kind: str = "activity") -> Any:
    """Audio speech (call, speaker, start, end) of the stereo calls whose measures hold channel
    activity (a call where the audio shows no speech at all keeps its word times); `kind` "speech":
    the mono calls' diarized speech."""
    import polars as pl

    rows: dict[str, list[Any]] = {"call": [], "speaker": [], "start": [], "end": []}
    for c, m in enumerate(measures):
        spans = getattr(m, kind, None) if m is not None else None
        if not spans:
            continue
        for speaker, ss in spans.items():
            for a, b in ss:
                rows["call"].append(c)
                rows["speaker"].append(speaker)
                rows["start"].append(a)
                rows["end"].append(b)
    if not rows["call"]:
        return None
    return pl.DataFrame(rows, schema={"call": pl.Int32, "speaker": pl.Utf8, "start": pl.Float64, "end": pl.Float64})


def compute_signals(transcript: Transcript, config: Config, audio: Any = None,
                    meta: CallMeta | None = None) -> CallSignals:
    """Every signal of one call. `audio` (decoded audio, or its stored AudioMeasures) adds loudness and
    stereo channel activity; None for transcript imports."""
    return compute_signals_batch([transcript], config, [audio], [meta])[0]
