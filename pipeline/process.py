"""One call end to end, in plain Python: `process_call`. The CLI, the tests and
the Prefect flows all call it. It runs two stages, each with its own identity
(pipeline/identity.py):

- `transcribe_stage`: decode + ASR + diarization + roles (+ PII redaction of what is kept, and the
  audio measures the signals read) -> a `TranscriptRecord`, stored by `transcript_id`;
- `analysis_stage`: signals, indicators, scores, flags, nominations and forms from a
  `TranscriptRecord` -> the call result, stored by `analysis_id`. `callqa rescore` runs only this
  stage, on stored transcripts: no decoding, no ASR.
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callqa.pipeline import __version__ as pipeline_version
from callqa.pipeline.speech.decode import file_sha256
from callqa.pipeline.config import Config
from callqa.pipeline.errors import InputError
from callqa.pipeline.identity import analysis_id_for, transcript_id
from callqa.pipeline.inputs import UNASSIGNED, is_transcript_file, read_meta_file, read_transcript_json, sidecar_for
from callqa.pipeline.speech.roles import assign_by_channel, assign_by_cues, swap_speakers
from callqa.pipeline.signals.measures import AudioMeasures
from callqa.pipeline.types import (AudioSource, CallMeta, CallResult, Hook, ModelInfo, Transcript, Turn, Word,
                                   call_id_for, no_progress)





SPEECH_NOTE = "_diarized_speech"  # mono: the diarizer's speech by role, from transcribe_audio to the measures


def resolve_meta(path: Path, meta: CallMeta | None) -> CallMeta:
    """Sidecar metadata beside the file, overridden by metadata given explicitly."""
    side = sidecar_for(path)
    base = read_meta_file(side) if side else CallMeta()
    return base.merged(meta)


def call_meta(path: str | Path, meta: CallMeta | None = None) -> CallMeta:
    """The metadata a call is processed with: the metadata inside a transcript JSON, then the
    sidecar, then `meta` (each wins over the one before). Raises `InputError` for bad files."""
    path = Path(path)
    meta = resolve_meta(path, meta)
    if is_transcript_file(path):
        meta = read_transcript_json(path)[1].merged(meta)
    return meta


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


def _mono_roles(asr: Any, diar: Any, meta: CallMeta, config: Config, duration_s: float) -> tuple[list[Turn], Transcript]:
    """The ASR's words given to the diarization's speakers (turns labelled by voice), and those turns mapped
    to operator / client."""
    from callqa.pipeline.speech.diarize import assign_speakers

    turns = assign_speakers(list(asr.segments), diar, config)
    return turns, assign_by_cues(turns, meta, config, asr.language, duration_s, apart_by=diar.speakers.get("apart_by"),
                                 unsure_share=diar.speakers.get("unsure_share"))


def _split_merged_dialogue(audio: Any, config: Config, meta: CallMeta, asr: Any, diar: Any, turns: list[Turn],
                           transcript: Transcript, hook: Hook) -> tuple[Any, list[Turn], Transcript]:
    """A mono call the speaker count found one voice in (the embedded diarizer, count estimated) is split in
    two voices all the same when, split, each side's own phrases are in that side's voice (`shows_both_sides`)
    and its roles come out clear (`role_assignment.min_confidence`, which also needs the voices told apart on
    most of the speech, `max_unsure_share`): two alike voices through a telephone line sound like one voice's
    halves to the speaker encoder (8 kHz, windows 0.69-0.76 alike), but a voicemail or an IVR split in two
    does not give each side its own phrases with clear roles. Which half asks more questions is no test: a
    split that mixed the two voices up (DER 0.49) had one half ask more, and its roles at 0.80.
    Returns (diarization, diarized turns, transcript): the split's, or the ones given."""
    from callqa.pipeline.speech.diarize import diarize
    from callqa.pipeline.speech.roles import shows_both_sides

    opts = config.section("models").diarization
    one = diar.speakers
    if (len(diar.labels) != 1 or diar.backend != "embedded" or one.get("method") != "estimated"
            or opts.num_speakers < 2 or not opts.speaker_count.split_dialogue
            or one.get("windows", 0) < opts.speaker_count.min_windows  # too little speech to tell voices by
            or not any(t.text.strip() for t in transcript.turns)):
        return diar, turns, transcript
    hook("diarize: two voices?")
    two = diarize(audio, config, hook=hook, num_speakers=2)
    if len(two.labels) != 2:
        return diar, turns, transcript
    labelled, split = _mono_roles(asr, two, meta, config, audio.duration_s)
    conf = split.role_confidence or 0.0
    if conf < config.section("role_assignment").min_confidence or not shows_both_sides(split):
        return diar, turns, transcript
    speakers = dict(two.info.get("speakers") or {}, method="estimated", one_voice=one.get("reason"),
                    reason=f"the voices sound like one ({one.get('reason')}), but split in two each side's own "
                           f"phrases are in its voice and the roles come out at {conf:.2f} "
                           f"(speaker_count.split_dialogue)")
    return replace(two, num_speakers=None, info=dict(two.info, speakers=speakers)), labelled, split


