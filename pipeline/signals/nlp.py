"""Tokenisation and lemmatisation per language, loaded once and cached.

What a language uses is data (``configs/languages.yaml``, `LangNLP`):

- ``tokenizer``: the spaCy language whose blank pipeline splits words and
  punctuation (``spacy.blank("ru")``; ``xx`` is spaCy's multi-language rules);
- ``lemmas``: ``pymorphy3`` (the normal form of pymorphy3's top parse of the
  lower-cased word; spaCy's own pymorphy3 mode without a tagger leaves many words
  unchanged), ``spacy_lookup`` (spaCy's lookup lemmatizer, tables from
  ``spacy-lookups-data``) or ``lowercase`` (the lower-cased word: a language with
  neither);
- ``lemma_overrides``: words whose lemma is given ("you're" -> you 're -> be).

Russian is spaCy ``ru`` + pymorphy3, English spaCy ``en`` + the lookup table. A
plain code (``"ru"``) means that language as ``configs/languages.yaml`` defines it;
the signals pass the `LangNLP` of the configuration they run under.

Everything is loaded on first use, never at import. Lemmas are cached per word.
Hyphenated words ("по-моему", "э-э", "e-mail") and redaction tags ("[PHONE]")
are kept as one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_TAG = re.compile(r"^[A-Z_]+$")
LEMMA_BACKENDS = ("pymorphy3", "spacy_lookup", "lowercase")


@dataclass(frozen=True, eq=False)
class LangNLP:
    """How one language is tokenised and lemmatised. Made by `lang_nlp` (one object per distinct
    definition, so it hashes and compares by identity: cheap as a cache key)."""

    code: str
    tokenizer: str
    lemmas: str
    overrides: tuple[tuple[str, str], ...] = ()
    letters: str = ""

    def __repr__(self) -> str:
        return f"LangNLP({self.code!r}, {self.tokenizer!r}+{self.lemmas})"


@lru_cache(maxsize=None)
def lang_nlp(code: str, tokenizer: str, lemmas: str, overrides: tuple[tuple[str, str], ...] = (),
             letters: str = "") -> LangNLP:
    """The one `LangNLP` for this definition."""
    if lemmas not in LEMMA_BACKENDS:
        raise ValueError(f"{code}: lemmas must be one of {', '.join(LEMMA_BACKENDS)}, got {lemmas!r}")
    return LangNLP(code, tokenizer, lemmas, tuple(overrides), letters)


def from_definition(code: str, d: Any) -> LangNLP:
    """`LangNLP` of a `languages.known` entry (pipeline/settings.py `LanguageDef`)."""
    return lang_nlp(code, d.tokenizer, d.lemmas, tuple(sorted((normalise(k), normalise(v))
                                                               for k, v in d.lemma_overrides.items())),
                    normalise(d.letters))


def for_config(config: Any, code: str) -> LangNLP:
    """The language `code` as `config` defines it (ValueError when it does not)."""
    known = config.section("languages").known
    if code not in known:
        raise ValueError(f"no language {code!r} in languages.known (known: {', '.join(known)})")
    return from_definition(code, known[code])


@lru_cache(maxsize=1)
def _defaults() -> dict[str, LangNLP]:
    """The languages of the project's own configs/languages.yaml (for a plain code)."""
    import yaml

    from callqa.pipeline.config import default_config_dir
    from callqa.pipeline.settings import LanguagesConfig

    data = yaml.safe_load((default_config_dir() / "languages.yaml").read_text(encoding="utf-8")) or {}
    langs = LanguagesConfig.model_validate(data)
    return {code: from_definition(code, d) for code, d in langs.known.items()}


def resolve(lang: "str | LangNLP") -> LangNLP:
    """A `LangNLP` as is; a plain code as configs/languages.yaml defines it."""
    if isinstance(lang, LangNLP):
        return lang
    spec = _defaults().get(lang)
    if spec is None:
        raise ValueError(f"no language pipeline for {lang!r} (supported: {', '.join(_defaults())}; "
                         "add it to configs/languages.yaml)")
    return spec


# kept for callers that ask which codes the project's own configuration knows
def supported() -> tuple[str, ...]:
    return tuple(_defaults())


@dataclass(frozen=True)
class Token:
    """One token of a text: surface form, normalised form, lemma and character offset."""

    text: str
    norm: str  # lower-case, "ё" -> "е"
    lemma: str
    idx: int  # character offset in the analysed text
    is_word: bool  # letters or digits (not punctuation)
    space_after: bool


