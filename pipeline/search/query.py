"""The search query language and a single-call evaluator.

Syntax (README "Search" documents it for users)::

    пожаловаться                 a word: any of its forms, and its word family
                                 (пожалуюсь, жалобу; cancel -> cancelled)
    "хочу пожаловаться"          a phrase: these words in this order, any word forms;
                                 a quoted single word matches its own forms only
    тариф NEAR/5 отключить       both within 5 words of each other (either order) in one turn;
                                 NEAR alone means NEAR/10
    a b  /  a AND b              both in the call (in any turns)
    a OR b                       either
    NOT a                        the call does not contain a
    ( ... )                      grouping; NOT binds tightest, then NEAR, then AND, then OR
    operator:word  client:(...)  said by the operator / by the client
    first:30s(...)  last:2m(...) in a turn that starts in the first 30 s / ends in the last 2 min
    client:first:60s(...)        scopes combine
    team:blue  operator_id:op-7  lang:ru  flag:escalation  category:churn
    from:2026-11-01  to:2026-11-30                    filters on the call (top level only;
                                                      team:blue,red means either)

Operators are upper case (`and`, `or`, `not`, `и`, `или` are words).

Word matching (one "key" per word, the same on the query and the transcript side):

- Words are tokenised and lemmatised by their language's pipeline as configs/languages.yaml
  defines it (`languages`: `nlp.for_config` of each language; a third language needs no
  code): a call's words by the call's language (a word without its letters by the first
  language whose letters it has, so "cancelled" in a Russian call is English), a query word
  by every language whose letters it has (`lang:xx` narrows that). So "пожалуюсь" ->
  "пожаловаться" (pymorphy3), "cancelled" -> "cancel" (spaCy's lookup table).
- For a pymorphy3 language a verb reading wins over pymorphy3's top parse when the verb
  readings score at least as high as any other lemma (`search_lemma`): "закрою" is закрыть,
  not the noun "закрой"; "мой", "мою", "стали" (стать), "дело", "жаль" keep their reading.
- A bare Russian word also matches its **word family**: the verb and the noun made from
  it share a stem (`family`): the lemma loses its reflexive particle, infinitive ending and
  stem suffix (-ова-/-ева-/-ыва-/-ива-/-и-/-а-), a noun its ending and deverbal suffix
  (-ение/-ание/-ние/-оба/-ьба, -а/-я/-ь/-й; not a neuter -о/-е: "дело" stays apart), and a perfective verb its prefix "по-" when the verb without
  it is an imperfective verb in the dictionary (for a three-letter stem only on a reflexive
  verb: показать stays apart from казаться). So "пожаловаться", "жаловаться" and "жалоба"
  all stem to "жал", "отменить" and "отмена" to "отмен", "решить" and "решение" to "реш".
  Plain lemmas cannot do this (пожаловаться and жалоба are different lemmas) and a plain
  Snowball stemmer cannot either ("пожалова" vs "жалоб"). Stems shorter than three letters
  fall back to the lemma (so "помочь" never finds "мочь"/"могу"). Quote a word to switch the
  family off ("пожаловаться" finds only пожалуюсь, пожаловался, ...). Known merge left:
  делать / делить (both stem to "дел").

`match_call(query, call)` evaluates a query on one stored (redacted) call result and
returns its hits; `callqa.pipeline.search.index` uses the same evaluator on the calls its
index finds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from callqa.pipeline.signals import nlp
from callqa.pipeline.types import joined

DEFAULT_NEAR = 10
MAX_NEAR = 100
SPEAKERS = ("operator", "client")
WINDOWS = ("first", "last")
# filter key -> canonical name
FILTER_KEYS = {"team": "team", "operator_id": "operator_id", "agent": "operator_id", "lang": "language",
               "language": "language", "flag": "flag", "category": "category", "from": "from", "to": "to"}
QUOTE_CONTEXT = 60  # characters of context each side of a highlighted span in a quote

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_NEAR = re.compile(r"^NEAR(?:/(\d+))?$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|sec|m|min)?$", re.IGNORECASE)
_KEY = re.compile(r"^([A-Za-z_]+):(.*)$", re.DOTALL)


# English messages of the syntax errors, by code; the web app shows `search.errors.<code>` of
# configs/ui/<lang>.yaml (the same {placeholders}), the CLI these.
MESSAGES = {
    "unclosed_quote": "unclosed quote: a phrase needs a closing \"",
    "near_range": "NEAR/n needs a distance from 1 to {max} words",
    "near_number": "NEAR/n needs a whole number of words, e.g. NEAR/5",
    "window_duration": "{field} needs a duration such as {field}30s or {field}2m, then a word, phrase or (group)",
    "unknown_field": "unknown field {field} (speaker: operator: client:; time: first:30s last:2m; filters: {filters})",
    "filter_placement": "filters apply to the whole call: write {field} beside the search (not inside (...), "
                        "after NOT, a scope, AND, OR or NEAR, or before AND, OR or NEAR)",
    "unmatched_close": "unmatched ')': no '(' opens it",
    "unexpected": "unexpected {found}",
    "missing_after": "{op} needs a word, phrase or (group) after it, found {found}",
    "missing_after_end": "{op} needs a word, phrase or (group) after it, found the end of the query",
    "missing_before": "{op} needs a word, phrase or (group) before it",
    "unmatched_or_empty": "unmatched ')' or empty group '()'",
    "expected_term": "expected a word, phrase or (group), found {found}",
    "expected_term_end": "expected a word, phrase or (group), found the end of the query",
    "near_operands": "{op} joins two words or \"phrases\" (not groups, scopes or filters)",
    "empty_group": "empty group '()'",
    "unclosed_group": "unclosed '(': add ')'",
    "scope_operand": "{field} needs a word, phrase or (group) right after it, e.g. {field}(...)",
    "empty_phrase": "empty phrase: put words between the quotes",
    "filter_value": "{field} needs a value, e.g. {field}{example}",
    "filter_one_date": "{field} takes one date",
    "filter_date": "{field} needs a date as YYYY-MM-DD, got '{value}'",
    "filter_twice": "{field} is given twice",
    "empty_query": "empty query: type a word or a \"phrase\"",
    "nothing_to_find": "nothing to find: add a word or \"phrase\" that is not under NOT, or a filter such as "
                       "category:churn_threat (NOT only narrows a search, and each side of OR needs a word)",
    "from_after_to": "from: is after to:",
    "category_words": "a category needs a word or \"phrase\" to find (not under NOT): its evidence is the "
                      "moments where it is said; filters alone only narrow it",
    "too_deep": "the query nests too deeply: at most {max} levels of (...), NOT and scopes",
}
MAX_NESTING = 100  # levels of (...), NOT and scopes: the parser and the evaluator recurse per level


def render_message(code: str, params: Mapping[str, Any], template: str | None = None) -> str:
    """A syntax error's message from `template` (a UI string with {placeholders}), else English."""
    for text in (template, MESSAGES.get(code)):
        if text:
            try:
                return text.format(**params)
            except (KeyError, IndexError, ValueError):
                continue
    return code


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed: `.code` names the problem (a key of `MESSAGES`, and of
    `search.errors` in configs/ui/<lang>.yaml), `.params` fills its placeholders, `.position`
    is the 0-based character offset of the problem, `.message` the English explanation;
    `str()` shows the query with a caret under it."""

    def __init__(self, code: str, query: str, position: int, **params: Any):
        self.code = code
        self.params = {k: str(v) for k, v in params.items()}
        self.message = render_message(code, self.params)
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(f"{self.message} (at column {self.position + 1})\n  {query}\n  {' ' * self.position}^")

    def localized(self, template: str | None) -> str:
        """The message in another language: `template` is its UI string (None: English)."""
        return render_message(self.code, self.params, template)


# ---------------------------------------------------------------- languages

Langs = tuple  # of nlp.LangNLP, in the order of languages.known


@lru_cache(maxsize=1)
def _default_langs() -> Langs:
    return tuple(nlp.resolve(code) for code in nlp.supported())


def languages(config: Any = None) -> Langs:
    """The language pipelines search uses (`nlp.for_config` of each `languages.known` entry):
    those of `config` (a Config, a `--config` file, or already such a tuple); the project's
    configs/languages.yaml when None."""
    if config is None:
        return _default_langs()
    if isinstance(config, tuple):
        return config
    if isinstance(config, (str, Path)):
        from callqa.pipeline.config import load_config

        config = load_config(config)
    return tuple(nlp.for_config(config, code) for code in config.section("languages").known)


def languages_fingerprint(langs: Langs) -> str:
    """What the index's word keys depend on: the languages' definitions and the key rules."""
    import hashlib

    text = json.dumps([[s.code, s.tokenizer, s.lemmas, list(s.overrides), s.letters] for s in langs]
                      + [KEY_RULES], ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=None)
def _letter_set(spec: nlp.LangNLP) -> frozenset[str]:
    return frozenset(spec.letters)


def _uses(word: str, spec: nlp.LangNLP) -> bool:
    """Whether `word` has letters of the language (a language without `letters` takes any word)."""
    letters = _letter_set(spec)
    return not letters or any(c in letters for c in word)


def _call_language(lang: "str | nlp.LangNLP | None", langs: Langs, text: str = "") -> nlp.LangNLP:
    """The pipeline of a call's language; a language not configured: the one whose letters the
    text has most of (ties: the first listed), as the signals guess it."""
    if isinstance(lang, nlp.LangNLP):
        return lang
    for spec in langs:
        if spec.code == lang:
            return spec
    low = nlp.normalise(text)
    return max(langs, key=lambda s: sum(c in _letter_set(s) for c in low) if s.letters else 0)


# ---------------------------------------------------------------- word keys


def _is_ru(word: str) -> bool:
    return bool(_CYRILLIC.search(word))


KEY_RULES = "verb-preference-1"  # part of the index fingerprint: bump when search_lemma / family change
_VERBAL = ("VERB", "INFN")


@lru_cache(maxsize=200_000)
def search_lemma(norm: str, spec: nlp.LangNLP) -> str:
    """The lemma search indexes for a normalised word: `nlp.lemma` of the language, except that
    for a pymorphy3 language a verb reading wins when the verb parses together score at least as
    high as the best other lemma (pymorphy3's top parse of "закрою" is the noun "закрой", of
    "открою" the rare "откроить"); among verbs the highest score, then the shorter infinitive
    (закрыть before закроить). Imperative readings do not count, and a clear other reading
    stays: "мой" (my), "мою", "мыла", "пила", "дело", "жаль" keep their nouns/pronouns."""
    base = nlp.lemma(norm, spec)
    if spec.lemmas != "pymorphy3" or not _uses(norm, spec) or not norm.isalpha():
        return base
    if any(k == norm for k, _ in spec.overrides):
        return base
    verbal: dict[str, float] = {}
    other: dict[str, float] = {}
    for p in nlp.load_morph(spec.code).parse(norm):
        nf = nlp.normalise(p.normal_form)
        # an imperative reading never wins ("жаль" stays, not жалить; "мой" stays, not мыть)
        bucket = verbal if p.tag.POS in _VERBAL and p.tag.mood != "impr" else other
        bucket[nf] = bucket.get(nf, 0.0) + float(p.score)
    if not verbal or sum(verbal.values()) + 1e-9 < max(other.values(), default=0.0):
        return base
    return min(verbal, key=lambda v: (-round(verbal[v], 3), len(v)))


@lru_cache(maxsize=200_000)
def word_lemma(norm: str) -> str:
    """The lemma of a normalised word under the project's own languages (the word's alphabet
    picks the language: Cyrillic -> Russian, Latin -> English)."""
    langs = _default_langs()
    return _word_form(norm, langs[0], langs)[0]


_VERB_SUFFIXES = ("ирова", "ова", "ева", "ыва", "ива", "и", "а", "я")
# no bare -о / -е: a neuter noun is rarely made from a verb (дело stays apart from делать, море from морить)
_NOUN_SUFFIXES = ("ение", "ание", "яние", "ние", "оба", "ьба", "ие", "ия", "а", "я", "ь", "й")
_MIN_STEM = 3


def _strip(word: str, suffixes: Sequence[str]) -> str:
    for suf in suffixes:  # longest first
        if word.endswith(suf) and len(word) - len(suf) >= _MIN_STEM:
            return word[: -len(suf)]
    return word


def _is_impf_verb(word: str, spec: nlp.LangNLP) -> bool:
    return any(p.tag.POS == "INFN" and p.tag.aspect == "impf" and p.normal_form == word
               for p in nlp.load_morph(spec.code).parse(word))


def _verb_stem(verb: str) -> str | None:
    s = verb
    for refl in ("ся", "сь"):
        if s.endswith(refl):
            s = s[:-2]
            break
    for inf in ("ть", "ти", "чь"):
        if s.endswith(inf):
            s = s[: -len(inf)]
            break
    else:
        return None
    if len(s) < _MIN_STEM:
        return None
    return _strip(s, _VERB_SUFFIXES)


@lru_cache(maxsize=200_000)
def family(lemma_: str, spec: "nlp.LangNLP | str | None" = None) -> str:
    """The word-family key of a lemma (see the module doc): a stem shared by a verb and its noun
    in a pymorphy3 language (the suffix rules are Russian), or the lemma itself (other
    languages, other parts of speech, short stems). `spec` None: Russian for Cyrillic words."""
    if spec is None:
        spec = "ru" if _is_ru(lemma_) else "en"
    spec = nlp.resolve(spec)
    if spec.lemmas != "pymorphy3" or not _uses(lemma_, spec) or len(lemma_) < 4 or not lemma_.isalpha():
        return lemma_
    parses = nlp.load_morph(spec.code).parse(lemma_)
    pos = next((p.tag.POS for p in parses if p.normal_form == lemma_), None)
    if pos == "INFN":
        stem = _verb_stem(lemma_)
        if stem is None:
            return lemma_
        if lemma_.startswith("по") and len(stem) - 2 >= _MIN_STEM:
            bare = lemma_[2:]
            bare_stem = _verb_stem(bare) if _is_impf_verb(bare, spec) else None
            # a three-letter stem loses по- only on a reflexive verb (пожаловаться -> жал-), so
            # показать stays apart from казаться ("кажется") and получить from луч
            if bare_stem and (len(bare_stem) > _MIN_STEM or lemma_.endswith(("ся", "сь"))):
                stem = bare_stem
        return "~" + stem
    if pos == "NOUN":
        stem = _strip(lemma_, _NOUN_SUFFIXES)
        return "~" + stem if stem != lemma_ else lemma_
    return lemma_


@lru_cache(maxsize=400_000)
def _word_form(norm: str, spec: nlp.LangNLP, langs: Langs) -> tuple[str, str]:
    """(lemma, family key) of a word in a call in language `spec`: a word without the call
    language's letters is analysed as the first language whose letters it has ("cancelled"
    in a Russian call as English)."""
    use = spec
    if not _uses(norm, spec):
        use = next((s for s in langs if s.letters and _uses(norm, s)), spec)
    lem = search_lemma(norm, use)
    return lem, family(lem, use)


def word_keys(text: str, lang: "str | nlp.LangNLP | None", langs: Any = None) -> list[tuple[str, str, int, int]]:
    """(lemma, family key, char start, char end) of every word token of `text` in a call in
    language `lang` (its tokenizer and lemmas, from `languages(langs)`)."""
    langs = languages(langs)
    spec = _call_language(lang, langs, text)
    out = []
    for tok, idx in nlp.iter_tokens(text, spec):
        if not tok.is_word:
            continue
        lem, key = _word_form(tok.norm, spec, langs)
        out.append((lem, key, idx, idx + len(tok.text)))
    return out


# ---------------------------------------------------------------- the syntax tree


@dataclass(frozen=True)
class Word:
    """One word: its (lemma, family key) in each language it may be written in (one for most
    words; a word in letters two languages share has one per language)."""

    text: str
    forms: tuple[tuple[str, str], ...]
    quoted: bool
    pos: int

    @property
    def lemmas(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f[0] for f in self.forms))

    @property
    def keys(self) -> tuple[str, ...]:
        """What a turn's word must have: a family key, or (quoted) a lemma."""
        return self.lemmas if self.quoted else tuple(dict.fromkeys(f[1] for f in self.forms))


