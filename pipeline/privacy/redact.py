"""Personal data out of transcripts: phone numbers, bank cards (Luhn-checked),
e-mails, Russian passport numbers and digit sequences spoken as words are
replaced by tags (``[PHONE]``, ``[CARD]``, ...; configs/privacy.yaml).

Word times are kept: the words that made up a number become one tag word
spanning their times, so evidence still points at the right moment, and
lexicon patterns still see a number where one was said ("номер заявки
[NUMBER]" is still a commitment).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable

from callqa.pipeline.config import Config
from callqa.pipeline.signals.settings import PrivacyConfig
from callqa.pipeline.types import Transcript, Turn, Word

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", re.UNICODE)
_TOKEN = re.compile(r"\S+")
_EDGE = "\"'«»„“”()[]{}<>.,;:!?…"
_WRITTEN = re.compile(r"^\+?[\d()\-]*\d[\d()\-]*$")  # digits with phone punctuation, no '.' or ':'


@dataclass(frozen=True)
class _Rules:
    opts: PrivacyConfig
    number_words: dict[str, int]
    passport_context: frozenset[str]
    spoken_email: re.Pattern[str] | None


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that bank card numbers carry."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _norm(word: str) -> str:
    return word.lower().replace("ё", "е")


def _rules(config: Config) -> _Rules:
    return _rules_cached(_Key(config))


class _Key:
    def __init__(self, config: Config):
        self.config = config

    def __hash__(self) -> int:
        return hash(self.config.hash)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.config.hash == self.config.hash


@lru_cache(maxsize=8)
def _rules_cached(key: _Key) -> _Rules:
    config = key.config
    opts: PrivacyConfig = config.section("privacy")
    words: dict[str, int] = {}
    context: set[str] = set()
    at: set[str] = set()
    dot: set[str] = set()
    for lang in (config.get("lexicons", {}) or {}):
        tokens = config.section(f"lexicons.{lang}").tokens
        words.update({_norm(k): v for k, v in tokens.number_words.items()})
        context.update(_norm(w) for w in tokens.passport_context)
        at.update(_norm(w) for w in tokens.email_at)
        dot.update(_norm(w) for w in tokens.email_dot)
    spoken = None
    if at and dot:
        alt = lambda ws: "|".join(re.escape(w) for w in sorted(ws, key=len, reverse=True))  # noqa: E731
        a, d = alt(at), alt(dot)
        spoken = re.compile(rf"(?<!\w)[\w\-]+(?:\s+(?:{d})\s+[\w\-]+)*\s+(?:{a})\s+[\w\-]+"
                            rf"(?:\s+(?:{d})\s+[\w\-]+)*\s+(?:{d})\s+[^\W\d_]{{2,}}(?!\w)", re.IGNORECASE | re.UNICODE)
    return _Rules(opts, words, frozenset(context), spoken)


def _number_value(core: str, rules: _Rules) -> tuple[str, int] | None:
    """('written' | 'spoken', digits it stands for) when a token is part of a number."""
    if _WRITTEN.match(core):
        return "written", sum(c.isdigit() for c in core)
    n = _norm(core)
    if n in rules.number_words:
        return "spoken", rules.number_words[n]
    if "-" in n and all(p in rules.number_words for p in n.split("-") if p):  # "twenty-four"
        return "spoken", sum(rules.number_words[p] for p in n.split("-") if p)
    return None


def find_pii(text: str, rules: _Rules) -> list[tuple[int, int, str]]:
    """(start, end, kind) character spans of personal data in `text`, not overlapping."""
    kinds = set(rules.opts.kinds)
    spans: list[tuple[int, int, str]] = []
    taken = [False] * (len(text) + 1)

    def add(a: int, b: int, kind: str) -> None:
        if any(taken[a:b]):
            return
        spans.append((a, b, kind))
        for k in range(a, b):
            taken[k] = True

    if "email" in kinds:
        for m in _EMAIL.finditer(text):
            add(m.start(), m.end(), "email")
        if rules.spoken_email is not None:
            for m in rules.spoken_email.finditer(text):
                add(m.start(), m.end(), "email")
    # tokens with their cores (edge punctuation stripped)
    toks: list[tuple[int, int, str]] = []
    for m in _TOKEN.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a] in _EDGE and not (text[a] in "(+" and b - a > 1 and text[a + 1].isdigit()):
            a += 1
        while b > a and text[b - 1] in _EDGE and not (text[b - 1] == ")" and "(" in text[a:b]):
            b -= 1
        if a < b:
            toks.append((a, b, text[a:b]))
    i = 0
    while i < len(toks):
        v = _number_value(toks[i][2], rules)
        if v is None or toks[i][2] == "-":
            i += 1
            continue
        j = i
        parts = [v]
        while j + 1 < len(toks):
            gap = text[toks[j][1]:toks[j + 1][0]]
            if gap.strip(" ,-–") != "":  # another word or a sentence end between: the run stops
                break
            nv = _number_value(toks[j + 1][2], rules)
            if nv is None:
                break
            parts.append(nv)
            j += 1
        _classify(text, toks, i, j, parts, rules, kinds, add)
        i = j + 1
    spans.sort()
    return spans


def _classify(text: str, toks: list, i: int, j: int, parts: list[tuple[str, int]], rules: _Rules, kinds: set[str],
              add) -> None:
    a, b = toks[i][0], toks[j][1]
    n_tokens = j - i + 1
    written = all(k == "written" for k, _ in parts)
    digits = "".join(c for c in text[a:b] if c.isdigit()) if written else ""
    total = sum(d for _, d in parts)
    before = [_norm(t[2]) for t in toks[max(0, i - 4):i]]
    context = any(w.startswith(c[:-1] if len(c) >= 5 else c) for w in before for c in rules.passport_context)
    if written and "card" in kinds and 13 <= len(digits) <= 19 and luhn_ok(digits):
        add(a, b, "card")
    elif "passport" in kinds and ((context and total >= 4) or (
            written and re.fullmatch(r"\d{2}\s?\d{2}\s+\d{6}", text[a:b]) is not None)):
        add(a, b, "passport")
    elif "phone" in kinds and (10 <= total <= 15 or (written and re.fullmatch(r"\d{3}-\d{2}-\d{2}", text[a:b]))
                               or (written and text[a:b].startswith("+") and total >= 7)):
        add(a, b, "phone")
    elif written and total >= rules.opts.number_min_digits and "number" in kinds:
        add(a, b, "number")
    elif n_tokens >= rules.opts.spoken_min_words and ("spoken_digits" in kinds or "number" in kinds):
        add(a, b, "number")


def redact_text(text: str, config: Config) -> str:
    """`text` with personal data replaced by tags."""
    return _apply(text, find_pii(text, _rules(config)), _rules(config).opts)


def _apply(text: str, spans: Iterable[tuple[int, int, str]], opts: PrivacyConfig) -> str:
    out, pos = [], 0
    for a, b, kind in spans:
        out.append(text[pos:a])
        out.append(opts.tags[kind if kind in opts.tags else "number"])
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _redact_words(words: tuple[Word, ...], rules: _Rules) -> tuple[Word, ...]:
    kept = [w for w in words]
    parts, offsets, pos = [], [], 0
    for w in kept:
        s = w.text.strip()
        parts.append(s)
        offsets.append((pos, pos + len(s)))
        pos += len(s) + 1
    joined = " ".join(parts)
    spans = find_pii(joined, rules)
    if not spans:
        return words
    out: list[Word] = []
    k = 0
    for a, b, kind in spans:
        # words overlapping [a, b)
        first = next(i for i, (s, e) in enumerate(offsets) if e > a)
        last = max(i for i, (s, e) in enumerate(offsets) if s < b)
        out.extend(kept[k:first])
        fs, _ = offsets[first]
        _, le = offsets[last]
        prefix = joined[fs:a] if a > fs else ""
        suffix = joined[b:le] if le > b else ""
        tag = rules.opts.tags[kind if kind in rules.opts.tags else "number"]
        lead = kept[first].text[: len(kept[first].text) - len(kept[first].text.lstrip())]
        out.append(Word(lead + prefix + tag + suffix, kept[first].start, kept[last].end,
                        min(w.probability for w in kept[first:last + 1])))
        k = last + 1
    out.extend(kept[k:])
    return tuple(out)


def redact_turn(turn: Turn, config: Config) -> Turn:
    rules = _rules(config)
    text = _apply(turn.text, find_pii(turn.text, rules), rules.opts)
    words = _redact_words(turn.words, rules) if turn.words else turn.words
    if text == turn.text and words is turn.words:
        return turn
    return replace(turn, text=text, words=words)


def redact_transcript(transcript: Transcript, config: Config) -> Transcript:
    """A copy of `transcript` with personal data replaced by tags (times kept)."""
    turns = tuple(redact_turn(t, config) for t in transcript.turns)
    if all(a is b for a, b in zip(turns, transcript.turns)):
        return transcript
    return replace(transcript, turns=turns)


def _tag_kinds(opts: PrivacyConfig) -> dict[str, str]:
    return {tag: kind for kind, tag in opts.tags.items()}


def redaction_spans(transcript: Transcript, config: Config) -> list[dict]:
    """[{start, end, speaker, channel, kind}] for every redacted word: the audio to mute."""
    opts = _rules(config).opts
    tags = _tag_kinds(opts)
    out: list[dict] = []
    for turn in transcript.turns:
        for w in turn.words:
            for tag, kind in tags.items():
                if tag in w.text:
                    out.append({"start": round(w.start, 3), "end": round(w.end, 3), "speaker": turn.speaker,
                                "channel": getattr(turn, "channel", None), "kind": kind})
                    break
    return out


def redact_processing(processing: dict, config: Config) -> list[dict]:
    """Redact (or drop, per `dropped_text`) the text the ASR guard removed, in place;
    returns the spans of dropped speech that held personal data (or all, when dropped)."""
    rules = _rules(config)
    spans: list[dict] = []
    kept = []
    for d in processing.get("asr_dropped") or []:
        d = dict(d)
        text = str(d.get("text") or "")
        found = find_pii(text, rules)
        if rules.opts.dropped_text == "drop":
            d.pop("text", None)
            d.pop("words", None)
            if text.strip():
                spans.append({"start": d.get("start"), "end": d.get("end"), "channel": d.get("channel"),
                              "kind": "dropped"})
        else:
            d["text"] = _apply(text, found, rules.opts)
            if "words" in d:
                d["words"] = [{**w, "text": redact_text(str(w.get("text", "")), config)} for w in d["words"]]
            if found:
                spans.append({"start": d.get("start"), "end": d.get("end"), "channel": d.get("channel"),
                              "kind": found[0][2]})
        kept.append(d)
    if "asr_dropped" in processing:
        processing["asr_dropped"] = kept
    return spans


_DIGIT = re.compile(r"\d")


def mask_call_id(call_id: str, config: Config) -> str:
    """`call_id` as shown and exported: one that holds a phone number has its digits
    masked but the last two ("+*********67"); the stored key does not change."""
    opts = _rules(config).opts
    if not opts.mask_call_ids or len(_DIGIT.findall(call_id)) < opts.call_id_min_digits:
        return call_id
    n = len(_DIGIT.findall(call_id))
    seen = 0
    out = []
    for ch in call_id:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > n - 2 else "*")
        else:
            out.append(ch)
    text = "".join(out)
    return redact_text(text, config)


def public_result(result: dict, config: Config) -> dict:
    """A stored result as it may leave the server (API, export): no server path, call id
    masked, dropped ASR text redacted (results stored before redaction held it raw)."""
    result = dict(result)
    if isinstance(result.get("source"), dict):
        result["source"] = {k: v for k, v in result["source"].items() if k != "path"}
    if "call_id" in result:
        result["call_id"] = mask_call_id(str(result["call_id"]), config)
    if isinstance(result.get("processing"), dict):
        processing = dict(result["processing"])
        redact_processing(processing, config)
        result["processing"] = processing
    return result


CALL_KEY_PREFIX = "c-"


def call_key(call_id: str, config: Config, secret: str | None) -> str:
    """The key a call goes by in URLs, forms and digest links: the id itself, unless it would be
    masked (a phone number, configs/privacy.yaml); then `c-` + 24 letters of an HMAC of the id under
    the store's web secret, which reveals nothing and stays the same across restarts."""
    call_id = str(call_id)
    if mask_call_id(call_id, config) == call_id and not call_id.startswith(CALL_KEY_PREFIX):
        return call_id
    if not secret:
        raise ValueError("a masked call id needs the store's web secret for its key")
    digest = hmac.new(secret.encode("utf-8"), b"call-key\x1f" + call_id.encode("utf-8"), hashlib.sha256).digest()
    # letters only (a..p per 4 bits): no digit run in a URL that a scanner could take for a phone number
    return CALL_KEY_PREFIX + "".join(chr(97 + (b >> 4)) + chr(97 + (b & 15)) for b in digest[:12])
