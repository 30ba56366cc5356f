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


CHUNK = re.compile(r"\S+")  # spaCy splits on whitespace first


@lru_cache(maxsize=400_000)
def analyze_chunk(chunk: str, lang: str) -> tuple[Token, ...]:
    """Tokens of one whitespace-free chunk (offsets within it); cached per chunk.

    spaCy's tokenizer splits on whitespace first and treats each chunk on its own
    (and caches per chunk itself), so analysing chunk by chunk gives the same tokens
    without building a Doc for every text.
    """
    doc = load_spacy(_check(lang)).tokenizer(chunk)
    raw = [(t.text, t.idx, bool(t.whitespace_)) for t in doc]
    if any(t[0] in ("-", "‐", "‑", "[") for t in raw):
        raw = _merge(raw)
    out = []
    for surface, idx, sp in raw:
        norm = normalise(surface)
        is_word = any(c.isalnum() for c in norm)
        if is_word and len(norm) > 1 and norm.endswith("."):  # abbreviations: "Mr." ~ "mr"
            norm = norm.rstrip(".")
        out.append(Token(surface, norm, lemma(norm, lang) if is_word else norm, idx, is_word, sp))
    return tuple(out)


def iter_tokens(text: str, lang: str):
    """(token, character offset in `text`) for every token of `text`."""
    for m in CHUNK.finditer(text):
        base = m.start()
        for tok in analyze_chunk(m.group(), lang):
            yield tok, base + tok.idx


def tokenize(text: str, lang: str) -> list[tuple[str, int, bool]]:
    """(surface, character offset, followed by whitespace) for each token of `text`."""
    out = []
    for tok, idx in iter_tokens(text, lang):
        out.append((tok.text, idx, tok.space_after or text[idx + len(tok.text):idx + len(tok.text) + 1].isspace()))
    return out


def tokenize_many(texts: list[str], lang: str) -> list[list[tuple[str, int, bool]]]:
    """`tokenize` for each of `texts`."""
    return [tokenize(t, lang) for t in texts]


def analyze(text: str, lang: str) -> list[Token]:
    """Tokens of `text` with normalised forms and lemmas (offsets into `text`)."""
    return [Token(t.text, t.norm, t.lemma, idx, t.is_word, t.space_after) for t, idx in iter_tokens(text, lang)]


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