@dataclass(frozen=True)
class Phrase:
    """Words in this order: per language the phrase may be in, its words' (lemma, family key)."""

    text: str
    variants: tuple[tuple[tuple[str, str], ...], ...]
    pos: int

    @property
    def lemma_variants(self) -> tuple[tuple[str, ...], ...]:
        return tuple(dict.fromkeys(tuple(w[0] for w in v) for v in self.variants))


@dataclass(frozen=True)
class Near:
    left: "Node"
    right: "Node"
    distance: int
    pos: int


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]
    pos: int


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]
    pos: int


@dataclass(frozen=True)
class Not:
    child: "Node"
    pos: int


@dataclass(frozen=True)
class Speaker:
    role: str  # operator | client
    child: "Node"
    pos: int


@dataclass(frozen=True)
class Window:
    side: str  # first | last
    seconds: float
    child: "Node"
    pos: int


@dataclass(frozen=True)
class Filter:
    """A call filter as written (parse() gathers them into Query.filters)."""

    key: str  # canonical: team, operator_id, language, flag, category, from, to
    values: tuple[str, ...]
    pos: int


Node = Union[Word, Phrase, Near, And, Or, Not, Speaker, Window]


@dataclass(frozen=True)
class Query:
    """A parsed query: the search tree and the call filters (values lower-cased; dates ISO).
    `root` is None for a query of filters only (`category:churn_threat team:north`): every call
    that passes them matches, with call-level moments (`call_moments`)."""

    text: str
    root: "Node | None"
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def finds_words(self) -> bool:
        """Whether the query can only match a call by finding words in it (so every moment has a
        highlighted word): false for filters alone, NOT alone, or an OR with a side of NOT."""
        return self.root is not None and _positive(self.root)


