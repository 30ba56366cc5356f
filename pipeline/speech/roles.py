"""Who is the operator? Diarization labels (channel 0/1, SPEAKER_00/01) mean
nothing by themselves: roles come from the channel map (stereo) or, on mono
calls, from several kinds of evidence weighed together.

Mono: each kind of evidence (configs/role_assignment.yaml `weights`) votes, in
log-odds, that the first speaker is the operator (positive) or the client
(negative): who greets on behalf of the company, offers help or asks for account
data, who states a problem, who names the company, who asks the questions the
other answers, who answers the line given the call direction, who talks more.
No kind alone may move the odds past `max_single_kind`, so one cue, which the
other party may say too ("my name is", "this is", "меня зовут"), never gives a
confidence of 0.8; the confidence is the logistic of the summed votes and falls
when kinds disagree. Two voices told apart only by their pitch (the speaker
encoder heard one voice: `apart_by` "pitch") may be one voice's halves: unless
the words show two sides talking (questions one side clearly asks more and
the other answers, each side's own phrases) the call is not sure. Nor is a call whose roles rest on
the turn structure alone (no phrase of either side) with under
`structure_min_speech_s` of speech: one exchange is a single event, nor one whose
diarizer could hardly tell the voices apart on `max_unsure_share` of the speech
(both speakers then hold the other's words). Below
`min_confidence` the call is `role_uncertain` (`role_uncertainty`):
operator-attributed indicators are null with that reason.

Every assignment records its method, confidence and (mono) the votes.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any, Iterable, Sequence

from callqa.pipeline.config import Config
from callqa.pipeline.types import CallMeta, Transcript, Turn

OPERATOR, CLIENT = "operator", "client"
# Kinds whose phrases point to the operator (+) or to the client (-).
OPERATOR_KINDS = ("greeting", "offers_help", "asks_data", "holds", "self_intro")
CLIENT_KINDS = ("states_problem",)


def swap_speakers(turns: list[Turn]) -> list[Turn]:
    """Operator <-> client (metadata `swap_roles`)."""
    other = {OPERATOR: CLIENT, CLIENT: OPERATOR}
    return [replace(t, speaker=other.get(t.speaker, t.speaker)) for t in turns]


def assign_by_channel(turns: list[Turn], meta: CallMeta, config: Config, language: str,
                      duration_s: float) -> Transcript:
    """Stereo: each turn's `channel` indexes the channel map (metadata `channel_map`, else
    audio.default_channel_map: left = operator). The words are weighed against the map as on a mono
    call (`_votes`): a default map they clearly contradict (role_assignment.stereo_swap_confidence) is
    turned round (role_method `channel_cues`, the confidence theirs), one they contradict less surely
    is kept but not trusted (a confidence under min_confidence: role_uncertain); a map the metadata
    gave is kept, and only not trusted where they clearly contradict it."""
    given = meta.channel_map is not None
    cmap = meta.channel_map or tuple(config.section("audio").default_channel_map)
    out = [replace(t, speaker=cmap[t.channel] if t.channel is not None and t.channel < len(cmap) else t.speaker)
           for t in turns]
    if meta.swap_roles:
        out = swap_speakers(out)
    ra = config.section("role_assignment")
    method, confidence, evidence = "channel_map", 1.0, ()
    if ra.stereo_swap_confidence is not None:
        total, votes = map_votes(out, meta, config, language)
        against = 1.0 / (1.0 + math.exp(total))  # how surely the words say the map is the wrong way round
        if against >= ra.stereo_swap_confidence and not given and not meta.swap_roles:
            out = swap_speakers(out)
            method, confidence, evidence = "channel_cues", against, _evidence(votes, False)
        elif against >= ra.stereo_swap_confidence or (against >= ra.min_confidence and not given):
            confidence, evidence = 1.0 - against, _evidence(votes, True)
    return Transcript(turns=tuple(out), language=language, duration_s=duration_s,
                      role_confidence=confidence, role_method=method, role_evidence=evidence)


def map_votes(turns: Sequence[Turn], meta: CallMeta, config: Config, language: str) -> tuple[float, dict[str, float]]:
    """The summed, capped votes (and the votes) that the turns labelled operator are the operator's:
    positive, the labels agree with the words; negative, they are the other way round."""
    ra = config.section("role_assignment")
    op = [t for t in turns if t.speaker == OPERATOR]
    cl = [t for t in turns if t.speaker == CLIENT]
    if not op and not cl:
        return 0.0, {}
    first = min(op + cl, key=lambda t: t.start)
    a, b, sign = (op, cl, 1.0) if op else (cl, [], -1.0)
    raw = _votes(a, b, first.speaker == a[0].speaker, meta, config, language)
    if not b:  # one side only: its words, without a contrast, count less
        raw = {k: v * ra.single_speaker_scale for k, v in raw.items()}
    total, votes = _combine(_trusted(raw, word_trust(turns, *ra.word_trust)), ra.max_single_kind)
    return sign * total, {k: sign * v for k, v in votes.items()}


# ---------------------------------------------------------------- text

def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("ё", "е")))


@lru_cache(maxsize=4096)
def _phrase_re(phrase: str) -> re.Pattern[str] | None:
    """A lexicon phrase -> a regex on normalised text; a word ending in `*` matches any ending."""
    # Tokenised as `_normalise` does ("doesn't" -> "doesn t", "чем-то" -> "чем то").
    words = [re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "")
             for w in re.findall(r"\w+\*?", phrase.lower().replace("ё", "е"))]
    if not words:
        return None
    return re.compile(r"(?<!\w)" + " ".join(words) + r"(?!\w)")


def _count(text: str, phrases: Iterable[str]) -> int:
    n = 0
    for p in phrases:
        rx = _phrase_re(p)
        if rx is not None:
            n += len(rx.findall(text))
    return n


def _company_hits(text: str, names: Iterable[str], fuzzy_min: float) -> int:
    """Company names in normalised text, tolerant of ASR splits and small errors
    ("North wind bank", "Nortwind"): rapidfuzz ratio on the name without spaces."""
    toks = text.split()
    targets: list[tuple[str, int]] = []
    for name in names:
        ws = _normalise(name).split()
        if ws:
            targets.append(("".join(ws), len(ws) + 1))
            longest = max(ws, key=len)
            if len(longest) >= 5 and len(ws) > 1:
                targets.append((longest, 2))
    if not targets or not toks:
        return 0
    from rapidfuzz import fuzz

    hits, j = 0, 0
    while j < len(toks):
        best_len = 0
        for target, max_words in targets:
            joined = ""
            for k in range(max_words):
                if j + k >= len(toks):
                    break
                joined += toks[j + k]
                if len(joined) >= 4 and fuzz.ratio(joined, target) >= fuzzy_min:
                    best_len = max(best_len, k + 1)
        if best_len:
            hits += 1
            j += best_len
        else:
            j += 1
    return hits


def _questions(turn: Turn, interrogatives: list[str]) -> int:
    """Questions in a turn: sentences ending in "?" or, in unpunctuated ASR text, opening with an
    interrogative. A phatic "Hello?" / "Алло?" (under three words) is not a question."""
    punctuated = "?" in turn.text
    n = 0
    for sentence in re.findall(r"[^.!?;]+[.!?;]*", turn.text):
        norm = _normalise(sentence)
        if len(norm.split()) < 3:
            continue
        if sentence.rstrip().endswith("?") if punctuated else any(
                rx is not None and rx.match(norm) for rx in map(_phrase_re, interrogatives)):
            n += 1
    return n


# ---------------------------------------------------------------- votes

def _lean(a: float, b: float) -> float:
    """-1..1: how much the counts point to a rather than b; one hit on one side leans 0.5,
    more hits and agreement lean further, hits on both sides cancel."""
    total = a + b
    if total <= 0:
        return 0.0
    return (a - b) / total * (1.0 - 0.5 ** total)


def _lexicon(ra: Any, kind: str, language: str) -> list[str]:
    """The kind's phrases in the call's language first, then the other languages'."""
    lex = ra.lexicons.get(kind, {})
    return list(lex.get(language, [])) + [p for lang, ps in lex.items() if lang != language for p in ps]