def _asr_and_diarizer(audio: Any, config: Config, language: str | None, meta: CallMeta,
                      hook: Hook) -> tuple[Any, Any]:
    """A mono call's ASR result and diarization. The embedded diarizer does not need the words: it runs
    beside the ASR, on the CPU the ASR leaves idle (faster-whisper keeps about one and a half of two cores
    busy; the encoder runs on one thread), which takes most of its time off the call's. pyannote's own
    threads take every core, so it runs after the ASR. A failure of either is the call's error."""
    from callqa.pipeline.speech.diarize import diarize, tries_pyannote
    from callqa.pipeline.speech.transcribe import transcribe_mono

    if tries_pyannote(config.section("models").diarization):
        asr = transcribe_mono(audio, config, language, hook=hook)
        hook("diarize")
        return asr, diarize(audio, config, hook=hook, num_speakers=meta.num_speakers)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callqa-diarize") as pool:
        hook("diarize")
        pending = pool.submit(diarize, audio, config, hook=hook, num_speakers=meta.num_speakers)
        try:
            asr = transcribe_mono(audio, config, language, hook=hook)
        except BaseException:
            pending.cancel()
            raise
        return asr, pending.result()


def transcribe_audio(audio: Any, config: Config, meta: CallMeta,
                     hook: Hook = no_progress) -> tuple[Transcript, ModelInfo, dict[str, Any]]:
    """Decoded audio -> transcript with operator/client turns, the models used, and what
    the ASR noted (speech re-decoded, phantom text and crosstalk removed) for `processing`."""
    from callqa.pipeline.speech.transcribe import transcribe_stereo

    language = _language(meta, config)
    if audio.channels == 2:
        asr = transcribe_stereo(audio, config, language, hook=hook)
        asr, no_words = _drop_stray_words(audio, config, asr)
        transcript = assign_by_channel(list(asr.turns), meta, config, asr.language, audio.duration_s)
        diarization = "stereo-channels"
        speakers = {"count": 2, "method": "channels", "backend": "stereo-channels"}
        overlaps = {"measured": True, "method": "channels"}
    else:
        from callqa.pipeline.signals.measures import diarized_speech

        asr, diar = _asr_and_diarizer(audio, config, language, meta, hook)
        asr, no_words = _drop_stray_words(audio, config, asr)
        turns, transcript = _mono_roles(asr, diar, meta, config, audio.duration_s)
        diar, turns, transcript = _split_merged_dialogue(audio, config, meta, asr, diar, turns, transcript, hook)
        speech = diarized_speech(diar, turns, transcript.turns)  # stored with the audio measures (talk time)
        if diar.overlap_method is None:  # interruptions cannot be measured: null with this reason
            transcript = replace(transcript, overlap_note=diar.overlap_note or "overlapping speech was not measured")
        elif diar.overlap_partial:  # measured, but none found by a side is no evidence of none: null
            transcript = replace(transcript, overlap_partial=diar.overlap_partial)
        diarization = diar.backend
        speakers, overlaps = diar.speakers, diar.overlap_summary()
    notes = {"speakers": speakers, "overlaps": overlaps,
             "asr_notes": list(asr.notes), "asr_dropped": [d.serialize() for d in asr.dropped],
             "asr": dict(asr.backend)}  # backend, model, versions, language, sample rate
    if no_words:  # speech the ASR wrote no words for: flag asr_no_words, nothing scored
        notes["asr_no_words"] = no_words
    if audio.channels != 2:  # taken out by transcribe_stage into the audio measures, not kept in `processing`
        notes[SPEECH_NOTE] = speech
    return transcript, ModelInfo(asr=asr.model, diarization=diarization), notes