# ---------------------------------------------------------------- lexer


@dataclass(frozen=True)
class _Tok:
    kind: str  # word phrase lpar rpar and or not near scope filter eof
    pos: int
    text: str = ""
    value: Any = None


def _duration(text: str) -> float | None:
    m = _DURATION.match(text)
    if not m:
        return None
    n = float(m.group(1))
    return n * 60 if (m.group(2) or "s").lower().startswith("m") else n


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            toks.append(_Tok("lpar", i))
            i += 1
            continue
        if c == ")":
            toks.append(_Tok("rpar", i))
            i += 1
            continue
        if c in "\"«“":
            close = {"\"": "\"", "«": "»", "“": "”"}[c]
            j = q.find(close, i + 1)
            if close != "\"" and j < 0:
                j = q.find("\"", i + 1)
            if j < 0:
                raise QuerySyntaxError("unclosed_quote", q, i)
            toks.append(_Tok("phrase", i, q[i + 1:j]))
            i = j + 1
            continue
        j = i
        while j < n and not q[j].isspace() and q[j] not in "()\"«“":
            j += 1
        _lex_chunk(q, q[i:j], i, toks)
        i = j
    toks.append(_Tok("eof", n))
    return toks


def _lex_chunk(q: str, chunk: str, pos: int, toks: list[_Tok]) -> None:
    if chunk in ("AND", "OR", "NOT"):
        toks.append(_Tok(chunk.lower(), pos, chunk))
        return
    m = _NEAR.match(chunk)
    if m:
        dist = int(m.group(1)) if m.group(1) else DEFAULT_NEAR
        if not 1 <= dist <= MAX_NEAR:
            raise QuerySyntaxError("near_range", q, pos, max=MAX_NEAR)
        toks.append(_Tok("near", pos, chunk, dist))
        return
    if chunk.startswith("NEAR/"):
        raise QuerySyntaxError("near_number", q, pos)
    m = _KEY.match(chunk)
    if not m or not m.group(1)[0].isalpha():
        toks.append(_Tok("word", pos, chunk))
        return
    key, rest = m.group(1).lower(), m.group(2)
    if key in SPEAKERS:
        toks.append(_Tok("scope", pos, key + ":", ("speaker", key)))
        if rest:
            _lex_chunk(q, rest, pos + len(key) + 1, toks)
        return
    if key in WINDOWS:
        dur_text, _, tail = rest.partition(":")
        secs = _duration(dur_text)
        if secs is None or secs <= 0:
            raise QuerySyntaxError("window_duration", q, pos + len(key) + 1, field=key + ":")
        toks.append(_Tok("scope", pos, f"{key}:{dur_text}", ("window", key, secs)))
        if tail:  # first:30s:word
            _lex_chunk(q, tail, pos + len(key) + 2 + len(dur_text), toks)
        return
    if key in FILTER_KEYS:
        toks.append(_Tok("filter", pos, key + ":", (FILTER_KEYS[key], rest)))
        return
    if not m.group(1).isascii():
        toks.append(_Tok("word", pos, chunk))
        return
    raise QuerySyntaxError("unknown_field", q, pos, field=key + ":",
                           filters=", ".join(k + ":" for k in FILTER_KEYS))


