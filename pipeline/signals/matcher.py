"""Phrase patterns from the lexicons and scripts, compiled once per language and
matched against a call's token stream by lemma (or exact form).

Pattern syntax (see configs/lexicons/ru.yaml): words separated by spaces;
``a|b`` alternatives; ``word?`` optional; ``=word`` exact form; ``...`` up to
`long_gap` words; ``{number}``, ``{company}``, ``{name}``, ``{any}`` classes.
A match stays inside one sentence; `gap` extra words may stand between
consecutive pattern words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from callqa.pipeline.signals import nlp
from callqa.pipeline.signals.settings import PATTERN_CLASSES as CLASSES
from callqa.pipeline.signals.settings import Entry
from callqa.pipeline.signals.text import CallTokens


class PatternError(ValueError):
    """A pattern that cannot be compiled; the caller names the config key."""


@dataclass(frozen=True)
class Elem:
    forms: frozenset[str]
    lemmas: frozenset[str]
    cls: str | None = None
    optional: bool = False
    long_gap: bool = False  # "..." stands before this element
    at_start: bool = False  # "^": the match begins a sentence


@dataclass(frozen=True, eq=False)
class Pattern:
    category: str
    key: str  # reported id
    elems: tuple[Elem, ...]
    gap: int
    entry: Entry | None = None
    value: float | None = None  # e.g. sentiment valence
    required: tuple[frozenset[str], ...] = ()  # words the sentence must hold (quick rejection)
    indexed: bool = False  # found through its first word (so that word is known to match)


@dataclass(frozen=True, eq=False)
class Match:
    pattern: Pattern
    first: int  # token indexes, inclusive
    last: int
    positions: tuple[int, ...]  # token index per element (-1 when an optional element was skipped)

    @property
    def category(self) -> str:
        return self.pattern.category

    @property
    def key(self) -> str:
        return self.pattern.key


def _word(alt: str, lang: str, mode: str) -> list[tuple[frozenset[str], frozenset[str]]]:
    exact = alt.startswith("=")
    raw = alt[1:] if exact else alt
    toks = [t for t in nlp.analyze(raw, lang) if t.is_word]
    if not toks:
        raise PatternError(f"{alt!r} has no word in it")
    out = []
    for t in toks:
        lemmas = frozenset() if exact or mode == "form" else frozenset({t.lemma})
        out.append((frozenset({t.norm}), lemmas))
    return out


def compile_pattern(text: str, lang: str, mode: str = "lemma") -> tuple[Elem, ...]:
    """One pattern string -> its elements."""
    elems: list[Elem] = []
    long_gap = False
    chunks = text.split()
    at_start = bool(chunks) and chunks[0] == "^"
    if at_start:
        chunks = chunks[1:]
    for chunk in chunks:
        if chunk in ("...", "…"):
            long_gap = True
            continue
        optional = len(chunk) > 1 and chunk.endswith("?")
        if optional:
            chunk = chunk[:-1]
        chunk = chunk.strip("()")
        if chunk.startswith("{") and chunk.endswith("}"):
            cls = chunk[1:-1]
            if cls not in CLASSES:
                raise PatternError(f"unknown class {chunk} (known: {', '.join('{' + c + '}' for c in CLASSES)})")
            elems.append(Elem(frozenset(), frozenset(), cls, optional, long_gap))
            long_gap = False
            continue
        alts = [a for a in chunk.split("|") if a]
        if not alts:
            raise PatternError(f"empty word in {text!r}")
        parts = [_word(a, lang, mode) for a in alts]
        if len(alts) == 1 and len(parts[0]) > 1:  # "don't" -> do n't
            for k, (forms, lemmas) in enumerate(parts[0]):
                elems.append(Elem(forms, lemmas, None, optional, long_gap and k == 0))
        else:
            if any(len(p) > 1 for p in parts):
                raise PatternError(f"alternatives in {chunk!r} must be single words")
            elems.append(Elem(frozenset().union(*(p[0][0] for p in parts)),
                              frozenset().union(*(p[0][1] for p in parts)), None, optional, long_gap))
        long_gap = False
    if not elems:
        raise PatternError(f"pattern {text!r} has no words")
    if all(e.optional for e in elems):
        raise PatternError(f"pattern {text!r} has only optional words")
    if at_start:
        elems[0] = replace(elems[0], at_start=True)
    return tuple(elems)


class Matcher:
    """All patterns of one language, indexed by the words they can start with."""

    def __init__(self, lang: str, company_names: Iterable[str], number_words: Iterable[str],
                 name_stopwords: Iterable[str], long_gap: int, fuzzy_min: float = 85.0):
        self.lang = lang
        self.long_gap = long_gap
        self.number_words = frozenset(nlp.normalise(w) for w in number_words)
        self.name_stop = frozenset(nlp.normalise(w) for w in name_stopwords)
        self.companies: list[tuple[Elem, ...]] = []
        # fuzzy forms of the names (an ASR-mangled "North wind bank", "Nortwind"): the whole name without
        # spaces, and its longest word when distinctive (>= 5 letters); (joined form, words it may span)
        self.fuzzy: list[tuple[str, int]] = []
        self.fuzzy_min = fuzzy_min
        for name in company_names:
            ws = [nlp.normalise(w) for w in name.replace("?", " ").replace("|", " ").split()]
            ws = [w for w in ws if w]
            if ws:
                self.fuzzy.append(("".join(ws), len(ws) + 1))
                longest = max(ws, key=len)
                if len(longest) >= 5 and len(ws) > 1:
                    self.fuzzy.append((longest, 2))
        for name in company_names:
            try:
                self.companies.append(compile_pattern(name.replace("?", " ").replace("|", " "), lang))
            except PatternError:
                continue
        self.by_form: dict[str, list[Pattern]] = {}  # first word's exact forms
        self.by_lemma: dict[str, list[Pattern]] = {}  # first word's lemmas
        self.anywhere: list[Pattern] = []
        self.categories: set[str] = set()

    def add(self, pattern: Pattern) -> Pattern:
        """Index `pattern`; returns the stored copy (with its quick-rejection sets)."""
        first = pattern.elems[0]
        indexed = first.cls is None and not first.optional
        req = tuple(e.forms | e.lemmas for k, e in enumerate(pattern.elems)
                    if e.cls is None and not e.optional and not (k == 0 and indexed))
        pattern = replace(pattern, required=req, indexed=indexed)
        self.categories.add(pattern.category)
        if not indexed:
            self.anywhere.append(pattern)
            return pattern
        for key in first.forms:
            self.by_form.setdefault(key, []).append(pattern)
        for key in first.lemmas - first.forms:
            self.by_lemma.setdefault(key, []).append(pattern)
        for key in first.lemmas & first.forms:
            self.by_lemma.setdefault(key, []).append(pattern)
        return pattern

    # --- element tests ------------------------------------------------------

    def is_number(self, toks: CallTokens, j: int) -> bool:
        n = toks.norm[j]
        return (n[:1].isdigit() or (n.startswith("[") and n.endswith("]")) or n in self.number_words
                or toks.lemma[j] in self.number_words)

    def _elem_len(self, e: Elem, toks: CallTokens, j: int, stop: int) -> int:
        """How many tokens element `e` matches at j (0: no match)."""
        if e.cls is None:
            return 1 if (toks.norm[j] in e.forms or toks.lemma[j] in e.lemmas) else 0
        if e.cls == "any":
            return 1
        if e.cls == "number":  # a run of number words / digits in one sentence ("4 7 2 9")
            k = j
            while k < stop and self.is_number(toks, k):
                k += 1
            return k - j
        if e.cls == "name":
            n = toks.norm[j]
            return 1 if (toks.cap[j] and n.isalpha() and n not in self.name_stop) else 0
        if e.cls == "company":
            for seq in self.companies:
                k = 0
                while k < len(seq) and j + k < stop and self._elem_len(seq[k], toks, j + k, stop):
                    k += 1
                if k == len(seq):
                    return k
            return self._fuzzy_company(toks, j, stop)
        return 0

    def _fuzzy_company(self, toks: CallTokens, j: int, stop: int) -> int:
        """Tokens from j that spell a company name with small ASR errors (rapidfuzz ratio >= fuzzy_min)."""
        if not self.fuzzy or not self.fuzzy_min or not toks.norm[j][:1].isalpha():
            return 0
        from rapidfuzz import fuzz

        best, best_len = 0.0, 0
        for target, max_words in self.fuzzy:
            joined = ""
            for k in range(max_words):
                if j + k >= stop or (k and toks.punct_before[j + k]):
                    break
                joined += toks.norm[j + k]
                if len(joined) < 4:
                    continue
                score = fuzz.ratio(joined, target)
                if score >= self.fuzzy_min and score > best:
                    best, best_len = score, k + 1
        return best_len

    def _from(self, p: Pattern, k: int, pos: int, stop: int, path: list[int], started: bool,
              toks: CallTokens) -> bool:
        elems = p.elems
        if k == len(elems):
            return True
        e = elems[k]
        skip = (self.long_gap if e.long_gap else p.gap) if started else 0
        hi = min(pos + skip + 1, stop)
        if e.cls is None:
            forms, lemmas, norm, lemma = e.forms, e.lemmas, toks.norm, toks.lemma
            for j in range(pos, hi):
                if norm[j] in forms or lemma[j] in lemmas:
                    path.append(j)
                    if self._from(p, k + 1, j + 1, stop, path, True, toks):
                        return True
                    path.pop()
        else:
            for j in range(pos, hi):
                n = self._elem_len(e, toks, j, stop)
                if n:
                    path.append(j)
                    if self._from(p, k + 1, j + n, stop, path, True, toks):
                        return True
                    path.pop()
        if e.optional:
            path.append(-1)
            if self._from(p, k + 1, pos, stop, path, started, toks):
                return True
            path.pop()
        return False

    def match_at(self, p: Pattern, toks: CallTokens, i: int, first_ok: bool = False) -> Match | None:
        """The match of `p` starting at token i, if any. `first_ok`: its first word is known to match."""
        elems = p.elems
        if elems[0].at_start and toks.sentences[toks.sent[i]][0] != i:
            return None
        if first_ok and len(elems) == 1:
            return Match(p, i, i, (i,))
        if p.required:
            bag = toks.bag(toks.sent[i])
            for keys in p.required:
                if keys.isdisjoint(bag):
                    return None
        stop = toks.sent_end(i)
        if first_ok:
            path = [i]
            if not self._from(p, 1, i + 1, stop, path, True, toks):
                return None
        else:
            path = []
            if not self._from(p, 0, i, stop, path, False, toks):
                return None
            if next(x for x in path if x >= 0) != i:
                return None
        last_elem = max(k for k, x in enumerate(path) if x >= 0)
        last = path[last_elem]
        if elems[last_elem].cls in ("company", "number"):
            last += self._elem_len(elems[last_elem], toks, last, stop) - 1
        return Match(p, i, last, tuple(path))

    def candidates(self, toks: CallTokens, i: int) -> list[Pattern]:
        """Patterns whose first word matches token i (plus those that start with a class)."""
        a = self.by_form.get(toks.norm[i])
        b = self.by_lemma.get(toks.lemma[i])
        if a and b:
            out = list(dict.fromkeys(a + b))
        else:
            out = list(a or b or ())
        if self.anywhere:
            out.extend(self.anywhere)
        return out

    def search(self, patterns: list[Pattern], toks: CallTokens, lo: int, hi: int) -> Match | None:
        """The first match of any of `patterns` starting in token range [lo, hi)."""
        for i in range(lo, min(hi, len(toks))):
            for p in patterns:
                m = self.match_at(p, toks, i)
                if m is not None:
                    return m
        return None


def _neighbour_in(words: frozenset[str], toks: CallTokens, j: int) -> bool:
    return toks.norm[j] in words or toks.lemma[j] in words


@dataclass(frozen=True)
class EntryRules:
    not_after: frozenset[str]
    not_before: frozenset[str]
    unless: tuple[Pattern, ...]
    within: int
    otherwise: str | None
    after_window: int = 1
    not_inside: frozenset[str] = frozenset()
    preceded: tuple[Pattern, ...] = ()
    within_before: int = 6
    still_before: tuple[Pattern, ...] = ()
    min_probability: float | None = None


def compile_rules(entry: Entry, lang: str, category: str) -> EntryRules | None:
    if not (entry.not_after or entry.not_before or entry.unless_followed_by or entry.not_inside
            or entry.unless_preceded_by or entry.min_probability is not None):
        return None

    def words(ws: list[str]) -> frozenset[str]:
        out: set[str] = set()
        for w in ws:
            n = nlp.normalise(w)
            out.add(n)
            out.add(nlp.lemma(n, lang))
        return frozenset(out)

    def patterns(texts: list[str], rule: str) -> tuple[Pattern, ...]:
        # no quick-rejection sets: unless_followed_by patterns are searched across sentences
        return tuple(Pattern(f"{category}:{rule}", entry.key, compile_pattern(u, lang), 1) for u in texts)

    return EntryRules(words(entry.not_after), words(entry.not_before), patterns(entry.unless_followed_by, "unless"),
                      entry.within, entry.otherwise, entry.after_window, words(entry.not_inside),
                      patterns(entry.unless_preceded_by, "preceded"), entry.within_before,
                      patterns(entry.still_before, "still_before"), entry.min_probability)


def apply_rules(m: Match, rules: EntryRules, matcher: Matcher, toks: CallTokens) -> str:
    """'keep', 'drop', or 'otherwise' (an unless_followed_by pattern cancelled it)."""
    t = toks.turn[m.first]
    if rules.min_probability is not None and toks.prob \
            and min(toks.prob[m.first:m.last + 1]) < rules.min_probability:
        return "drop"
    # the words before, within the same clause (a comma or other punctuation ends the scope)
    for prev in range(m.first - 1, max(-1, m.first - 1 - rules.after_window), -1):
        if not rules.not_after or toks.turn[prev] != t or toks.punct_before[prev + 1]:
            break
        if _neighbour_in(rules.not_after, toks, prev):
            return "drop"
    if rules.not_inside:  # a negation filling a gap of the pattern: "это не ваша проблема"
        used = set(m.positions)
        if any(j not in used and _neighbour_in(rules.not_inside, toks, j) for j in range(m.first, m.last + 1)):
            return "drop"
    if rules.preceded:  # "я не говорю, что ...": the phrase is denied, not said
        lo = max(toks.sentences[toks.sent[m.first]][0], m.first - rules.within_before)
        for i in range(lo, m.first):
            for p in rules.preceded:
                pm = matcher.match_at(p, toks, i)
                if pm is not None and pm.last < m.first:
                    return "drop"
    nxt = m.last + 1
    if rules.not_before and nxt < len(toks) and toks.turn[nxt] == t and not toks.punct_after[m.last]:
        if _neighbour_in(rules.not_before, toks, nxt) \
                and not any(matcher.match_at(p, toks, nxt) is not None for p in rules.still_before):
            return "drop"
    if rules.unless:
        hi = nxt + rules.within
        turn_end = toks.turn_first[t + 1] if t + 1 < len(toks.turn_first) else len(toks)
        if matcher.search(list(rules.unless), toks, nxt, min(hi, turn_end)) is not None:
            return "otherwise"
    return "keep"


def resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Within one category: leftmost, then longest; matches never share tokens."""
    out: list[Match] = []
    last_end = -1
    for m in sorted(matches, key=lambda m: (m.first, -(m.last - m.first))):
        if m.first > last_end:
            out.append(m)
            last_end = m.last
    return out
