"""One call end to end, in plain Python: `process_call`. The CLI, the tests and
the Prefect flows all call it."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from callqa.pipeline import __version__ as pipeline_version
from callqa.pipeline.speech.decode import file_sha256
from callqa.pipeline.config import Config
from callqa.pipeline.errors import InputError
from callqa.pipeline.identity import call_ids
from callqa.pipeline.inputs import UNASSIGNED, is_transcript_file, read_meta_file, read_transcript_json, sidecar_for
from callqa.pipeline.speech.roles import assign_by_channel, assign_by_cues, swap_speakers
from callqa.pipeline.types import AudioSource, CallMeta, CallResult, ModelInfo, Transcript, call_id_for

# hook(step, completed=None, total=None): progress reporting (CLI bar, flow logs).
Hook = Callable[..., None]


def _noop(step: str, completed: int | None = None, total: int | None = None) -> None:
    return None


def resolve_meta(path: Path, meta: CallMeta | None) -> CallMeta:
    """Sidecar metadata beside the file, overridden by metadata given explicitly."""
    side = sidecar_for(path)
    base = read_meta_file(side) if side else CallMeta()
    return base.merged(meta)


def _language(meta: CallMeta, config: Config) -> str | None:
    if meta.language:
        return meta.language
    lang = config.section("models").asr.language
    return None if lang == "auto" else lang


def _drop_stray_words(audio: Any, config: Config, asr: Any) -> tuple[Any, dict[str, Any] | None]:
    """Speech the VAD found but the ASR wrote (almost) no words for (`asr_no_words`): the stray
    words of a model that did not understand the call are not a transcript."""
    from callqa.pipeline.speech.transcribe import speech_without_words

    no_words = speech_without_words(audio, config, asr)
    if no_words:
        asr = replace(asr, segments=(), turns=(), notes=asr.notes + (no_words["note"],))
    return asr, no_words


def transcribe_audio(audio: Any, config: Config, meta: CallMeta,
                     hook: Hook = _noop) -> tuple[Transcript, ModelInfo, dict[str, Any]]:
    """Decoded audio -> transcript with operator/client turns, the models used, and what
    the ASR noted (speech re-decoded, phantom text and crosstalk removed) for `processing`."""
    from callqa.pipeline.speech.transcribe import transcribe_mono, transcribe_stereo

    language = _language(meta, config)
    if audio.channels == 2:
        asr = transcribe_stereo(audio, config, language, hook=hook)
        asr, no_words = _drop_stray_words(audio, config, asr)
        transcript = assign_by_channel(list(asr.turns), meta, config, asr.language, audio.duration_s)
        diarization = "stereo-channels"
        speakers = {"count": 2, "method": "channels", "backend": "stereo-channels"}
        overlaps = {"measured": True, "method": "channels"}
    else:
        from callqa.pipeline.speech.diarize import assign_speakers, diarize

        asr = transcribe_mono(audio, config, language, hook=hook)
        asr, no_words = _drop_stray_words(audio, config, asr)
        hook("diarize")
        diar = diarize(audio, config, hook=hook, num_speakers=meta.num_speakers)
        turns = assign_speakers(list(asr.segments), diar, config)
        transcript = assign_by_cues(turns, meta, config, asr.language, audio.duration_s)
        if diar.overlap_method is None:  # interruptions cannot be measured: null with this reason
            transcript = replace(transcript, overlap_note=diar.overlap_note or "overlapping speech was not measured")
        diarization = diar.backend
        speakers, overlaps = diar.speakers, diar.overlap_summary()
    notes = {"speakers": speakers, "overlaps": overlaps,
             "asr_notes": list(asr.notes), "asr_dropped": [d.serialize() for d in asr.dropped],
             "asr": dict(asr.backend)}  # backend, model, versions, language, sample rate
    if no_words:  # speech the ASR wrote no words for: flag asr_no_words, nothing scored
        notes["asr_no_words"] = no_words
    return transcript, ModelInfo(asr=asr.model, diarization=diarization), notes


def analyze_transcript(result: CallResult, config: Config, audio: Any = None, hook: Hook = _noop) -> CallResult:
    """Redaction, signals and scores for a call whose transcript is known; fills the
    empty sections of `result` and returns it."""
    from callqa.pipeline.privacy.redact import redact_processing, redact_transcript, redaction_spans
    from callqa.pipeline.scoring.score import score_call
    from callqa.pipeline.signals import compute_signals

    if config.section("privacy").redact:
        # Before signals: no evidence quote, stored text or page can carry personal data.
        result.transcript = redact_transcript(result.transcript, config)
        # Crosstalk and low-confidence text the ASR dropped is the other party's real speech.
        dropped = redact_processing(result.processing, config)
        result.processing["redactions"] = redaction_spans(result.transcript, config) + dropped
    hook("signals")
    result.signals = compute_signals(result.transcript, config, audio=audio, meta=result.meta)
    result.models = replace(result.models, sentiment=result.signals.sentiment_model,
                            nlp=result.signals.nlp or None)
    if result.signals.warnings:
        result.processing.setdefault("warnings", []).extend(result.signals.warnings)
    hook("scores")
    score_call(result, config)
    from callqa.pipeline.qa.forms import score_forms

    result.forms = score_forms(result, config)  # evaluation forms, answered from the scores above
    return result


def process_call(path: str | Path, config: Config, meta: CallMeta | None = None, hook: Hook = _noop) -> CallResult:
    """Analyse one recording (or transcript JSON) end to end.

    Raises `InputError` for input that cannot be used; nothing else is expected.
    """
    path = Path(path)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    meta = resolve_meta(path, meta)
    audio = None
    if is_transcript_file(path):
        transcript, file_meta = read_transcript_json(path)
        meta = file_meta.merged(meta)
        if transcript.role_method == UNASSIGNED:  # diarization labels: roles from the evidence, as on mono audio
            transcript = assign_by_cues(list(transcript.turns), meta, config, transcript.language,
                                        transcript.duration_s)
        elif meta.swap_roles:
            transcript = replace(transcript, turns=tuple(swap_speakers(list(transcript.turns))))
        source = AudioSource(path=str(path), sha256=file_sha256(path), sample_rate=0, channels=0,
                             duration_s=transcript.duration_s, format="transcript-json")
        models = ModelInfo(asr="import", diarization="import")
    else:
        from callqa.pipeline.speech.decode import load_audio

        hook("decode")
        audio = load_audio(path, config)
        timings["decode_s"] = time.perf_counter() - t0
        source = audio.source
        transcript, models, asr_notes = transcribe_audio(audio, config, meta, hook=hook)
        timings["transcribe_s"] = time.perf_counter() - t0 - timings["decode_s"]
    result = CallResult(
        call_id=call_id_for(path, meta),
        language=transcript.language,
        duration_s=source.duration_s,
        meta=meta,
        source=source,
        models=models,
        config_hash=config.hash,
        transcript=transcript,
        processing={"callqa_version": pipeline_version},
        **call_ids(source.sha256, config, meta),
    )
    if audio is not None:
        result.processing.update(audio_notes=list(audio.notes), **asr_notes)
    t1 = time.perf_counter()
    analyze_transcript(result, config, audio=audio, hook=hook)
    timings["analyze_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    result.processing["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    hook("done")
    return result