def _votes(a: list[Turn], b: list[Turn], first_is_a: bool, meta: CallMeta, config: Config,
           language: str) -> dict[str, float]:
    """Per kind, the log-odds (before the per-kind cap) that speaker `a` is the operator.
    `b` empty: a one-speaker recording (only what `a` says counts)."""
    ra = config.section("role_assignment")
    w = ra.weights
    t0 = min((t.start for t in a + b), default=0.0)

    def text(turns: list[Turn], window: float | None) -> str:
        return " " + " ".join(_normalise(t.text) for t in turns
                              if window is None or t.start - t0 <= window) + " "

    early_a, early_b = text(a, ra.cue_window_s), text(b, ra.cue_window_s)
    mid_a, mid_b = text(a, ra.problem_window_s), text(b, ra.problem_window_s)
    all_a, all_b = text(a, None), text(b, None)
    votes: dict[str, float] = {}
    for kind, (ta, tb) in (("greeting", (early_a, early_b)), ("offers_help", (early_a, early_b)),
                           ("self_intro", (early_a, early_b)), ("asks_data", (all_a, all_b)),
                           ("holds", (all_a, all_b)), ("states_problem", (mid_a, mid_b))):
        phrases = _lexicon(ra, kind, language)
        lean = _lean(_count(ta, phrases), _count(tb, phrases))
        if kind in CLIENT_KINDS:
            lean = -lean
        votes[kind] = w.get(kind, 0.0) * lean
    names = config.section("company").names
    if names:
        votes["names_company"] = w.get("names_company", 0.0) * _lean(
            _company_hits(early_a, names, ra.company_fuzzy_min), _company_hits(early_b, names, ra.company_fuzzy_min))
    if not b:
        return {k: v for k, v in votes.items() if v}

    # Question-answer structure: who asks the questions the other one answers.
    inter = _lexicon(ra, "interrogatives", language)
    seq = sorted([(t, True) for t in a] + [(t, False) for t in b], key=lambda p: p[0].start)
    asked = {True: 0, False: 0}
    for (t, is_a), (_, next_is_a) in zip(seq, seq[1:]):
        if next_is_a != is_a:
            asked[is_a] += min(1, _questions(t, inter))
    votes["questions"] = w.get("questions", 0.0) * _lean(asked[True], asked[False])

    # Who answers the line: inbound, the operator; outbound, the client.
    sign = 1.0 if first_is_a else -1.0
    if meta.direction == "inbound":
        votes["first_speaker"] = w.get("first_speaker", 0.0) * sign
    elif meta.direction == "outbound":
        votes["first_speaker"] = -w.get("first_speaker_outbound", 0.0) * sign
    else:  # most contact-centre calls are inbound: a weaker vote
        votes["first_speaker"] = w.get("first_speaker_no_direction", 0.0) * sign

    # Speaking share: the operator usually leads; a weak vote.
    talk_a, talk_b = sum(t.duration for t in a), sum(t.duration for t in b)
    if talk_a + talk_b > 0:
        share = talk_a / (talk_a + talk_b)
        votes["speaking_share"] = w.get("speaking_share", 0.0) * max(-1.0, min(1.0, (share - 0.5) * 4))
    return {k: v for k, v in votes.items() if v}


