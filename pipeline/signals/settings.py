"""Configuration schemas of the signals layer (see config.SECTION_MODULES):
lexicons per language (``configs/lexicons/<lang>.yaml``, one schema for all
languages), scripts (``configs/scripts/<lang>/<name>.yaml``), the signal
thresholds (``configs/signals.yaml``) and redaction (``configs/privacy.yaml``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callqa.pipeline.config import check_unique

Who = Literal["operator", "client", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- lexicons -----------------------------------------------------------------

PATTERN_CLASSES = ("number", "company", "name", "any")


def check_pattern(text: str) -> str:
    """Syntax of a phrase pattern (words are checked against the language when first compiled)."""
    chunks = [c for c in text.split() if c not in ("...", "…")]
    if chunks and chunks[0] == "^":
        chunks = chunks[1:]
    if "^" in chunks:
        raise ValueError(f"'^' (sentence start) must come first in {text!r}")
    if not chunks:
        raise ValueError(f"pattern {text!r} has no words")
    if all(len(c) > 1 and c.endswith("?") for c in chunks):
        raise ValueError(f"pattern {text!r} has only optional words")
    for c in chunks:
        core = c[:-1] if len(c) > 1 and c.endswith("?") else c
        core = core.strip("()")
        if core.startswith("{") or core.endswith("}"):
            if not (core.startswith("{") and core.endswith("}")) or core[1:-1] not in PATTERN_CLASSES:
                raise ValueError(f"unknown class {core} in {text!r} "
                                 f"(known: {', '.join('{' + k + '}' for k in PATTERN_CLASSES)})")
            continue
        for alt in core.split("|"):
            if not any(ch.isalnum() for ch in alt.lstrip("=")):
                raise ValueError(f"{core!r} in {text!r}: every alternative needs a word")
    return text

class Entry(_Strict):
    """One phrase of a lexicon category.

    `text` is a pattern: words separated by spaces, matched by lemma (or by exact
    form when the category says ``match: form`` or the word is written ``=word``);
    ``a|b`` alternatives, ``word?`` optional, ``...`` any few words,
    ``{number}`` a number / redaction tag, ``{company}`` a company name,
    ``{name}`` / ``{any}`` any word; ``^`` first: only at the start of a sentence.
    """

    text: str = Field(min_length=1)
    id: str | None = None  # reported id; default: the text
    not_after: list[str] = Field(default_factory=list)  # not when the word before is one of these
    # how many words before the match `not_after` looks at (same clause): 3 gives negation scope,
    # "не буду жаловаться" is no complaint
    after_window: int = Field(1, ge=1, le=6)
    not_before: list[str] = Field(default_factory=list)  # not when the word after is one of these
    # ... unless the words from there on match one of these patterns: "you know how can I help" is "you
    # know" before a question (the inversion "how can I"), not "you know how I can help"
    still_before: list[str] = Field(default_factory=list)
    unless_followed_by: list[str] = Field(default_factory=list)  # patterns that cancel this match ...
    within: int = Field(8, ge=1)  # ... when they start within this many words after it (same turn)
    otherwise: str | None = None  # category that records the match when it was cancelled
    gap: int | None = Field(None, ge=0, le=10)  # overrides the category's gap for this phrase
    # not when one of these words fills a gap inside the match: "это (не) ваша проблема" is no conflict
    not_inside: list[str] = Field(default_factory=list)
    # patterns that cancel this match when they end within `within_before` words before it in the same
    # sentence (commas allowed): "я не говорю, что это не наша проблема"
    unless_preceded_by: list[str] = Field(default_factory=list)
    within_before: int = Field(6, ge=1, le=12)
    # not when the ASR was less sure than this of the match's words (their least word probability; a
    # transcript without word probabilities counts as sure): on garbled narrow-band speech Whisper writes
    # common words such as "like" where none was said, at low probability
    min_probability: float | None = Field(None, ge=0.0, le=1.0)

    @property
    def key(self) -> str:
        return self.id or self.text

    @field_validator("text")
    @classmethod
    def _syntax(cls, v: str) -> str:
        return check_pattern(v)

    @field_validator("unless_followed_by", "unless_preceded_by", "still_before")
    @classmethod
    def _syntax_all(cls, v: list[str]) -> list[str]:
        return [check_pattern(x) for x in v]


def _entries(v: Any) -> Any:
    if isinstance(v, list):
        return [{"text": e} if isinstance(e, str) else e for e in v]
    return v


class Category(_Strict):
    """A list of phrases with how to match them and whose speech counts."""

    match: Literal["lemma", "form"] = "lemma"
    gap: int = Field(0, ge=0, le=10)  # extra words allowed between pattern words
    speaker: Who = "operator"
    entries: list[Entry] = Field(default_factory=list)

    @field_validator("entries", mode="before")
    @classmethod
    def _plain_strings(cls, v: Any) -> Any:
        return _entries(v)


class TokenRules(_Strict):
    vowels: str = Field(min_length=1)  # letters that make a syllable
    syllables: Literal["vowels", "vowel_groups"] = "vowels"  # count every vowel, or runs of vowels
    number_words: dict[str, int] = Field(default_factory=dict)  # spoken number word -> digits it stands for
    backchannels: list[str] = Field(default_factory=list)  # "mm-hmm", "угу": not an interruption / turn
    email_at: list[str] = Field(default_factory=list)  # spoken "@" ("собака", "at")
    email_dot: list[str] = Field(default_factory=list)  # spoken "." ("точка", "dot")
    passport_context: list[str] = Field(default_factory=list)  # words that make a number a passport number
    not_names: list[str] = Field(default_factory=list)  # capitalised words that are never a {name}


class SentimentLexicon(_Strict):
    positive: dict[str, float] = Field(default_factory=dict)  # lemma or phrase -> 0..4
    negative: dict[str, float] = Field(default_factory=dict)  # lemma or phrase -> 0..4 (sign added)
    # phrases with no valence that contain an emotion word: they win over the word ("плохо слышно" is the line)
    neutral: list[str] = Field(default_factory=list)
    negations: list[str] = Field(default_factory=list)
    negation_window: int = Field(3, ge=1)
    negation_bridge: list[str] = Field(default_factory=list)  # words allowed between a negation and its word
    negation_scalar: float = -0.5  # valence multiplier after a negation ("не плохо" is mildly positive)
    intensifiers: dict[str, float] = Field(default_factory=dict)  # word -> multiplier (очень: 1.5, чуть: 0.6)
    exclamation: float = Field(1.0, ge=1.0, le=3.0)  # multiplier for emotion words in a sentence ending with "!"
    alpha: float = Field(4.0, gt=0)  # score = s / sqrt(s^2 + alpha)

    @model_validator(mode="after")
    def _nonneg(self) -> "SentimentLexicon":
        for name in ("positive", "negative"):
            for k, v in getattr(self, name).items():
                if v < 0:
                    raise ValueError(f"{name}.{k}: give the strength as a positive number")
        return self


PHRASE_KINDS = ("greeting_company", "own_name", "politeness", "empathy", "paraphrase", "client_name",
                "commitment", "resolution", "further_help", "client_confirms", "dont_know_followed",
                "hold_transfer", "glossary", "conflict")


class Lexicon(_Strict):
    """configs/lexicons/<lang>.yaml — the same schema for every language."""

    tokens: TokenRules
    fillers: Category
    politeness: Category
    empathy: Category
    escalation: Category
    forbidden: Category
    conflict: Category
    greeting: Category  # greeting words; with a company name -> phrases.greeting_company
    company_generic: Category  # "компания {name}": a company named when company.names is empty
    own_name: Category  # operator introduces themself
    client_intro: Category  # client says their name: "{name}" marks it
    name_request: Category  # operator asks the client's name: names in the client's answer count
    address_forms: Category  # operator addresses the client: "Mr. {name}"
    paraphrase: Category
    commitment: Category
    resolution: Category
    further_help: Category
    client_confirms: Category
    hold_transfer: Category
    dont_know_followed: Category = Category()  # filled by forbidden entries' `otherwise`
    open_question: Category  # open-question starters
    closed_question: Category  # closed-question starters (questions without "?")
    question_exclude: Category  # operator questions that are not discovery ("чем могу помочь?")
    sentiment: SentimentLexicon


# --- scripts ------------------------------------------------------------------

class Window(_Strict):
    """Where a stage must be said: within seconds or a share of the call, from its start or end."""

    anchor: Literal["start", "end"] = "start"
    within_s: float | None = Field(None, gt=0)
    within_share: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _one(self) -> "Window":
        if self.within_s is None and self.within_share is None:
            raise ValueError("give within_s (seconds) or within_share (0..1)")
        return self


class Stage(_Strict):
    id: str = Field(min_length=1)
    patterns: list[str] = Field(default_factory=list)
    lexicon: list[str] = Field(default_factory=list)  # lexicon categories whose phrases also count
    required: bool = True
    weight: float = Field(1.0, gt=0)
    speaker: Who = "operator"
    gap: int = Field(2, ge=0, le=10)
    window: Window | None = None
    ordered: bool = True  # takes part in the expected order
    require_company: bool = False  # with company.names set, a company name must be in the same turn
    open_questions: bool = False  # any open operator question (questions.open) also counts
    after_client_speaks: bool = False  # only after the client's first turn has started (follow-up questions)
    question_only: bool = False  # only inside a question (a sentence ending in "?", or unpunctuated text)

    @field_validator("patterns")
    @classmethod
    def _syntax(cls, v: list[str]) -> list[str]:
        return [check_pattern(x) for x in v]

    @model_validator(mode="after")
    def _some(self) -> "Stage":
        if not self.patterns and not self.lexicon and not self.open_questions:
            raise ValueError("a stage needs patterns, lexicon categories or open_questions")
        unknown = [c for c in self.lexicon if c not in Lexicon.model_fields or c in ("tokens", "sentiment")]
        if unknown:
            raise ValueError(f"unknown lexicon categories: {', '.join(unknown)}")
        return self


class Script(_Strict):
    id: str = Field(min_length=1)
    description: str = ""
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "Script":
        check_unique((s.id for s in self.stages), "stage id")
        return self


# --- signal thresholds ----------------------------------------------------------

class InterruptionOptions(_Strict):
    # overlap needed before a start counts as interrupting (measured onsets under the other side's speech
    # come up to ~0.15 s late and ASR word ends 0.1-0.3 s early, so 0.5 s of real overlap can measure 0.35 s)
    min_overlap_s: float = Field(0.3, ge=0)
    ignore_backchannels: bool = True  # "угу", "mm-hmm" inside the other's turn is listening, not interrupting


class ChannelActivityOptions(_Strict):
    """Stereo calls: talk time and interruptions from each channel's audio (Silero VAD, less the other
    side's bleed) rather than from ASR word times, which lose speech the ASR missed and end early."""

    enabled: bool = True
    bleed_db: float = Field(12.0, gt=0)  # a channel this much quieter than the other carries only bleed there
    vad_threshold: float = Field(0.5, gt=0, lt=1)  # Silero speech probability
    # the call's own bleed: a channel counts as bleed only this close to the level at which it carries the
    # other side (measured per call), and at least bleed_db under it; null: bleed_db alone
    bleed_margin_db: float | None = Field(8.0, gt=0)
    floor_margin_db: float = Field(4.0, ge=0)  # speech is at least this far over the channel's noise floor