# --------------------------------------------------------------------------- the stored transcript

def _transcript_from_dict(data: dict[str, Any], language: str, duration_s: float) -> Transcript:
    turns = tuple(Turn(speaker=t["speaker"], start=float(t["start"]), end=float(t["end"]), text=t.get("text") or "",
                       words=tuple(Word(w["text"], float(w["start"]), float(w["end"]),
                                        float(w["probability"]) if w.get("probability") is not None else 1.0)
                                   for w in t.get("words") or ()),
                       channel=t.get("channel"), avg_logprob=t.get("avg_logprob"))
                  for t in data.get("turns") or ())
    return Transcript(turns=turns, language=language, duration_s=duration_s,
                      role_confidence=data.get("role_confidence"), role_method=data.get("role_method"),
                      role_evidence=tuple((str(k), float(v)) for k, v in (data.get("role_evidence") or {}).items()),
                      overlap_note=data.get("overlap_note"), overlap_partial=data.get("overlap_partial"))


def _meta_from_dict(data: dict[str, Any] | None) -> CallMeta:
    data = dict(data or {})
    if data.get("channel_map") is not None:
        data["channel_map"] = tuple(data["channel_map"])
    return CallMeta(**{k: v for k, v in data.items() if k in CallMeta.__dataclass_fields__})