ONE_VOICE_OPERATOR = 0.5  # one voice labelled operator: never sure it is not two people merged
PITCH_SPLIT_UNCONFIRMED = 0.5  # two "voices" only pitch told apart, and nothing said shows a dialogue
SHORT_STRUCTURE = 0.5  # no phrase of either side, and too little speech for the turn structure to tell
VOICES_UNSURE = 0.5  # the diarizer could hardly tell the voices apart on much of the speech
# Questions show a dialogue only when one side clearly asks more: 2 turn-ending questions against 1 leans 0.29,
# 9 against 8 leans 0.06 (a pitch split of 8 kHz voices 0.77 alike took a call's roles the wrong way at 0.60 on that)
DIALOGUE_QUESTIONS_LEAN = 0.25
MERGED_SHARE = 0.25  # one voice: evidence for the other side at least this share of the evidence for its own side

LEXICAL_KINDS = frozenset(OPERATOR_KINDS + CLIENT_KINDS + ("names_company",))  # phrases said by one side
WORD_KINDS = LEXICAL_KINDS | {"questions"}  # all evidence read from the words
# Phrases only the operator's side says (clients introduce themselves too): half of a dialogue
DIALOGUE_OPERATOR_KINDS = frozenset(OPERATOR_KINDS) - {"self_intro"} | {"names_company"}


def word_trust(turns: Sequence[Turn], low: float, high: float) -> float:
    """How far evidence read from the words (phrases, the company name, questions) can be trusted:
    0 when the ASR's mean word probability is at or under `low` (the model itself doubts what it
    wrote: a garbled 8 kHz call whose phrases are chance matches), 1 at or over `high`, linear
    between. Words without a probability (an imported transcript) are trusted."""
    probs = [w.probability for t in turns for w in t.words if w.probability is not None]
    if not probs or high <= low:
        return 1.0
    mean = sum(probs) / len(probs)
    return max(0.0, min(1.0, (mean - low) / (high - low)))