class SilenceOptions(_Strict):
    include_edges: bool = False  # count silence before the first and after the last turn
    min_gap_s: float = Field(0.0, ge=0)  # gaps shorter than this are not silence
    # talk time is word-level speech: a pause between two words of a turn longer than this is not speech
    # (shorter gaps are articulation and sentence rhythm; ASR word ends are often 0.1-0.3 s early, so a
    # threshold much below 1 s removes real speech). Turns without word times count their whole span.
    pause_in_turn_s: float = Field(1.0, ge=0)


class MonologueOptions(_Strict):
    max_gap_s: float = Field(2.0, ge=0)  # own turns closer than this (and no other speech between) join


class ScriptChoice(_Strict):
    default: str = "inbound"
    by_direction: dict[str, str] = Field(default_factory=lambda: {"outbound": "outbound"})
    by_role: dict[str, str] = Field(default_factory=dict)


class ComplianceOptions(_Strict):
    requires_window: bool = True  # a required stage said outside its window does not count
    requires_order: bool = False  # a required stage said out of order does not count
    # When the script does not apply (script indicators null with the reason, no script_missing flag):
    min_call_s: float = Field(15.0, ge=0.0)  # a conversation shorter than this (a wrong number, a dropped call)
    requires_both_sides: bool = True  # a one-sided recording (voicemail, IVR, a silent line)
    # the operator's speech (as the audio measures hear it) without a transcribed word, at this share or
    # more: the stages missing may be in what the ASR lost (1: never)
    max_untranscribed_share: float = Field(0.25, ge=0.0, le=1.0)
    min_untranscribed_s: float = Field(5.0, ge=0.0)  # ... and at least this many seconds of it


