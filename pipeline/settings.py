"""Schemas of the foundation's configuration sections (models, company, audio,
roles assignment, languages). Listed in `config.SECTION_MODULES`; validated at load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VadOptions(_Strict):
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_silence_duration_ms: int = Field(300, ge=0)
    speech_pad_ms: int = Field(200, ge=0)
    min_speech_duration_ms: int = Field(0, ge=0)


class HallucinationGuard(_Strict):
    phrases: dict[str, list[str]] = Field(default_factory=dict)  # per language
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = Field(2.4, gt=0.0)
    min_avg_logprob: float = -1.2  # segments whose mean token log-probability is under this are dropped as noise


class FillerPass(_Strict):
    """A second, cheap Whisper pass that only adds filler words (`um`, `uh`, ...) the first pass
    dropped: the stretches of VAD speech between the first pass's words are decoded again (one
    decoding of those stretches put end to end) with a filler-biased prompt, and only words of the
    language's filler lexicon (`lexicons.<lang>.fillers`) whose times fall in those stretches are
    added; first-pass words are never changed or dropped (pipeline/speech/transcribe.py `filler_pass`)."""

    enabled: bool = False
    prompt: dict[str, str] = Field(default_factory=dict)  # per language; none: `initial_prompt` of the language
    # "gaps": only the stretches of speech without first-pass words are decoded again (cheap);
    # "whole": the whole channel is decoded again with the prompt (about twice the ASR time)
    source: Literal["gaps", "whole"] = "gaps"
    min_gap_s: float = Field(0.25, gt=0.0)  # shorter stretches without words are not decoded again
    pad_s: float = Field(0.15, ge=0.0)  # audio kept around each stretch as context (words there are not added)
    min_probability: float = Field(0.2, ge=0.0, le=1.0)  # a filler Whisper is less sure of is not added
    words: dict[str, list[str]] = Field(default_factory=dict)  # per language; filled from the lexicons at run time


class AsrOptions(_Strict):
    model: str = "tiny.en"  # a name (resolved / downloaded once) or a local directory
    # per language: a Whisper name / directory, or `KIND:DIR` for onnx-asr (pipeline/speech/asr_backend.py);
    # a language without an entry goes to `model` when it serves that language
    by_language: dict[str, str] = Field(default_factory=dict)
    # onnx models: "auto" takes a directory's int8 variant (v3_ctc.int8.onnx) when it has one, else fp32
    onnx_quantization: Literal["auto", "none", "int8"] = "auto"
    models_dir: str = "~/.cache/callqa/models"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(0, ge=0)
    beam_size: int = Field(1, ge=1, le=10)
    language: str = "auto"  # a code of languages.known, or auto (the model detects it)
    word_timestamps: bool = True
    vad_filter: bool = True
    vad: VadOptions = VadOptions()
    use_initial_prompt: bool = True
    initial_prompt: dict[str, str] = Field(default_factory=dict)  # per language
    condition_on_previous_text: bool = True  # carry the prompt's (and earlier text's) style through the call
    turn_pause_s: float = Field(1.0, gt=0.0)  # stereo: a longer pause within a channel starts a new turn
    retry_without_prompt_s: float = Field(3.0, ge=0.0)  # speech left without words that is re-decoded on its own (0: off)
    max_piece_s: float = Field(600.0, ge=60.0)  # longer recordings are decoded in pieces (bounds memory)
    hallucination: HallucinationGuard = HallucinationGuard()
    low_confidence_logprob: float = -1.0  # mean avg_logprob under this -> low_asr_confidence flag
    use_hotwords: bool = False  # company.names + company.glossary[language] biased into the decoder
    hotwords: dict[str, str] = Field(default_factory=dict)  # per language; filled from `company` at run time
    filler_pass: FillerPass = FillerPass()  # a second pass that only adds dropped filler words


class EmbeddedDiarization(_Strict):
    """Silero VAD + resemblyzer window embeddings + spectral clustering (pipeline/speech/diarize.py)."""

    vad_threshold: float = Field(0.35, ge=0.0, le=1.0)  # lower than ASR's: telephone audio is quiet
    min_silence_duration_ms: int = Field(300, ge=0)
    speech_pad_ms: int = Field(150, ge=0)  # added around each VAD speech region
    window_s: float = Field(1.2, gt=0.1, le=1.6)  # embedding window (the encoder was trained on 1.6 s)
    step_s: float = Field(0.75, gt=0.05)
    min_window_s: float = Field(0.4, gt=0.0)  # shorter speech regions get no embedding of their own
    # two clusters whose windows are on average this alike (cosine) are one voice (speaker_count.estimate)
    same_voice_similarity: float = Field(0.675, ge=0.0, le=1.0)
    same_voice_max_silhouette: float = Field(0.32, ge=-1.0, le=1.0)  # ... unless they split the windows cleanly
    # speech whose two likeliest voices' mean similarities differ by less is a toss-up (processing.speakers
    # .unsure_share; role_assignment.max_unsure_share)
    unsure_margin: float = Field(0.05, ge=0.0, le=2.0)
    fill_gap_s: float = Field(1.0, ge=0.0)  # same-speaker segments closer than this are joined
    min_turn_s: float = Field(0.3, ge=0.0)  # shorter segments are absorbed by an adjacent neighbour
    # a segment's edges move in to its first and last sounding frame (above the noise floor) and this
    # much beyond; null: segments keep the VAD's padded edges (pipeline/speech/diarize.py `trim_quiet_edges`)
    edge_margin_s: float | None = Field(0.15, ge=0.0)
    batch_size: int = Field(64, ge=1)
    threads: int = Field(1, ge=0)  # torch threads for the encoder (0: torch's default)


class PyannoteOptions(_Strict):
    pipeline: str | None = None  # local directory / config.yaml, or a hub name
    token_env: str = "HF_TOKEN"  # env var with the hub token (only for hub names)
    device: str = "cpu"
    threads: int = Field(0, ge=0)  # torch threads while the pipeline runs (0: torch's default)


class SpeakerCount(_Strict):
    """How many speakers a mono call has (pipeline/speech/diarize.py; result: `processing.speakers`)."""

    estimate: bool = True  # 1..num_speakers from the voices; false: always num_speakers
    min_share: float = Field(0.05, ge=0.0, lt=0.5)  # embedded: a smaller cluster is not a speaker of its own
    min_windows: int = Field(4, ge=1)  # embedded: with fewer embedding windows of speech, one speaker
    min_speaker_windows: int = Field(2, ge=1)  # embedded: a cluster of fewer windows is no speaker of its own
    # embedded: two clusters that sound like one voice are two all the same when their pitch is at least
    # this many semitones apart (0: pitch not used) ... and the difference is consistent (Welch's t)
    pitch_min_semitones: float = Field(1.5, ge=0.0)
    pitch_min_t: float = Field(3.0, ge=0.0)
    pitch_min_windows: int = Field(24, ge=0)  # ... on this many embedding windows (~18 s of speech) or more
    silhouette_min_windows: int = Field(16, ge=0)  # a clean split tells alike voices apart on this many windows or more
    # embedded: a call found to hold one voice is split in two all the same when, split, each side's own phrases
    # are in its voice and its roles come out clear (role_assignment.min_confidence): two alike telephone voices
    split_dialogue: bool = True


class OverlapOptions(_Strict):
    """Overlapping speech on mono calls (interruptions); result: `processing.overlaps`."""

    detect: bool = True  # false: overlaps are not measured and interruption indicators are null
    # pyannote: its segmentation's overlapped speech. embedded: a speaker change inside continuous
    # speech without a pause, around which short windows sound like both voices at once to a detector
    # trained on the call's own voices (pipeline/speech/diarize.py `detect_overlaps`).
    window_s: float = Field(1.0, gt=0.2, le=1.6)  # embedded: short windows around each speaker change
    step_s: float = Field(0.1, gt=0.0)
    search_s: float = Field(1.0, gt=0.0)  # embedded: how far from a change to look
    max_gap_s: float = Field(0.25, ge=0.0)  # embedded: segments further apart are a plain change
    # embedded: a pause this long (noise floor) within `reply_reach_s` of the change: a plain change or a quick reply
    reply_pause_s: float = Field(0.08, gt=0.0)
    reply_reach_s: float = Field(0.15, ge=0.0)
    mix_examples: int = Field(50, ge=4, le=500)  # embedded: made-up windows of each kind the mix detector learns from
    mix_threshold: float = Field(0.5)  # embedded: windows scoring above this sound like both voices at once
    max_pause_s: float = Field(0.1, gt=0.0)  # embedded: an overlap holds no pause this long (noise floor)
    min_overlap_s: float = Field(0.4, ge=0.0)  # embedded: shorter overlaps (without inner pauses) are not reported
    max_voice_similarity: float = Field(0.64, ge=0.0, le=1.0)  # embedded: voices more alike (mean
    #   cross-cluster window similarity) cannot be told apart in a mix: overlaps not measured
    # embedded: a side the detector found no interruption by counts 0 (true) or is unknown (false): it finds a
    # fifth to a half of the interruptions of simulated calls, so none found is no evidence of none
    none_found_counts: bool = False


class DiarizationOptions(_Strict):
    backend: Literal["auto", "embedded", "pyannote"] = "auto"
    num_speakers: int = Field(2, ge=1, le=8)  # the most speakers (exactly this many when not estimating)
    speaker_count: SpeakerCount = SpeakerCount()
    overlaps: OverlapOptions = OverlapOptions()
    embedded: EmbeddedDiarization = EmbeddedDiarization()
    pyannote: PyannoteOptions = PyannoteOptions()
    crosstalk_margin_db: float = 6.0  # stereo: a word is crosstalk when the other channel is this much louder
    # mono turns span their words ("words"), or their speaker's diarized speech around the words ("speech":
    # word times end early on narrow-band audio and missed words are speech too, and run on into the silence
    # after the speech; pipeline/speech/diarize.py `widen_to_speech`)
    turn_bounds: Literal["words", "speech"] = "speech"
    # mono: diarized speech that holds no word (the ASR wrote none there) becomes a turn of its speaker
    # without text when it lasts at least this long (null: left out; pipeline/speech/diarize.py
    # `untranscribed_turns`)
    untranscribed_min_s: float | None = Field(0.5, ge=0.0)


class SentimentOptions(_Strict):
    backend: Literal["lexicon", "transformers"] = "lexicon"
    model: str | None = None  # name or local directory for the transformers backend
    device: str = "cpu"
    batch_size: int = Field(16, ge=1)
    label_map: dict[str, float] = Field(default_factory=dict)  # model label -> -1..1
    max_length: int = Field(256, ge=8)  # tokens per turn fed to the model
    fallback_to_lexicon: bool = True  # a model that cannot be loaded -> lexicon scores (and a warning)


class ModelsConfig(_Strict):
    asr: AsrOptions = AsrOptions()
    diarization: DiarizationOptions = DiarizationOptions()
    sentiment: SentimentOptions = SentimentOptions()


class CompanyConfig(_Strict):
    names: list[str] = Field(default_factory=list)
    glossary: dict[str, list[str]] = Field(default_factory=dict)  # per language: product terms
    # rapidfuzz ratio (0..100) at which an ASR-mangled company name or glossary term still counts
    # ("Нордвинд" for "Нортвинд", "кэшбек" for "кешбэк"); 0: exact (lemma) matches only
    fuzzy_min: float = Field(85.0, ge=0.0, le=100.0)


class AudioConfig(_Strict):
    sample_rate: int = 16000
    min_duration_s: float = Field(0.5, gt=0.0)
    max_duration_s: float = Field(4 * 3600, gt=0.0)
    default_channel_map: list[Literal["operator", "client"]] = ["operator", "client"]
    # Keypad digits (DTMF) and call-progress tones (ringback, busy, a beep) replaced by line noise before the voice
    # activity, the diarizer and the ASR, so they count as nobody's speech (pipeline/speech/tones.py)
    silence_tones: bool = True


ROLE_EVIDENCE_KINDS = ("greeting", "offers_help", "asks_data", "holds", "self_intro", "states_problem",
                       "names_company", "questions", "first_speaker", "first_speaker_outbound",
                       "first_speaker_no_direction", "speaking_share")


class RoleAssignment(_Strict):
    """Mono calls: evidence kinds vote (log-odds) on who the operator is (pipeline/speech/roles.py)."""

    cue_window_s: float = Field(30.0, gt=0.0)  # greeting, offer of help, self-introduction, company: first seconds
    problem_window_s: float = Field(90.0, gt=0.0)  # the client's problem statement
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)  # under it: flag role_uncertain, operator indicators null
    # No one kind may move the log-odds further: logit(0.8) = 1.386, so one cue never gives 0.8.
    max_single_kind: float = Field(1.3, gt=0.0, lt=1.386)
    company_fuzzy_min: float = Field(85.0, ge=50.0, le=100.0)  # rapidfuzz ratio for an ASR-mangled company name
    single_speaker_scale: float = Field(0.5, ge=0.0, le=1.0)  # one voice only: votes without a contrast count less
    # Roles resting on the turn structure alone (who spoke first, asked, talked more; no phrase of either
    # side) need this much speech from the two voices: under it the call is role_uncertain.
    structure_min_speech_s: float = Field(10.0, ge=0.0)
    # The embedded diarizer could hardly tell the voices apart on at least this share of the speech
    # (processing.speakers.unsure_share): its speakers hold both people's words, role_uncertain.
    max_unsure_share: float = Field(0.2, ge=0.0, le=1.0)
    # Evidence read from the words counts in full when the ASR's mean word probability is >= the second
    # value, not at all when <= the first (garbled ASR: phrase matches are chance), linear between.
    word_trust: tuple[float, float] = (0.4, 0.7)
    # Stereo: the words are weighed against the channel map too. Where they say at least this surely that
    # the channels are the other way round, a map taken from audio.default_channel_map is turned round
    # (role_method channel_cues) and a map the call's metadata gave is kept but role_uncertain; where they
    # say so at least min_confidence surely, the default map is role_uncertain (null: not checked).
    stereo_swap_confidence: float | None = Field(0.8, ge=0.5, le=1.0)
    weights: dict[str, float] = Field(default_factory=dict)  # kind -> log-odds when it points fully one way
    lexicons: dict[str, dict[str, list[str]]] = Field(default_factory=dict)  # kind -> language -> phrases

    @model_validator(mode="before")
    @classmethod
    def _no_cue_lists(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cues" in data:
            raise ValueError("'cues' was replaced by 'weights' (log-odds per evidence kind) and 'lexicons' "
                             "(kind -> language -> phrases); see configs/role_assignment.yaml")
        return data

    @field_validator("weights")
    @classmethod
    def _known_kinds(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(ROLE_EVIDENCE_KINDS))
        if unknown:
            raise ValueError(f"unknown evidence kinds {unknown} (known: {', '.join(ROLE_EVIDENCE_KINDS)})")
        if any(w < 0 for w in v.values()):
            raise ValueError("weights must not be negative")
        return v


LANGUAGE_CODE = r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$"  # "ru", "en", "uk", "pt-br"


class LanguageDef(_Strict):
    """One language of configs/languages.yaml: how its words are split and lemmatised."""

    name: str = Field(min_length=1)  # its own name, for people
    # spaCy language whose blank tokenizer splits words and punctuation ("xx": spaCy's multi-language rules)
    tokenizer: str = Field("xx", pattern=r"^[a-z]{2,3}$")
    # pymorphy3: normal form of the top parse (dictionaries: pymorphy3-dicts-<code>); spacy_lookup: spaCy's
    # lookup lemmatizer (spacy-lookups-data); lowercase: the lower-cased word itself
    lemmas: Literal["pymorphy3", "spacy_lookup", "lowercase"] = "lowercase"
    lemma_overrides: dict[str, str] = Field(default_factory=dict)  # word -> lemma, ahead of `lemmas`
    # the alphabet (lower case): guessing a call's language; pymorphy3 lemmatises only words with these letters
    letters: str = ""


class LanguagesConfig(_Strict):
    """configs/languages.yaml: the languages the pipeline knows (pipeline/signals/nlp.py, signals, web)."""

    unknown: Literal["guess", "error"] = "guess"  # a call in a language not listed: see languages.yaml
    known: dict[str, LanguageDef] = Field(min_length=1)

    @field_validator("known")
    @classmethod
    def _codes(cls, v: dict[str, LanguageDef]) -> dict[str, LanguageDef]:
        import re

        bad = [c for c in v if not re.fullmatch(LANGUAGE_CODE, c)]
        if bad:
            raise ValueError(f"language codes are lower-case ISO 639 codes (ru, en, uk, pt-br), got {bad}")
        return v


def _check_languages(config: Any) -> None:
    """Every language with a lexicon, scripts, role cues or UI strings is listed in languages.known,
    and every listed language has a lexicon (signals need one)."""
    from callqa.pipeline.errors import ConfigError

    known = config.section("languages").known

    def where(tail: str) -> str:
        return next((f for f in reversed(config.files) if f.replace("\\", "/").endswith(tail)), tail)

    for section in ("lexicons", "scripts", "ui"):
        for code in config.get(section, {}) or {}:
            if code not in known:
                raise ConfigError(where("languages.yaml"), f"{section}.{code}",
                                  f"language {code!r} is not in languages.known ({', '.join(known)}); add it there")
    for kind, by_lang in config.section("role_assignment").lexicons.items():
        for code in by_lang:
            if code not in known:
                raise ConfigError(where("role_assignment.yaml"), f"role_assignment.lexicons.{kind}.{code}",
                                  f"language {code!r} is not in languages.known ({', '.join(known)})")
    asr_lang = config.section("models").asr.language
    if asr_lang != "auto" and asr_lang not in known:
        raise ConfigError(where("models.yaml"), "models.asr.language",
                          f"{asr_lang!r} is not in languages.known ({', '.join(known)}) nor 'auto'")
    lexicons = config.get("lexicons", {}) or {}
    for code in known:
        if code not in lexicons:
            raise ConfigError(where("languages.yaml"), f"languages.known.{code}",
                              f"no lexicon for {code!r}: add lexicons/{code}.yaml (same schema as lexicons/en.yaml)")


CONFIG_SECTIONS = {
    "languages": LanguagesConfig,
    "models": ModelsConfig,
    "company": CompanyConfig,
    "audio": AudioConfig,
    "role_assignment": RoleAssignment,
}
CONFIG_CHECKS = (_check_languages,)