def _trusted(votes: dict[str, float], trust: float) -> dict[str, float]:
    return {k: (v * trust if k in WORD_KINDS else v) for k, v in votes.items()}


def _combine(votes: dict[str, float], cap: float) -> tuple[float, dict[str, float]]:
    capped = {k: max(-cap, min(cap, v)) for k, v in votes.items()}
    return sum(capped.values()), capped


def _support(votes: dict[str, float], positive: bool) -> set[str]:
    """The kinds whose votes point the way the assignment went (positive: the first speaker is the operator)."""
    return {k for k, v in votes.items() if (v > 0) == positive and v != 0}


def _method(capped: dict[str, float], positive: bool) -> str:
    """The kind of evidence the assignment rests on."""
    support = _support(capped, positive)
    if any(k in LEXICAL_KINDS for k in support):
        return "script_cue"
    if "first_speaker" in support:
        return "direction"
    return "speaking_pattern" if support else "direction"


def assign_by_cues(turns: list[Turn], meta: CallMeta, config: Config, language: str,
                   duration_s: float, apart_by: str | None = None, unsure_share: float | None = None) -> Transcript:
    """Mono: `turns` carry diarization labels; map them to operator / client. `apart_by`: what told
    the voices apart (`processing.speakers.apart_by`; "pitch": the encoder heard one voice);
    `unsure_share`: the share of the speech on which the diarizer could hardly tell them apart
    (`processing.speakers.unsure_share`; None: not measured)."""
    labels: list[str] = []
    for t in sorted(turns, key=lambda t: t.start):
        if t.speaker not in labels and t.text.strip():
            labels.append(t.speaker)
    for t in sorted(turns, key=lambda t: t.start):
        if t.speaker not in labels:
            labels.append(t.speaker)
    ra = config.section("role_assignment")
    trust = word_trust(turns, *ra.word_trust)
    by_label = {lab: [t for t in turns if t.speaker == lab] for lab in labels}
    votes: dict[str, float] = {}
    total = 0.0
    operator_label: str | None = None
    if not labels:
        method, confidence = "direction", 0.5
    elif len(labels) == 1:
        raw = _trusted(_votes(by_label[labels[0]], [], True, meta, config, language), trust)
        total, votes = _combine({k: v * ra.single_speaker_scale for k, v in raw.items()}, ra.max_single_kind)
        operator_label = labels[0] if total >= 0 else None
        method, confidence = "single_speaker", 1.0 / (1.0 + math.exp(-abs(total)))
        said = [v for k, v in votes.items() if k in LEXICAL_KINDS and v]
        won = sum(abs(v) for v in said if (v > 0) == (total >= 0))
        lost = sum(abs(v) for v in said if (v > 0) != (total >= 0))
        if operator_label is not None:
            # One voice taken for the operator: an operator talking into a dead line, or two people the
            # speaker count could not tell apart (8 kHz voices 0.68-0.79 alike, like one voice's two halves),
            # in which case everything the client said would be scored as the operator's. Not knowable here.
            confidence = min(confidence, ONE_VOICE_OPERATOR)
        if lost and lost >= MERGED_SHARE * won:
            # One voice that also speaks as the other side, not just in passing (the client's problem in the
            # operator's voice): likely two people merged, so who is who is not known (role_uncertain), not a
            # confident guess. A weak cue against (a caller naming themself in a message) does not count.
            confidence = min(confidence, 0.5)
    else:
        # The two labels that speak most decide; any further label is a client.
        a, b = sorted(labels[:], key=lambda lab: (-sum(t.duration for t in by_label[lab]), labels.index(lab)))[:2]
        a, b = sorted((a, b), key=labels.index)
        total, votes = _combine(_trusted(_votes(by_label[a], by_label[b], True, meta, config, language), trust),
                                ra.max_single_kind)
        operator_label = a if total >= 0 else b
        method = _method(votes, total >= 0)
        confidence = 1.0 / (1.0 + math.exp(-abs(total)))
        if apart_by == "pitch" and not _a_dialogue(votes, total >= 0, ra.weights.get("questions", 0.0)):
            # Maybe one voice in two halves: the client's problem in one half does not make the other
            # half the operator. Without words showing two sides talking, who is who is not known.
            confidence = min(confidence, PITCH_SPLIT_UNCONFIRMED)
        speech = sum(t.duration for t in by_label[a] + by_label[b])
        if not _support(votes, total >= 0) & LEXICAL_KINDS and speech < ra.structure_min_speech_s:
            # Only the turn structure speaks, and on a few seconds it is one exchange: who spoke first,
            # asked and talked more is then a single event counted three times, on turns the diarizer
            # placed from a handful of windows (a client's "Is this the pharmacy?" glued to the
            # operator's "Hello" made the client the operator at 0.66). Not known.
            confidence = min(confidence, SHORT_STRUCTURE)
        if unsure_share is not None and unsure_share >= ra.max_unsure_share:
            # A fifth of the speech a toss-up between the voices: turns cut mid-sentence, each speaker holding
            # the other's words, so every kind of evidence is read off a mix of the two people (a GSM call's
            # first 0.9 s of greeting given to the client made the client the first speaker; its roles went
            # the wrong way at 0.67). Who is who is not known.
            confidence = min(confidence, VOICES_UNSURE)
    out = [replace(t, speaker=OPERATOR if t.speaker == operator_label else CLIENT) for t in turns]
    if meta.swap_roles:
        out = swap_speakers(out)
    return Transcript(turns=tuple(out), language=language, duration_s=duration_s,
                      role_confidence=confidence, role_method=method,
                      role_evidence=_evidence(votes, total >= 0 if labels else True))