# ---------------------------------------------------------------- parser


def _split_filters(q: str, toks: list[_Tok]) -> tuple[list[_Tok], list[_Tok]]:
    """Take the filters out of the token stream: written anywhere at the top level, they apply
    to the whole call ("lang:en thank OR спасибо" is lang:en AND (thank OR спасибо)); inside
    (...), after NOT, a scope, NEAR, AND or OR, or before AND/OR/NEAR they are an error."""
    out: list[_Tok] = []
    filters: list[_Tok] = []
    depth = 0
    skip = False
    for i, t in enumerate(toks):
        if skip:
            skip = False
            continue
        if (t.kind == "filter" and not t.value[1] and toks[i + 1].kind == "phrase"
                and toks[i + 1].pos == t.pos + len(t.text)):  # team:"Team A"
            t = _Tok("filter", t.pos, t.text, (t.value[0], toks[i + 1].text))
            skip = True
        if t.kind == "lpar":
            depth += 1
        elif t.kind == "rpar":
            depth -= 1
        if t.kind != "filter":
            out.append(t)
            continue
        prev = out[-1].kind if out else None
        nxt = toks[i + 1].kind
        if depth > 0 or prev in ("and", "or", "not", "near", "scope") or nxt in ("and", "or", "near"):
            raise QuerySyntaxError("filter_placement", q, t.pos, field=t.text)
        filters.append(t)
    return out, filters