class LoudnessOptions(_Strict):
    frame_ms: int = Field(50, ge=10, le=1000)
    floor_dbfs: float = -60.0  # maps to 0 on the 0..100 scale; 0 dBFS maps to 100
    gate_db: float = -20.0  # frames this far under the turn's loudest frame are pauses, not speech
    raised_db: float = Field(6.0, gt=0)  # a turn this far above the speaker's median is a raised voice
    min_turn_s: float = Field(0.5, ge=0)


class SentimentTrajectory(_Strict):
    """client_start / client_end: the client's turns in the first / last share of the call, counted in the
    client's turns (`by: turns`: how the client came in and left, at least one turn) or in time."""

    by: Literal["turns", "time"] = "turns"
    start_share: float = Field(1 / 3, gt=0, le=1)
    end_share: float = Field(1 / 3, gt=0, le=1)


class SignalsConfig(_Strict):
    interruptions: InterruptionOptions = InterruptionOptions()
    channel_activity: ChannelActivityOptions = ChannelActivityOptions()
    silence: SilenceOptions = SilenceOptions()
    monologue: MonologueOptions = MonologueOptions()
    scripts: ScriptChoice = ScriptChoice()
    compliance: ComplianceOptions = ComplianceOptions()
    loudness: LoudnessOptions = LoudnessOptions()
    sentiment: SentimentTrajectory = SentimentTrajectory()
    long_gap_words: int = Field(6, ge=1, le=20)  # what "..." in a pattern allows
    quote_max_words: int = Field(20, ge=1)