@lru_cache(maxsize=None)
def _blank(tokenizer: str, lookup: bool) -> Any:
    import spacy

    nlp = spacy.blank(tokenizer)
    if lookup:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    return nlp


def load_spacy(lang: "str | LangNLP") -> Any:
    """spaCy's blank pipeline for `lang` (with the lookup lemmatizer when the language lemmatises
    by lookup); one per (tokenizer, lemmatizer)."""
    spec = resolve(lang)
    return _blank(spec.tokenizer, spec.lemmas == "spacy_lookup")


@lru_cache(maxsize=None)
def load_morph(code: str = "ru") -> Any:
    """pymorphy3's analyser for `code` (dictionaries from pymorphy3-dicts-<code>)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=code)


@lru_cache(maxsize=None)
def _lookup_table(spec: LangNLP) -> Any:
    return load_spacy(spec).get_pipe("lemmatizer").lookups.get_table("lemma_lookup")


def lookup_table(lang: "str | LangNLP") -> Any:
    """spaCy's lemma lookup table of a `spacy_lookup` language (inflected form -> lemma)."""
    return _lookup_table(resolve(lang))


@lru_cache(maxsize=None)
def _letters_re(letters: str) -> Any:
    return re.compile("[" + re.escape(letters) + "]") if letters else None


@lru_cache(maxsize=200_000)
def normalise(word: str) -> str:
    """Lower case, "ё" -> "е"."""
    return word.lower().replace("ё", "е")


@lru_cache(maxsize=200_000)
def lemma(word: str, lang: "str | LangNLP") -> str:
    """Lemma of one word (any case); cached per word."""
    norm = normalise(word)
    if not norm or not any(c.isalpha() for c in norm):
        return norm
    spec = resolve(lang)
    if spec.overrides:
        over = dict(spec.overrides).get(norm)
        if over:
            return over
    if spec.lemmas == "pymorphy3":
        rx = _letters_re(spec.letters)
        if rx is not None and not rx.search(norm):
            return norm  # a word in another alphabet ("email" in Russian text) stays as written
        parses = load_morph(spec.code).parse(norm)
        return normalise(parses[0].normal_form) if parses else norm
    if spec.lemmas == "spacy_lookup":
        return _lookup_table(spec).get(norm, norm)
    return norm


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
def analyze_chunk(chunk: str, lang: "str | LangNLP") -> tuple[Token, ...]:
    """Tokens of one whitespace-free chunk (offsets within it); cached per chunk.

    spaCy's tokenizer splits on whitespace first and treats each chunk on its own
    (and caches per chunk itself), so analysing chunk by chunk gives the same tokens
    without building a Doc for every text.
    """
    doc = load_spacy(lang).tokenizer(chunk)
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


def iter_tokens(text: str, lang: "str | LangNLP"):
    """(token, character offset in `text`) for every token of `text`."""
    for m in CHUNK.finditer(text):
        base = m.start()
        for tok in analyze_chunk(m.group(), lang):
            yield tok, base + tok.idx


def tokenize(text: str, lang: "str | LangNLP") -> list[tuple[str, int, bool]]:
    """(surface, character offset, followed by whitespace) for each token of `text`."""
    out = []
    for tok, idx in iter_tokens(text, lang):
        out.append((tok.text, idx, tok.space_after or text[idx + len(tok.text):idx + len(tok.text) + 1].isspace()))
    return out


def tokenize_many(texts: list[str], lang: "str | LangNLP") -> list[list[tuple[str, int, bool]]]:
    """`tokenize` for each of `texts`."""
    return [tokenize(t, lang) for t in texts]


def analyze(text: str, lang: "str | LangNLP") -> list[Token]:
    """Tokens of `text` with normalised forms and lemmas (offsets into `text`)."""
    return [Token(t.text, t.norm, t.lemma, idx, t.is_word, t.space_after) for t, idx in iter_tokens(text, lang)]


def lemmatize_phrase(text: str, lang: "str | LangNLP") -> list[str]:
    """Lemmas of the word tokens of a phrase (for comparing phrases across word forms)."""
    return [t.lemma for t in analyze(text, lang) if t.is_word]


def describe(lang: "str | LangNLP") -> str:
    """Which pipeline analyses `lang` (recorded in results)."""
    import spacy

    spec = resolve(lang)
    if spec.lemmas == "pymorphy3":
        import pymorphy3

        return f"spacy-{spacy.__version__}-{spec.tokenizer}+pymorphy3-{getattr(pymorphy3, '__version__', '?')}"
    return f"spacy-{spacy.__version__}-{spec.tokenizer}+{'lookup' if spec.lemmas == 'spacy_lookup' else 'lowercase'}"