@dataclass
class TranscriptRecord:
    """What the transcript stage made of one recording (or transcript JSON): everything the
    analysis stage needs, and nothing that needs the audio again. Stored by `transcript_id`
    (store table `transcripts`); the transcript is redacted when `privacy.redact` is on (no
    stored text carries personal data)."""

    transcript_id: str
    call_id: str
    language: str
    duration_s: float
    meta: CallMeta
    source: AudioSource
    models: ModelInfo  # asr, diarization
    transcript: Transcript  # diarized, operator/client roles assigned
    processing: dict[str, Any] = field(default_factory=dict)  # audio and ASR notes, redactions, stage timings
    measures: AudioMeasures | None = None  # None for transcript imports (no audio)

    def serialize(self) -> dict[str, Any]:
        from callqa.pipeline.jsonable import to_plain

        return to_plain({
            "transcript_id": self.transcript_id, "call_id": self.call_id, "language": self.language,
            "duration_s": self.duration_s, "meta": self.meta.serialize(), "source": self.source.serialize(),
            "models": self.models.serialize(), "transcript": self.transcript.serialize(),
            "processing": self.processing, "measures": None if self.measures is None else self.measures.serialize()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscriptRecord:
        """A stored record back; `ValueError` naming what is missing or malformed."""
        try:
            src = data["source"]
            language, duration = str(data["language"]), float(data["duration_s"])
            return cls(
                transcript_id=str(data["transcript_id"]), call_id=str(data["call_id"]), language=language,
                duration_s=duration, meta=_meta_from_dict(data.get("meta")),
                source=AudioSource(path=src["path"], sha256=src["sha256"], sample_rate=src.get("sample_rate") or 0,
                                   channels=src.get("channels") or 0,
                                   duration_s=float(src.get("duration_s") or duration), format=src.get("format")),
                models=ModelInfo(**{k: v for k, v in (data.get("models") or {}).items()
                                    if k in ModelInfo.__dataclass_fields__}),
                transcript=_transcript_from_dict(data["transcript"], language, duration),
                processing=copy.deepcopy(dict(data.get("processing") or {})),
                measures=None if data.get("measures") is None else AudioMeasures.from_dict(data["measures"]))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            what = f"missing {e}" if isinstance(e, KeyError) else str(e)
            raise ValueError(f"stored transcript is not readable: {what}") from None


# --------------------------------------------------------------------------- the two stages

def _redact(record: TranscriptRecord, config: Config) -> None:
    """PII redaction of what the record keeps (before anything is stored, computed or shown)."""
    from callqa.pipeline.privacy.redact import redact_processing, redact_transcript, redaction_spans

    if config.section("privacy").redact:
        record.transcript = redact_transcript(record.transcript, config)
        # Crosstalk and low-confidence text the ASR dropped is the other party's real speech.
        dropped = redact_processing(record.processing, config)
        record.processing["redactions"] = redaction_spans(record.transcript, config) + dropped


def transcribe_stage(path: str | Path, config: Config, meta: CallMeta | None = None,
                     hook: Hook = no_progress) -> TranscriptRecord:
    """Decode, ASR, diarization and roles (a transcript JSON: read, roles from the evidence),
    then PII redaction and the audio measures: the transcript stage of one call.

    Raises `InputError` for input that cannot be used.
    """
    path = Path(path)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    meta = resolve_meta(path, meta)
    audio = speech = None
    processing: dict[str, Any] = {"callqa_version": pipeline_version}
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
        speech = asr_notes.pop(SPEECH_NOTE, None)
        processing.update(audio_notes=list(audio.notes), **asr_notes)
    record = TranscriptRecord(transcript_id=transcript_id(source.sha256, config, meta),
                              call_id=call_id_for(path, meta), language=transcript.language,
                              duration_s=source.duration_s, meta=meta, source=source, models=models,
                              transcript=transcript, processing=processing)
    _redact(record, config)
    # As stored: the analysis of a fresh transcript and of a stored one read the same values.
    record = TranscriptRecord.from_dict(record.serialize())
    if audio is not None:
        from callqa.pipeline.signals.measures import measure_audio

        record.measures = measure_audio(audio, record.transcript, meta, config, speech=speech)
    timings["transcript_stage_s"] = time.perf_counter() - t0
    record.processing["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return record


def analysis_stage(record: TranscriptRecord, config: Config, meta: CallMeta | None = None,
                   hook: Hook = no_progress) -> CallResult:
    """Signals, indicators, scores, flags, nominations and forms of a transcript: the analysis
    stage of one call (`record` is not changed). `meta`: the call's metadata now (default: the
    metadata the transcript was made with); a team or role change is a new analysis of the same
    transcript."""
    from callqa.pipeline.qa.forms import score_forms
    from callqa.pipeline.scoring.score import score_call
    from callqa.pipeline.signals import compute_signals

    t0 = time.perf_counter()
    meta = record.meta if meta is None else meta
    processing = copy.deepcopy(record.processing)
    stage_t = dict(processing.get("timings_s") or {})
    result = CallResult(
        call_id=record.call_id, language=record.language, duration_s=record.duration_s, meta=meta,
        source=record.source, models=record.models, config_hash=config.hash, transcript=record.transcript,
        processing=processing, transcript_id=record.transcript_id,
        analysis_id=analysis_id_for(record.transcript_id, config, meta))
    hook("signals")
    result.signals = compute_signals(result.transcript, config, audio=record.measures, meta=meta)
    result.models = replace(result.models, sentiment=result.signals.sentiment_model,
                            nlp=result.signals.nlp or None)
    if result.signals.warnings:
        result.processing.setdefault("warnings", []).extend(result.signals.warnings)
    hook("scores")
    score_call(result, config)
    result.forms = score_forms(result, config)  # evaluation forms, answered from the scores above
    analyze_s = time.perf_counter() - t0
    stage_t["analyze_s"] = round(analyze_s, 3)
    stage_t["total_s"] = round(float(stage_t.get("transcript_stage_s") or 0.0) + analyze_s, 3)
    result.processing["timings_s"] = stage_t
    return result


def process_call(path: str | Path, config: Config, meta: CallMeta | None = None, hook: Hook = no_progress) -> CallResult:
    """Analyse one recording (or transcript JSON) end to end: `transcribe_stage`, then
    `analysis_stage`.

    Raises `InputError` for input that cannot be used; nothing else is expected.
    """
    record = transcribe_stage(path, config, meta, hook=hook)
    result = analysis_stage(record, config, hook=hook)
    result.transcript_record = record
    hook("done")
    return result