# --- privacy ----------------------------------------------------------------------

PII_KINDS = ("email", "card", "passport", "phone", "spoken_digits", "number")


class PrivacyConfig(_Strict):
    redact: bool = True  # redact stored and displayed text
    kinds: list[Literal["email", "card", "passport", "phone", "spoken_digits", "number"]] = \
        Field(default_factory=lambda: list(PII_KINDS))
    tags: dict[str, str] = Field(default_factory=lambda: {
        "email": "[EMAIL]", "card": "[CARD]", "passport": "[PASSPORT]", "phone": "[PHONE]", "number": "[NUMBER]"})
    number_min_digits: int = Field(6, ge=3)  # a written digit run this long is redacted as [NUMBER]
    spoken_min_words: int = Field(4, ge=2)  # this many number words in a row are redacted
    dropped_text: Literal["redact", "drop"] = "redact"  # text the ASR guard removed (crosstalk, low confidence)
    mask_call_ids: bool = True  # call ids that look like phone numbers are masked in display and export
    call_id_min_digits: int = Field(7, ge=3)  # a call id with this many digits is masked
    audio: Literal["mute", "beep", "original"] = "mute"  # served/exported audio over redacted spans

    @model_validator(mode="after")
    def _tags(self) -> "PrivacyConfig":
        import re

        for kind in ("email", "card", "passport", "phone", "number"):
            tag = self.tags.get(kind)
            if tag is None:
                raise ValueError(f"tags.{kind} is missing")
            if not re.fullmatch(r"\[[A-Z_]+\]", tag):
                raise ValueError(f"tags.{kind}: a tag is upper-case letters in brackets, like [PHONE]")
        return self


CONFIG_SECTIONS = {
    "lexicons.*": Lexicon,
    "scripts.*.*": Script,
    "signals": SignalsConfig,
    "privacy": PrivacyConfig,
}