class _Parser:
    def __init__(self, q: str, langs: Langs):
        self.q = q
        self.toks, self.filters = _split_filters(q, _lex(q))
        # lang:xx narrows the languages a query word is read in
        wanted = {v.strip().lower() for t in self.filters if t.value[0] == "language" for v in str(t.value[1]).split(",")}
        self.langs = tuple(s for s in langs if s.code.lower() in wanted) or langs
        self.i = 0
        self.depth = 0

    @property
    def cur(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, code: str, pos: int | None = None, **params: Any) -> QuerySyntaxError:
        return QuerySyntaxError(code, self.q, self.cur.pos if pos is None else pos, **params)

    def deeper(self, pos: int) -> None:
        """One level more of (...), NOT or a scope; a query nested deeper than MAX_NESTING is refused."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error("too_deep", pos, max=MAX_NESTING)

    def parse(self) -> Node | None:
        if self.cur.kind == "eof":
            return None
        node = self.or_expr()
        if self.cur.kind == "rpar":
            raise self.error("unmatched_close")
        if self.cur.kind != "eof":  # pragma: no cover - or_expr consumes all else
            raise self.error("unexpected", found=repr(self.cur.text))
        return node

    def or_expr(self) -> Node:
        pos = self.cur.pos
        parts = [self.and_expr("OR")]
        while self.cur.kind == "or":
            self.take()
            parts.append(self.and_expr("OR", after=True))
        return parts[0] if len(parts) == 1 else Or(tuple(parts), pos)

    def _starts_unary(self) -> bool:
        return self.cur.kind in ("word", "phrase", "lpar", "not", "scope")

    def and_expr(self, ctx: str, after: bool = False) -> Node:
        pos = self.cur.pos
        if not self._starts_unary():
            raise self._missing(ctx if after else None)
        parts = [self.unary()]
        while True:
            if self.cur.kind == "and":
                self.take()
                if not self._starts_unary():
                    raise self._missing("AND")
                parts.append(self.unary())
            elif self._starts_unary():
                parts.append(self.unary())
            else:
                break
        parts = [p for p in parts if p is not None]
        return parts[0] if len(parts) == 1 else And(tuple(parts), pos)

    def _missing(self, op: str | None) -> QuerySyntaxError:
        t = self.cur
        what = {"rpar": "')'", "or": "OR", "and": "AND", "near": t.text}.get(t.kind, repr(t.text))
        found = {} if t.kind == "eof" else {"found": what}
        end = "_end" if t.kind == "eof" else ""
        if op:
            return self.error("missing_after" + end, op=op, **found)
        if t.kind in ("or", "and", "near"):
            return self.error("missing_before", op=t.text)
        if t.kind == "rpar":
            return self.error("unmatched_or_empty")
        return self.error("expected_term" + end, **found)

    def unary(self) -> Node:
        if self.cur.kind == "not":
            t = self.take()
            if not self._starts_unary():
                raise self._missing("NOT")
            self.deeper(t.pos)
            node = Not(self.unary(), t.pos)
            self.depth -= 1
            return node
        return self.near()

    def near(self) -> Node:
        left = self.primary()
        while self.cur.kind == "near":
            t = self.take()
            if not self._starts_unary() or self.cur.kind == "not":
                raise self._missing(t.text)
            right_pos = self.cur.pos
            right = self.primary()
            for side, p in ((left, left.pos), (right, right_pos)):
                if not isinstance(side, (Word, Phrase)):
                    raise QuerySyntaxError("near_operands", self.q, p, op=t.text)
            left = Near(left, right, int(t.value), t.pos)
        return left

    def primary(self) -> Node:
        t = self.cur
        if t.kind == "word":
            self.take()
            return _word_node(t.text, t.pos, self.langs, quoted=False)
        if t.kind == "phrase":
            self.take()
            return _word_node(t.text, t.pos, self.langs, quoted=True, query=self.q)
        if t.kind == "lpar":
            self.take()
            if self.cur.kind == "rpar":
                raise self.error("empty_group")
            self.deeper(t.pos)
            node = self.or_expr()
            self.depth -= 1
            if self.cur.kind != "rpar":
                raise QuerySyntaxError("unclosed_group", self.q, t.pos)
            self.take()
            return node
        if t.kind == "scope":
            self.take()
            if not self._starts_unary() or self.cur.kind == "not":
                raise QuerySyntaxError("scope_operand", self.q, t.pos, field=t.text)
            self.deeper(t.pos)
            child = self.primary()
            self.depth -= 1
            if t.value[0] == "speaker":
                return Speaker(t.value[1], child, t.pos)
            return Window(t.value[1], float(t.value[2]), child, t.pos)
        raise self._missing(None)


def _word_node(text: str, pos: int, langs: Langs, *, quoted: bool, query: str = "") -> Node:
    """A word or phrase of the query, read as a call in each language whose letters it has
    would read it (every language when none), so it finds its forms in calls of any of them."""
    norm = nlp.normalise(text)
    cands = [s for s in langs if s.letters and _uses(norm, s)] + [s for s in langs if not s.letters]
    variants = []
    for spec in cands or langs:
        v = tuple((k[0], k[1]) for k in word_keys(text, spec, langs))
        if v and v not in variants:
            variants.append(v)
    if not variants:
        if quoted:
            raise QuerySyntaxError("empty_phrase", query, pos)
        return Phrase(text, (), pos)  # punctuation only: matches nothing, dropped by the parser
    if all(len(v) == 1 for v in variants):
        return Word(text, tuple(dict.fromkeys(v[0] for v in variants)), quoted, pos)
    return Phrase(text, tuple(variants), pos)


def _filter_node(key: str, raw: str, t: _Tok, q: str) -> Filter:
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        raise QuerySyntaxError("filter_value", q, t.pos, field=t.text, example=_EXAMPLE[key])
    if key in ("from", "to"):
        if len(values) != 1:
            raise QuerySyntaxError("filter_one_date", q, t.pos, field=t.text)
        try:
            values = (date.fromisoformat(values[0]).isoformat(),)
        except ValueError:
            raise QuerySyntaxError("filter_date", q, t.pos + len(t.text), field=t.text, value=values[0]) from None
    elif key != "operator_id":
        values = tuple(v.lower() for v in values)
    return Filter(key, values, t.pos)


_EXAMPLE = {"team": "blue", "operator_id": "op-7", "language": "ru", "flag": "escalation", "category": "churn",
            "from": "2026-11-01", "to": "2026-11-30"}


def _drop_empty(node: Node) -> Node | None:
    """Remove punctuation-only words (empty phrases) from the tree."""
    if isinstance(node, Phrase) and not node.variants:
        return None
    if isinstance(node, (And, Or)):
        kids = tuple(k for k in (_drop_empty(c) for c in node.children) if k is not None)
        if not kids:
            return None
        return kids[0] if len(kids) == 1 else type(node)(kids, node.pos)
    if isinstance(node, Not):
        c = _drop_empty(node.child)
        return None if c is None else Not(c, node.pos)
    if isinstance(node, Speaker):
        c = _drop_empty(node.child)
        return None if c is None else Speaker(node.role, c, node.pos)
    if isinstance(node, Window):
        c = _drop_empty(node.child)
        return None if c is None else Window(node.side, node.seconds, c, node.pos)
    return node


def _positive(node: Node) -> bool:
    """Whether the node can only match a call by finding something (so it has moments)."""
    if isinstance(node, (Word, Phrase, Near)):
        return True
    if isinstance(node, And):
        return any(_positive(c) for c in node.children)
    if isinstance(node, Or):
        return all(_positive(c) for c in node.children)
    if isinstance(node, (Speaker, Window)):
        return _positive(node.child)
    return False


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (And, Or)):
        return node.children
    if isinstance(node, (Not, Speaker, Window)):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    return ()


def parse(text: str, config: Any = None) -> Query:
    """Parse a query, its words read by the language pipelines of `config` (`languages`: a
    Config, a --config file, a tuple of pipelines; None: the project's); raises
    QuerySyntaxError naming the position of the problem."""
    text = text or ""
    p = _Parser(text, languages(config))
    root = p.parse()
    filters: dict[str, tuple[str, ...]] = {}
    for t in p.filters:
        f = _filter_node(t.value[0], t.value[1], t, text)
        if f.key in ("from", "to") and f.key in filters:
            raise QuerySyntaxError("filter_twice", text, t.pos, field=t.text)
        filters[f.key] = filters.get(f.key, ()) + f.values
    if root is None and not filters:
        raise QuerySyntaxError("empty_query", text, 0)
    search = None if root is None else _drop_empty(root)
    # filters alone (category:churn_threat, team:north flag:escalation) select calls; without a
    # filter the query must find a word (NOT alone would list every call)
    if not filters and (search is None or not _positive(search)):
        raise QuerySyntaxError("nothing_to_find", text, 0)
    if filters.get("from") and filters.get("to") and filters["from"][0] > filters["to"][0]:
        raise QuerySyntaxError("from_after_to", text, text.find("to:"))
    return Query(text, search, filters)


def as_query(query: str | Query, config: Any = None) -> Query:
    return query if isinstance(query, Query) else parse(query, config)


# ---------------------------------------------------------------- one call


@dataclass(frozen=True)
class PreparedTurn:
    """One turn with its word keys: lemmas, family keys and character spans in `text`."""

    index: int
    speaker: str
    start: float
    end: float
    text: str
    lemmas: tuple[str, ...]
    keys: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PreparedCall:
    """A call ready for evaluation: its turns with word keys and the metadata filters use."""

    call_id: str
    duration: float
    turns: tuple[PreparedTurn, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)  # team, operator_id, language, date, flags, categories


def prepare_turn(index: int, turn: Mapping[str, Any], lang: "str | nlp.LangNLP", langs: Any = None) -> PreparedTurn:
    text = str(turn.get("text") or "")
    keys = word_keys(text, lang, langs)
    return PreparedTurn(index, str(turn.get("speaker") or ""), float(turn.get("start") or 0.0),
                        float(turn.get("end") or 0.0), text, tuple(k[0] for k in keys), tuple(k[1] for k in keys),
                        tuple((k[2], k[3]) for k in keys))


def call_meta(result: Mapping[str, Any]) -> dict[str, Any]:
    """What filters look at, from a stored call result."""
    started = str(result.get("started_at") or "")
    flags = [f.get("id") for f in result.get("flags") or [] if isinstance(f, Mapping) and f.get("id")]
    cats = []
    for c in result.get("categories") or []:
        cid = c.get("id") if isinstance(c, Mapping) else c
        if cid:
            cats.append(str(cid))
    return {"team": result.get("team"), "operator_id": result.get("operator_id"),
            "language": result.get("language"), "date": started[:10] or None, "started_at": started or None,
            "flags": flags, "categories": cats, "category_turns": category_turns(result)}


def category_turns(result: Mapping[str, Any]) -> dict[str, list[int]]:
    """category id -> the turns of its evidence in a stored call result (the moments a
    `category:ID` search without words shows)."""
    out: dict[str, list[int]] = {}
    for c in result.get("categories") or []:
        if not isinstance(c, Mapping) or not c.get("id"):
            continue
        turns = out.setdefault(str(c["id"]).lower(), [])
        for e in c.get("evidence") or []:
            t = e.get("turn") if isinstance(e, Mapping) else None
            if isinstance(t, int) and not isinstance(t, bool) and t not in turns:
                turns.append(t)
    return out


def prepare_call(result: Mapping[str, Any], config: Any = None) -> PreparedCall:
    """A stored call result (CONTRACTS.md dict, redacted transcript) ready for `evaluate`: its
    words analysed by its language's pipeline from `config` (see `languages`); a language the
    configuration lacks is guessed from the text's letters."""
    langs = languages(config)
    turns_raw = ((result.get("transcript") or {}).get("turns")) or result.get("turns") or []
    code = str(result.get("language") or "")
    known = any(s.code == code for s in langs)
    spec = _call_language(code, langs, "" if known else " ".join(str(t.get("text") or "") for t in turns_raw))
    turns = tuple(prepare_turn(i, t, spec, langs) for i, t in enumerate(turns_raw))
    duration = float(result.get("duration_s") or 0.0) or max((t.end for t in turns), default=0.0)
    return PreparedCall(str(result.get("call_id") or ""), duration, turns, call_meta(result))


@dataclass(frozen=True)
class Hit:
    """One moment that matched: the turn's times and speaker, a quote from the turn and the
    character spans in `quote` to highlight."""

    call_id: str
    turn: int
    start: float
    end: float
    speaker: str
    quote: str
    highlights: tuple[tuple[int, int], ...]
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def marked(self, open_: str = "[", close: str = "]") -> str:
        """The quote with each highlighted span wrapped in `open_` / `close`."""
        out, last = [], 0
        for a, b in self.highlights:
            out.append(self.quote[last:a])
            out.append(open_ + self.quote[a:b] + close)
            last = b
        out.append(self.quote[last:])
        return "".join(out)

    def serialize(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "start": round(self.start, 2), "end": round(self.end, 2),
                "speaker": self.speaker, "quote": self.quote, "highlights": [list(h) for h in self.highlights],
                "marked": self.marked(), "turn": self.turn,
                **{k: self.meta.get(k) for k in ("started_at", "team", "operator_id", "language") if k in self.meta}}


# spans: turn index -> set of (first word, last word)
_Spans = dict[int, set[tuple[int, int]]]


def _in_window(turn: PreparedTurn, call: PreparedCall, side: str, seconds: float) -> bool:
    if side == "first":
        return turn.start < seconds
    return turn.end > call.duration - seconds


def _leaf_spans(node: Node, turn: PreparedTurn) -> list[tuple[int, int]]:
    if isinstance(node, Word):
        seq, want = (turn.lemmas, node.lemmas) if node.quoted else (turn.keys, node.keys)
        if len(want) == 1:
            w = want[0]
            return [(i, i) for i, k in enumerate(seq) if k == w]
        return [(i, i) for i, k in enumerate(seq) if k in want]
    if isinstance(node, Phrase):
        lem, out = turn.lemmas, set()
        for v in node.lemma_variants:
            n = len(v)
            out.update((i, i + n - 1) for i in range(len(lem) - n + 1) if lem[i:i + n] == v)
        return sorted(out)
    if isinstance(node, Near):
        out = []
        for a in _leaf_spans(node.left, turn):
            for b in _leaf_spans(node.right, turn):
                gap = b[0] - a[1] - 1 if b[0] > a[1] else a[0] - b[1] - 1
                if -1 < gap <= node.distance:
                    out.append((min(a[0], b[0]), max(a[1], b[1])))
        return out
    raise TypeError(node)  # pragma: no cover


def _eval(node: Node, call: PreparedCall, turns: Sequence[PreparedTurn]) -> _Spans | None:
    """Spans found (possibly none, for NOT) when the node matches the call, None when not."""
    if isinstance(node, (Word, Phrase, Near)):
        found: _Spans = {}
        for t in turns:
            spans = _leaf_spans(node, t)
            if spans:
                found.setdefault(t.index, set()).update(spans)
        return found or None
    if isinstance(node, And):
        acc: _Spans = {}
        for c in node.children:
            r = _eval(c, call, turns)
            if r is None:
                return None
            for k, v in r.items():
                acc.setdefault(k, set()).update(v)
        return acc
    if isinstance(node, Or):
        acc, any_ = {}, False
        for c in node.children:
            r = _eval(c, call, turns)
            if r is not None:
                any_ = True
                for k, v in r.items():
                    acc.setdefault(k, set()).update(v)
        return acc if any_ else None
    if isinstance(node, Not):
        return None if _eval(node.child, call, turns) is not None else {}
    if isinstance(node, Speaker):
        return _eval(node.child, call, [t for t in turns if t.speaker == node.role])
    if isinstance(node, Window):
        return _eval(node.child, call, [t for t in turns if _in_window(t, call, node.side, node.seconds)])
    raise TypeError(node)  # pragma: no cover


def filters_pass(filters: Mapping[str, tuple[str, ...]], meta: Mapping[str, Any]) -> bool:
    """Whether a call's metadata passes the query's filters (a filter on a missing field fails)."""
    for key, values in filters.items():
        if key in ("from", "to"):
            d = meta.get("date")
            if not d or (key == "from" and d < values[0]) or (key == "to" and d > values[0]):
                return False
        elif key in ("flag", "category"):
            have = {str(x).lower() for x in meta.get("flags" if key == "flag" else "categories") or []}
            if not have & set(values):
                return False
        elif key == "operator_id":
            if str(meta.get("operator_id") or "") not in values:
                return False
        else:
            if str(meta.get(key) or "").lower() not in values:
                return False
    return True


def _quote(text: str, spans: list[tuple[int, int]], context: int = QUOTE_CONTEXT) -> tuple[str, tuple[tuple[int, int], ...]]:
    a, b = spans[0][0], spans[-1][1]
    lo = max(0, a - context)
    hi = min(len(text), b + context)
    if lo > 0:  # start at a word boundary
        sp = text.find(" ", lo)
        lo = sp + 1 if 0 <= sp < a else lo
    if hi < len(text):
        sp = text.rfind(" ", b, hi)
        hi = sp if sp > b else hi
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(text) else ""
    quote = prefix + text[lo:hi].strip() + suffix
    shift = len(prefix) - lo - (len(text[lo:hi]) - len(text[lo:hi].lstrip()))
    return quote, tuple((s + shift, e + shift) for s, e in spans)


def _excerpt(text: str, limit: int = 2 * QUOTE_CONTEXT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit] + "…"


def call_moments(q: Query, call: PreparedCall) -> list[Hit]:
    """The moments of a call that matched without finding a word (filters alone, NOT): for
    `category:ID`, the turns of that category's evidence in the call; otherwise the call's first
    turn with words (turn -1, no quote, for a call without turns). Nothing is highlighted."""
    by_index = {t.index: t for t in call.turns}
    picked: list[int] = []
    ctx = call.meta.get("category_turns") or {}
    for cid in q.filters.get("category", ()):
        for ti in ctx.get(cid) or ():
            if ti in by_index and ti not in picked:
                picked.append(ti)
    if not picked:
        first = next((t for t in call.turns if t.text.strip()), call.turns[0] if call.turns else None)
        if first is None:
            return [Hit(call.call_id, -1, 0.0, 0.0, "", "", (), call.meta)]
        picked = [first.index]
    return [Hit(call.call_id, t.index, t.start, t.end, t.speaker, _excerpt(t.text), (), call.meta)
            for t in (by_index[i] for i in sorted(picked))]


def evaluate(query: str | Query, call: PreparedCall) -> list[Hit]:
    """Hits of a query in one prepared call (empty when the call does not match), in time order."""
    q = as_query(query)
    if not filters_pass(q.filters, call.meta):
        return []
    found: _Spans | None = {} if q.root is None else _eval(q.root, call, call.turns)
    if found is None:
        return []
    if not found:  # matched without a word: filters alone, or NOT
        return call_moments(q, call)
    hits = []
    by_index = {t.index: t for t in call.turns}
    for ti in sorted(found):
        t = by_index[ti]
        words = joined(found[ti])
        chars = [(t.spans[a][0], t.spans[b][1]) for a, b in words]
        quote, marks = _quote(t.text, chars)
        hits.append(Hit(call.call_id, t.index, t.start, t.end, t.speaker, quote, marks, call.meta))
    return hits


def match_call(query: str | Query, call: Mapping[str, Any] | PreparedCall, config: Any = None) -> list[Hit]:
    """Hits of `query` in one stored call: `call` is a stored call result (its redacted
    transcript, language, duration and metadata; `Store.get`) or a PreparedCall. A query
    string is parsed (QuerySyntaxError on bad syntax); filters apply to the call's metadata."""
    prepared = call if isinstance(call, PreparedCall) else prepare_call(call, config)
    return evaluate(as_query(query, config), prepared)
