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

- Russian words (Cyrillic) are lemmatised with pymorphy3, English ones with spaCy's lookup
  lemmatizer (`callqa.pipeline.signals.nlp.lemma`), so "пожалуюсь" -> "пожаловаться",
  "cancelled" -> "cancel".
- A bare Russian word also matches its **word family**: the verb and the noun made from
  it share a stem (`family`): the lemma loses its reflexive particle, infinitive ending and
  stem suffix (-ова-/-ева-/-ыва-/-ива-/-и-/-а-), a noun its ending and deverbal suffix
  (-ение/-ание/-ние/-оба/-ьба), and a perfective verb its prefix "по-" when the verb without
  it is an imperfective verb in the dictionary (for a three-letter stem only on a reflexive
  verb: показать stays apart from казаться). So "пожаловаться", "жаловаться" and "жалоба"
  all stem to "жал", "отменить" and "отмена" to "отмен", "решить" and "решение" to "реш".
  Plain lemmas cannot do this (пожаловаться and жалоба are different lemmas) and a plain
  Snowball stemmer cannot either ("пожалова" vs "жалоб"). Stems shorter than three letters
  fall back to the lemma (so "помочь" never finds "мочь"/"могу"). Quote a word to switch the
  family off ("пожаловаться" finds only пожалуюсь, пожаловался, ...).

`match_call(query, call)` evaluates a query on one stored (redacted) call result and
returns its hits; `callqa.pipeline.search.index` uses the same evaluator on the calls its
index finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence, Union