def _a_dialogue(votes: dict[str, float], for_first: bool, questions_weight: float) -> bool:
    """Whether the words supporting the assignment show two sides talking, not one voice: questions
    one side asks and the other answers (clearly more by one side: a vote of at least
    `DIALOGUE_QUESTIONS_LEAN` of the kind's weight, `questions_weight`; one voice's halves both "ask" about
    as often), or phrases of each side said by that side (a self-introduction, which clients say too, is
    not the operator's)."""
    support = _support(votes, for_first)
    asks = "questions" in support and abs(votes["questions"]) >= DIALOGUE_QUESTIONS_LEAN * questions_weight > 0
    return asks or _both_sides(support)


def _both_sides(support: set[str]) -> bool:
    """Whether the kinds an assignment rests on hold each side's own phrases: an operator's phrase other than
    a self-introduction (which clients say too), and the client's problem."""
    return bool(support & DIALOGUE_OPERATOR_KINDS and support & set(CLIENT_KINDS))


def shows_both_sides(transcript: Transcript) -> bool:
    """Whether the roles of a two-speaker `transcript` rest on each side's own phrases said in that side's voice
    (`_both_sides` of its `role_evidence`, signed for the assignment made). Questions alone do not count here:
    a split of one voice's windows, or of two voices' mixed up, gives one half more of the questions by chance."""
    return _both_sides(_support(dict(transcript.role_evidence), True))


def _evidence(votes: dict[str, float], for_first: bool) -> tuple[tuple[str, float], ...]:
    """Votes as log-odds for the assignment made (negative: a kind that argued against it)."""
    sign = 1.0 if for_first else -1.0
    return tuple(sorted(((k, round(sign * v, 3)) for k, v in votes.items()), key=lambda kv: -abs(kv[1])))


def role_uncertainty(transcript: Transcript, config: Config) -> str | None:
    """Why the roles of this call cannot be trusted (`role_uncertain`), or None.
    Imported roles are never uncertain; a stereo channel map only where the words contradict it."""
    if transcript.role_method == "import" or transcript.role_confidence is None:
        return None
    if not transcript.turns:
        return None  # no speech: nothing is attributed to anyone
    # Speech without credible words (asr_no_words) still gives each voice its talk time: with
    # nothing said to tell the sides apart, whose time it is stays unknown, not the operator's.
    threshold = config.section("role_assignment").min_confidence
    if transcript.role_confidence >= threshold:
        return None
    if transcript.role_method == "channel_map":
        return (f"role_uncertain: what is said on this stereo call contradicts its channel map (the words give "
                f"the map {transcript.role_confidence:.3f} < role_assignment.min_confidence {threshold:g}); "
                f"check channel_map in the call's metadata or audio.default_channel_map")
    return (f"role_uncertain: operator and client could not be told apart on this call "
            f"(role confidence {transcript.role_confidence:.3f} < role_assignment.min_confidence {threshold:g})")
