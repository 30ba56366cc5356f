"""Tokenisation and lemmatisation for Russian and English, loaded once and cached.

- ``ru``: spaCy's Russian tokenizer (``spacy.blank("ru")``) and, as lemma, the
  normal form of pymorphy3's top parse of the lower-cased word (spaCy's own
  pymorphy3 mode without a tagger leaves many words unchanged).
- ``en``: ``spacy.blank("en")`` with the lookup lemmatizer whose table ships in
  ``spacy-lookups-data``.

Both are loaded on first use, never at import. Lemmas are cached per word.
Hyphenated words ("по-моему", "э-э", "e-mail") and redaction tags ("[PHONE]")
are kept as one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SUPPORTED = ("ru", "en")
# English clitics the lookup table leaves alone ("you're" -> you 're): their lemmas.
_EN_CLITICS = {"'re": "be", "'m": "be", "'s": "be", "’s": "be", "’re": "be", "’m": "be", "ca": "can", "wo": "will", "sha": "shall",
               "’ll": "will", "’ve": "have", "’d": "would", "n’t": "not"}
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_TAG = re.compile(r"^[A-Z_]+$")


@dataclass(frozen=True)
class Token:
    """One token of a text: surface form, normalised form, lemma and character offset."""

    text: str
    norm: str  # lower-case, "ё" -> "е"
    lemma: str
    idx: int  # character offset in the analysed text
    is_word: bool  # letters or digits (not punctuation)
    space_after: bool


def _check(lang: str) -> str:
    if lang not in SUPPORTED:
        raise ValueError(f"no language pipeline for {lang!r} (supported: {', '.join(SUPPORTED)})")
    return lang


@lru_cache(maxsize=None)
def load_spacy(lang: str) -> Any:
    """spaCy's blank pipeline for `lang` (the English one with the lookup lemmatizer)."""
    import spacy

    nlp = spacy.blank(_check(lang))
    if lang == "en":
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    return nlp


@lru_cache(maxsize=1)
def load_morph() -> Any:
    """pymorphy3's Russian analyser (dictionaries from pymorphy3-dicts-ru)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=1)
def _en_table() -> Any:
    return load_spacy("en").get_pipe("lemmatizer").lookups.get_table("lemma_lookup")


@lru_cache(maxsize=200_000)
def normalise(word: str) -> str:
    """Lower case, "ё" -> "е"."""
    return word.lower().replace("ё", "е")


@lru_cache(maxsize=200_000)
def lemma(word: str, lang: str) -> str:
    """Lemma of one word (any case); cached per word."""
    norm = normalise(word)
    if not norm or not any(c.isalpha() for c in norm):
        return norm
    if lang == "ru":
        if not _CYRILLIC.search(norm):
            return norm
        parses = load_morph().parse(norm)
        return normalise(parses[0].normal_form) if parses else norm
    if lang == "en":
        return _EN_CLITICS.get(norm) or _en_table().get(norm, norm)
    raise ValueError(f"no lemmatizer for {lang!r}")


def _merge(raw: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """Join letter-hyphen-letter ("по-моему") and "[TAG]" sequences that spaCy splits."""
    out: list[tuple[str, int, bool]] = []
    i, n = 0, len(raw)
    while i < n:
        text, idx, sp = raw[i]
        if (text == "[" and not sp and i + 2 < n and _TAG.match(raw[i + 1][0]) and not raw[i + 1][2]
                and raw[i + 2][0] == "]"):
            out.append(("[" + raw[i + 1][0] + "]", idx, raw[i + 2][2]))
            i += 3
            continue
        # letters - letters (- letters ...)
        while (not sp and i + 2 < n and raw[i + 1][0] in ("-", "‐", "‑") and not raw[i + 1][2]
               and text[-1:].isalpha() and raw[i + 2][0][:1].isalpha()):
            text = text + "-" + raw[i + 2][0]
            sp = raw[i + 2][2]
            i += 2
        out.append((text, idx, sp))
        i += 1
    return out


def tokenize(text: str, lang: str) -> list[tuple[str, int, bool]]:
    """(surface, character offset, followed by whitespace) for each token of `text`."""
    doc = load_spacy(_check(lang)).tokenizer(text)
    raw = [(t.text, t.idx, bool(t.whitespace_)) for t in doc]
    if any(t[0] in ("-", "‐", "‑", "[") for t in raw):
        raw = _merge(raw)
    return raw


def tokenize_many(texts: list[str], lang: str) -> list[list[tuple[str, int, bool]]]:
    """`tokenize` for many texts in one tokenizer call (offsets relative to each text)."""
    if len(texts) <= 1:
        return [tokenize(t, lang) for t in texts]
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    out: list[list[tuple[str, int, bool]]] = [[] for _ in texts]
    k = 0
    for surface, idx, sp in tokenize(" ".join(texts), lang):
        if surface.isspace():
            continue
        while k + 1 < len(starts) and idx >= starts[k + 1]:
            k += 1
        out[k].append((surface, idx - starts[k], sp))
    return out


def analyze(text: str, lang: str) -> list[Token]:
    """Tokens of `text` with normalised forms and lemmas."""
    out = []
    for surface, idx, sp in tokenize(text, lang):
        norm = normalise(surface)
        is_word = any(c.isalnum() for c in surface)
        out.append(Token(surface, norm, lemma(surface, lang) if is_word else norm, idx, is_word, sp))
    return out


def lemmatize_phrase(text: str, lang: str) -> list[str]:
    """Lemmas of the word tokens of a phrase (for comparing phrases across word forms)."""
    return [t.lemma for t in analyze(text, lang) if t.is_word]


def describe(lang: str) -> str:
    """Which pipeline analyses `lang` (recorded in results)."""
    import spacy

    if lang == "ru":
        import pymorphy3

        return f"spacy-{spacy.__version__}-ru+pymorphy3-{getattr(pymorphy3, '__version__', '?')}"
    return f"spacy-{spacy.__version__}-en+lookup"