from callqa.pipeline.signals import nlp

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


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed: `.position` is the 0-based character offset of the
    problem, `.message` the explanation; `str()` shows the query with a caret under it."""

    def __init__(self, message: str, query: str, position: int):
        self.message = message
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(f"{message} (at column {self.position + 1})\n  {query}\n  {' ' * self.position}^")


# ---------------------------------------------------------------- word keys


def _is_ru(word: str) -> bool:
    return bool(_CYRILLIC.search(word))


@lru_cache(maxsize=200_000)
def word_lemma(norm: str) -> str:
    """The lemma of a normalised word: pymorphy3 for Cyrillic, spaCy's English lookup otherwise
    (whatever the call's language, so a query and a transcript always agree)."""
    return nlp.lemma(norm, "ru" if _is_ru(norm) else "en")


_VERB_SUFFIXES = ("ирова", "ова", "ева", "ыва", "ива", "и", "а", "я")
_NOUN_SUFFIXES = ("ение", "ание", "яние", "ние", "оба", "ьба", "ие", "ия", "а", "я", "о", "е", "ь", "й")
_MIN_STEM = 3


def _strip(word: str, suffixes: Sequence[str]) -> str:
    for suf in suffixes:  # longest first
        if word.endswith(suf) and len(word) - len(suf) >= _MIN_STEM:
            return word[: -len(suf)]
    return word


@lru_cache(maxsize=1)
def _morph() -> Any:
    return nlp.load_morph()


def _is_impf_verb(word: str) -> bool:
    return any(p.tag.POS == "INFN" and p.tag.aspect == "impf" and p.normal_form == word
               for p in _morph().parse(word))


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
def family(lemma_: str) -> str:
    """The word-family key of a lemma (see the module doc): a stem shared by a Russian verb
    and its noun, or the lemma itself (English words, other parts of speech, short stems)."""
    if not _is_ru(lemma_) or len(lemma_) < 4 or not lemma_.isalpha():
        return lemma_
    parses = _morph().parse(lemma_)
    pos = next((p.tag.POS for p in parses if p.normal_form == lemma_), None)
    if pos == "INFN":
        stem = _verb_stem(lemma_)
        if stem is None:
            return lemma_
        if lemma_.startswith("по") and len(stem) - 2 >= _MIN_STEM:
            bare = lemma_[2:]
            bare_stem = _verb_stem(bare) if _is_impf_verb(bare) else None
            # a three-letter stem loses по- only on a reflexive verb (пожаловаться -> жал-), so
            # показать stays apart from казаться ("кажется") and получить from луч
            if bare_stem and (len(bare_stem) > _MIN_STEM or lemma_.endswith(("ся", "сь"))):
                stem = bare_stem
        return "~" + stem
    if pos == "NOUN":
        stem = _strip(lemma_, _NOUN_SUFFIXES)
        return "~" + stem if stem != lemma_ else lemma_
    return lemma_


def word_keys(text: str, lang: str) -> list[tuple[str, str, int, int]]:
    """(lemma, family key, char start, char end) of every word token of `text`, tokenised by
    the call language's tokenizer."""
    out = []
    try:
        tokens = list(nlp.iter_tokens(text, lang))
    except ValueError:  # a language without a tokenizer of its own: split like English
        tokens = list(nlp.iter_tokens(text, "en"))
    for tok, idx in tokens:
        if not tok.is_word:
            continue
        lem = word_lemma(tok.norm)
        out.append((lem, family(lem), idx, idx + len(tok.text)))
    return out


# ---------------------------------------------------------------- the syntax tree


@dataclass(frozen=True)
class Word:
    text: str
    lemma: str
    key: str  # family key (the lemma when quoted or without a family)
    pos: int


@dataclass(frozen=True)
class Phrase:
    text: str
    lemmas: tuple[str, ...]
    pos: int


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
    """A parsed query: the search tree and the call filters (values lower-cased; dates ISO)."""

    text: str
    root: Node
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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
                raise QuerySyntaxError("unclosed quote: a phrase needs a closing \"", q, i)
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
            raise QuerySyntaxError(f"NEAR/n needs a distance from 1 to {MAX_NEAR} words", q, pos)
        toks.append(_Tok("near", pos, chunk, dist))
        return
    if chunk.startswith("NEAR/"):
        raise QuerySyntaxError("NEAR/n needs a whole number of words, e.g. NEAR/5", q, pos)
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
            raise QuerySyntaxError(f"{key}: needs a duration such as {key}:30s or {key}:2m, then a word, "
                                   f"phrase or (group)", q, pos + len(key) + 1)
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
    raise QuerySyntaxError(
        f"unknown field {key}: (speaker: operator: client:; time: first:30s last:2m; filters: "
        f"{', '.join(k + ':' for k in FILTER_KEYS)})", q, pos)


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
            raise QuerySyntaxError(f"filters apply to the whole call: write {t.text} beside the search "
                                   f"(not inside (...), after NOT, a scope, AND, OR or NEAR, or before AND, OR "
                                   f"or NEAR)", q, t.pos)
        filters.append(t)
    return out, filters


class _Parser:
    def __init__(self, q: str):
        self.q = q
        self.toks, self.filters = _split_filters(q, _lex(q))
        self.i = 0
        self.depth = 0

    @property
    def cur(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg: str, pos: int | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(msg, self.q, self.cur.pos if pos is None else pos)

    def parse(self) -> Node | None:
        if self.cur.kind == "eof":
            return None
        node = self.or_expr()
        if self.cur.kind == "rpar":
            raise self.error("unmatched ')': no '(' opens it")
        if self.cur.kind != "eof":  # pragma: no cover - or_expr consumes all else
            raise self.error(f"unexpected {self.cur.text!r}")
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
        what = {"eof": "the end of the query", "rpar": "')'", "or": "OR", "and": "AND", "near": t.text}.get(t.kind, repr(t.text))
        if op:
            return self.error(f"{op} needs a word, phrase or (group) after it, found {what}")
        if t.kind in ("or", "and", "near"):
            return self.error(f"{t.text} needs a word, phrase or (group) before it")
        if t.kind == "rpar":
            return self.error("unmatched ')' or empty group '()'")
        return self.error(f"expected a word, phrase or (group), found {what}")

    def unary(self) -> Node:
        if self.cur.kind == "not":
            t = self.take()
            if not self._starts_unary():
                raise self._missing("NOT")
            return Not(self.unary(), t.pos)
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
                    raise QuerySyntaxError(f"{t.text} joins two words or \"phrases\" (not groups, scopes "
                                           f"or filters)", self.q, p)
            left = Near(left, right, int(t.value), t.pos)
        return left

    def primary(self) -> Node:
        t = self.cur
        if t.kind == "word":
            self.take()
            return _word_node(t.text, t.pos, quoted=False)
        if t.kind == "phrase":
            self.take()
            return _word_node(t.text, t.pos, quoted=True, query=self.q)
        if t.kind == "lpar":
            self.take()
            if self.cur.kind == "rpar":
                raise self.error("empty group '()'")
            self.depth += 1
            node = self.or_expr()
            self.depth -= 1
            if self.cur.kind != "rpar":
                raise QuerySyntaxError("unclosed '(': add ')'", self.q, t.pos)
            self.take()
            return node
        if t.kind == "scope":
            self.take()
            if not self._starts_unary() or self.cur.kind == "not":
                raise QuerySyntaxError(f"{t.text} needs a word, phrase or (group) right after it, e.g. "
                                       f"{t.text}(...)", self.q, t.pos)
            child = self.primary()
            if t.value[0] == "speaker":
                return Speaker(t.value[1], child, t.pos)
            return Window(t.value[1], float(t.value[2]), child, t.pos)
        raise self._missing(None)


def _word_node(text: str, pos: int, *, quoted: bool, query: str = "") -> Node:
    lang = "ru" if _is_ru(text) else "en"
    keys = word_keys(text, lang)
    if not keys:
        if quoted:
            raise QuerySyntaxError("empty phrase: put words between the quotes", query, pos)
        return Phrase(text, (), pos)  # punctuation only: matches nothing, dropped by the parser
    if len(keys) == 1:
        lem, fam, _, _ = keys[0]
        return Word(text, lem, lem if quoted else fam, pos)
    return Phrase(text, tuple(k[0] for k in keys), pos)


def _filter_node(key: str, raw: str, t: _Tok, q: str) -> Filter:
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        raise QuerySyntaxError(f"{t.text} needs a value, e.g. {t.text}{_EXAMPLE[key]}", q, t.pos)
    if key in ("from", "to"):
        if len(values) != 1:
            raise QuerySyntaxError(f"{t.text} takes one date", q, t.pos)
        try:
            values = (date.fromisoformat(values[0]).isoformat(),)
        except ValueError:
            raise QuerySyntaxError(f"{t.text} needs a date as YYYY-MM-DD, got {values[0]!r}", q,
                                   t.pos + len(t.text)) from None
    elif key != "operator_id":
        values = tuple(v.lower() for v in values)
    return Filter(key, values, t.pos)


_EXAMPLE = {"team": "blue", "operator_id": "op-7", "language": "ru", "flag": "escalation", "category": "churn",
            "from": "2026-11-01", "to": "2026-11-30"}


def _drop_empty(node: Node) -> Node | None:
    """Remove punctuation-only words (empty phrases) from the tree."""
    if isinstance(node, Phrase) and not node.lemmas:
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


def parse(text: str) -> Query:
    """Parse a query; raises QuerySyntaxError naming the position of the problem."""
    text = text or ""
    p = _Parser(text)
    root = p.parse()
    filters: dict[str, tuple[str, ...]] = {}
    for t in p.filters:
        f = _filter_node(t.value[0], t.value[1], t, text)
        if f.key in ("from", "to") and f.key in filters:
            raise QuerySyntaxError(f"{t.text} is given twice", text, t.pos)
        filters[f.key] = filters.get(f.key, ()) + f.values
    if root is None and not filters:
        raise QuerySyntaxError("empty query: type a word or a \"phrase\"", text, 0)
    search = None if root is None else _drop_empty(root)
    if search is None or not _positive(search):
        raise QuerySyntaxError("nothing to find: add a word or \"phrase\" that is not under NOT "
                               "(NOT and filters only narrow a search, and each side of OR needs one)",
                               text, 0)
    if filters.get("from") and filters.get("to") and filters["from"][0] > filters["to"][0]:
        raise QuerySyntaxError("from: is after to:", text, text.find("to:"))
    return Query(text, search, filters)


def as_query(query: str | Query) -> Query:
    return query if isinstance(query, Query) else parse(query)


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


def prepare_turn(index: int, turn: Mapping[str, Any], lang: str) -> PreparedTurn:
    text = str(turn.get("text") or "")
    keys = word_keys(text, lang)
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
            "flags": flags, "categories": cats}


def prepare_call(result: Mapping[str, Any]) -> PreparedCall:
    """A stored call result (CONTRACTS.md dict, redacted transcript) ready for `evaluate`."""
    lang = str(result.get("language") or "en")
    turns_raw = ((result.get("transcript") or {}).get("turns")) or result.get("turns") or []
    turns = tuple(prepare_turn(i, t, lang) for i, t in enumerate(turns_raw))
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
        seq = turn.keys if node.key != node.lemma else turn.lemmas
        return [(i, i) for i, k in enumerate(seq) if k == node.key]
    if isinstance(node, Phrase):
        n, lem = len(node.lemmas), turn.lemmas
        if not n:
            return []
        return [(i, i + n - 1) for i in range(len(lem) - n + 1) if lem[i:i + n] == node.lemmas]
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


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def evaluate(query: str | Query, call: PreparedCall) -> list[Hit]:
    """Hits of a query in one prepared call (empty when the call does not match), in time order."""
    q = as_query(query)
    if not filters_pass(q.filters, call.meta):
        return []
    found = _eval(q.root, call, call.turns)
    if not found:
        return []
    hits = []
    by_index = {t.index: t for t in call.turns}
    for ti in sorted(found):
        t = by_index[ti]
        words = _merge(found[ti])
        chars = [(t.spans[a][0], t.spans[b][1]) for a, b in words]
        quote, marks = _quote(t.text, chars)
        hits.append(Hit(call.call_id, t.index, t.start, t.end, t.speaker, quote, marks, call.meta))
    return hits


def match_call(query: str | Query, call: Mapping[str, Any] | PreparedCall) -> list[Hit]:
    """Hits of `query` in one stored call: `call` is a stored call result (its redacted
    transcript, language, duration and metadata; `Store.get`) or a PreparedCall. A query
    string is parsed (QuerySyntaxError on bad syntax); filters apply to the call's metadata."""
    prepared = call if isinstance(call, PreparedCall) else prepare_call(call)
    return evaluate(query, prepared)
