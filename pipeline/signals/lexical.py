"""Signals that come from words: filler words, key phrases, forbidden phrases,
escalations, questions, script stages and the lexicon sentiment's hits.

Everything is matched in one pass over the call's tokens with one `Matcher`
per language (compiled once per configuration) and carries its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from typing import Any

from callqa.pipeline.config import Config, default_config_dir
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.types import CallMeta
from callqa.pipeline.signals.matcher import (EntryRules, Match, Matcher, Pattern, PatternError, apply_rules, compile_pattern,
                      compile_rules, resolve_overlaps)
from callqa.pipeline.signals.settings import PHRASE_KINDS, Category, Lexicon, Script, SignalsConfig
from callqa.pipeline.signals.text import CallTokens

LEXICON_CATEGORIES = tuple(k for k in Lexicon.model_fields if k not in ("tokens", "sentiment"))
SENTIMENT = "_sentiment"
GLOSSARY = "glossary"


@dataclass
class Compiled:
    """Everything needed to read one language's calls under one configuration."""

    lang: str
    lexicon: Lexicon
    matcher: Matcher
    rules: dict[int, EntryRules]  # id(pattern) -> its entry's rules
    speakers: dict[str, str]  # category -> operator | client | any
    scripts: dict[str, Script]
    has_company: bool
    # glossary terms matched fuzzily: (pattern, target forms joined without spaces, words it may span)
    glossary_fuzzy: list[tuple[Pattern, tuple[str, ...], int]] = field(default_factory=list)
    fuzzy_min: float = 0.0
    cand_cache: dict[tuple[str, str, str], tuple[Pattern, ...]] = field(default_factory=dict)
    syllable_cache: dict[str, int] = field(default_factory=dict)
    nlp: Any = None  # nlp.LangNLP: how this language's words are split and lemmatised (configs/languages.yaml)


def _file_for(config: Config, tail: str, key: str | None = None) -> str:
    """The file that set `key`: a user's file that holds it, else the default file."""
    if key is not None:
        defaults = default_config_dir().resolve()
        for f in reversed(config.files):
            path = Path(f)
            if defaults in path.resolve().parents:
                continue
            try:
                node = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            for part in key.split("."):
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    break
            else:
                return f
    for f in reversed(config.files):
        if f.replace("\\", "/").endswith(tail):
            return f
    return str(default_config_dir() / tail)


def compile_language(config: Config, lang: str) -> Compiled:
    """Compile the lexicon, glossary, sentiment phrases and scripts of `lang` (a code of languages.known)."""
    from callqa.pipeline.signals import nlp

    lex_key = f"lexicons.{lang}"
    try:
        lexicon: Lexicon = config.section(lex_key)
    except KeyError:
        raise ConfigError(_file_for(config, f"lexicons/{lang}.yaml"), lex_key, "no lexicon for this language") from None
    try:
        code, lang = lang, nlp.for_config(config, lang)  # patterns are analysed as the calls will be
    except ValueError as e:
        raise ConfigError(_file_for(config, "languages.yaml"), f"languages.known.{lang}", str(e)) from None
    sig: SignalsConfig = config.section("signals")
    company = config.section("company")
    matcher = Matcher(lang, company.names, lexicon.tokens.number_words, lexicon.tokens.not_names, sig.long_gap_words,
                      company.fuzzy_min)
    rules: dict[int, EntryRules] = {}
    speakers: dict[str, str] = {}
    lex_file = _file_for(config, f"lexicons/{code}.yaml")

    def add(category: str, key: str, text: str, mode: str, gap: int, where: str, entry: Any = None,
            value: float | None = None, file: str = lex_file) -> Pattern:
        try:
            elems = compile_pattern(text, lang, mode)
        except PatternError as e:
            key = where[:-5] if where.endswith(".text") else where
            raise ConfigError(_file_for(config, file, key), where, str(e)) from None
        return matcher.add(Pattern(category, key, elems, gap, entry, value))

    for cat in LEXICON_CATEGORIES:
        spec: Category = getattr(lexicon, cat)
        speakers[cat] = spec.speaker
        for i, entry in enumerate(spec.entries):
            where = f"{lex_key}.{cat}.entries.{i}"
            p = add(cat, entry.key, entry.text, spec.match, spec.gap if entry.gap is None else entry.gap,
                    where + ".text", entry)
            try:
                r = compile_rules(entry, lang, cat)
            except PatternError as e:
                raise ConfigError(_file_for(config, lex_file, where), where, str(e)) from None
            if r is not None:
                if r.otherwise is not None and r.otherwise not in LEXICON_CATEGORIES:
                    raise ConfigError(lex_file, where + ".otherwise", f"unknown category {r.otherwise!r}")
                rules[id(p)] = r
    speakers[GLOSSARY] = "operator"
    glossary_fuzzy: list[tuple[Pattern, tuple[str, ...], int]] = []
    for i, term in enumerate(company.glossary.get(code, [])):
        p = add(GLOSSARY, term, term, "lemma", 0, f"company.glossary.{code}.{i}",
                file=_file_for(config, "company.yaml"))
        targets = _fuzzy_targets(term, lang)
        if targets:
            glossary_fuzzy.append((p, targets, len(term.split()) + 1))
    sent = lexicon.sentiment
    speakers[SENTIMENT] = "any"
    for sign, table in ((1.0, sent.positive), (-1.0, sent.negative)):
        for word, strength in table.items():
            add(SENTIMENT, word, word, "lemma", 0, f"{lex_key}.sentiment.{word}", value=sign * strength)
    for i, phrase in enumerate(sent.neutral):  # the longest match wins: "плохо слышно" over "плохо"
        add(SENTIMENT, phrase, phrase, "lemma", 0, f"{lex_key}.sentiment.neutral.{i}", value=0.0)
    scripts: dict[str, Script] = {}
    for name in (config.get(f"scripts.{code}", {}) or {}):
        script: Script = config.section(f"scripts.{code}.{name}")
        scripts[name] = script
        sfile = _file_for(config, f"scripts/{code}/{name}.yaml")
        for si, stage in enumerate(script.stages):
            cat = f"stage:{name}:{stage.id}"
            speakers[cat] = stage.speaker
            for pi, text in enumerate(stage.patterns):
                add(cat, stage.id, text, "lemma", stage.gap, f"scripts.{code}.{name}.stages.{si}.patterns.{pi}",
                    file=sfile)
    return Compiled(code, lexicon, matcher, rules, speakers, scripts, bool(company.names),
                    glossary_fuzzy if company.fuzzy_min > 0 else [], company.fuzzy_min, nlp=lang)


FUZZY_MIN_CHARS = 5  # shorter terms ("СБП", "PIN") match exactly only: one letter off is another word


def _fold(s: str) -> str:
    """Spelling variants ASR systems swap freely: ё/е, э/е ("кэшбек", "кешбэк")."""
    return s.replace("ё", "е").replace("э", "е")


def _fuzzy_targets(term: str, lang: Any) -> tuple[str, ...]:
    """A glossary term's words joined without spaces, as forms and as lemmas ("кредитная карта" ->
    "кредитнаякарта", "кредитныйкарта"); empty when too short to match fuzzily."""
    from callqa.pipeline.signals import nlp

    words = [nlp.normalise(w) for w in term.split()]
    words = [w for w in words if w and w not in ("...", "…") and not w.startswith("{")]
    if not words or sum(len(w) for w in words) < FUZZY_MIN_CHARS:
        return ()
    forms = _fold("".join(words))
    lemmas = _fold("".join(nlp.lemma(w, lang) for w in words))
    return tuple(dict.fromkeys((forms, lemmas)))


def fuzzy_glossary(comp: Compiled, toks: CallTokens, speakers: list[str], exact: list[Match]) -> list[Match]:
    """Glossary terms the ASR spelled a little differently ("кэшбек", "cash back"): one to n+1 operator
    words of one clause whose joined form or lemma has a rapidfuzz ratio >= company.fuzzy_min with the
    term; where an exact match already is, nothing is added."""
    if not comp.glossary_fuzzy or not len(toks):
        return []
    from rapidfuzz import fuzz

    taken = {j for m in exact for j in range(m.first, m.last + 1)}
    out: list[Match] = []
    n = len(toks)
    for i in range(n):
        if i in taken or speakers[toks.turn[i]] != "operator" or not toks.norm[i][:1].isalpha():
            continue
        best: tuple[float, int, Pattern] | None = None
        for pat, targets, max_words in comp.glossary_fuzzy:
            forms = lemmas = ""
            for k in range(max_words):
                j = i + k
                if j >= n or j in taken or toks.turn[j] != toks.turn[i] or (k and toks.punct_before[j]):
                    break
                forms += _fold(toks.norm[j])
                lemmas += _fold(toks.lemma[j])
                for target in targets:
                    if abs(len(forms) - len(target)) > max(2, len(target) // 3):
                        continue
                    score = max(fuzz.ratio(forms, target), fuzz.ratio(lemmas, target))
                    if score >= comp.fuzzy_min and (best is None or score > best[0]):
                        best = (score, j, pat)
        if best is not None:
            out.append(Match(best[2], i, best[1], tuple(range(i, best[1] + 1))))
            taken.update(range(i, best[1] + 1))
    return out


_CACHE: dict[tuple[str, str], Compiled] = {}


def compiled_for(config: Config, lang: str) -> Compiled:
    """Compiled patterns for (configuration, language); built once."""
    key = (config.hash, lang)
    c = _CACHE.get(key)
    if c is None:
        if len(_CACHE) > 16:
            _CACHE.clear()
        c = _CACHE[key] = compile_language(config, lang)
    return c


# --- matching -----------------------------------------------------------------

def _speaker_ok(want: str, speaker: str) -> bool:
    return want == "any" or want == speaker


def _candidates(comp: Compiled, norm: str, lemma: str, speaker: str) -> tuple[Pattern, ...]:
    """Patterns that may start at a token (its words, its speaker); cached per (form, lemma, speaker)."""
    key = (norm, lemma, speaker)
    c = comp.cand_cache.get(key)
    if c is None:
        if len(comp.cand_cache) > 300_000:
            comp.cand_cache.clear()
        m = comp.matcher
        found = list(m.by_form.get(norm, ())) + [p for p in m.by_lemma.get(lemma, ()) if p not in m.by_form.get(norm, ())]
        found.extend(m.anywhere)
        c = comp.cand_cache[key] = tuple(
            p for p in found if comp.speakers.get(p.category, "any") in ("any", speaker))
    return c


def match_call(comp: Compiled, toks: CallTokens, speakers: list[str]) -> dict[str, list[Match]]:
    """Matches per category: speaker-filtered, entry rules applied, overlaps resolved."""
    raw: dict[str, list[Match]] = {}
    matcher = comp.matcher
    norms, lemmas, turns, sents = toks.norm, toks.lemma, toks.turn, toks.sent
    cache = comp.cand_cache
    last_sent, last_bag = -1, frozenset()
    for i in range(len(toks)):
        spk = speakers[turns[i]]
        cands = cache.get((norms[i], lemmas[i], spk))
        if cands is None:
            cands = _candidates(comp, norms[i], lemmas[i], spk)
        if not cands:
            continue
        bag = None
        for p in cands:
            if p.required:
                if bag is None:
                    if sents[i] != last_sent:
                        last_sent, last_bag = sents[i], toks.bag(sents[i])
                    bag = last_bag
                ok = True
                for keys in p.required:
                    if keys.isdisjoint(bag):
                        ok = False
                        break
                if not ok:
                    continue
            if p.indexed and len(p.elems) == 1 and not p.elems[0].at_start:
                m = Match(p, i, i, (i,))
            else:
                m = matcher.match_at(p, toks, i, first_ok=p.indexed)
                if m is None:
                    continue
            cat = p.category
            rules = comp.rules.get(id(p))
            if rules is not None:
                verdict = apply_rules(m, rules, matcher, toks)
                if verdict == "drop":
                    continue
                if verdict == "otherwise":
                    if rules.otherwise is not None:
                        raw.setdefault("@" + rules.otherwise, []).append(m)
                    continue
            raw.setdefault(cat, []).append(m)
    out: dict[str, list[Match]] = {}
    for cat, ms in raw.items():
        out[cat] = resolve_overlaps(ms)
    for cat in [c for c in out if c.startswith("@")]:  # cancelled matches recorded elsewhere
        out[cat[1:]] = resolve_overlaps(out.get(cat[1:], []) + out.pop(cat))
    fuzzy = fuzzy_glossary(comp, toks, speakers, out.get(GLOSSARY, []))
    if fuzzy:
        out[GLOSSARY] = resolve_overlaps(out.get(GLOSSARY, []) + fuzzy)
    return out


def ev(m: Match | tuple[int, int], toks: CallTokens, speakers: list[str], **extra: Any) -> dict[str, Any]:
    """Evidence of a match (or a (first, last) token span)."""
    first, last = (m.first, m.last) if isinstance(m, Match) else m
    d = {"start": round(toks.start[first], 3), "end": round(toks.end[last], 3),
         "speaker": speakers[toks.turn[first]], "quote": toks.quote(first, last), "turn": toks.turn[first]}
    if isinstance(m, Match) and "id" not in extra:
        d["id"] = m.key
    d.update(extra)
    return d


# --- signals ---------------------------------------------------------------------

def _count_words(toks: CallTokens, speakers: list[str]) -> dict[str, int]:
    out = {"operator": 0, "client": 0}
    for t in toks.turn:
        s = speakers[t]
        if s in out:
            out[s] += 1
    return out


def fillers(found: dict[str, list[Match]], toks: CallTokens, speakers: list[str], words: dict[str, int]) -> dict:
    items, by_text = [], {}
    for m in found.get("fillers", []):
        e = ev(m, toks, speakers)
        items.append({"text": m.key, "start": e["start"], "end": e["end"], "speaker": e["speaker"],
                      "quote": e["quote"], "turn": e["turn"]})
        by_text[m.key] = by_text.get(m.key, 0) + 1
    n_words = words.get("operator", 0)
    return {"count": len(items), "per_100_words": round(100.0 * len(items) / n_words, 3) if n_words else None,
            "items": items, "by_text": by_text}


def _same_turn(matches: list[Match], toks: CallTokens, turn: int) -> list[Match]:
    return [m for m in matches if toks.turn[m.first] == turn]


def questions(comp: Compiled, found: dict[str, list[Match]], toks: CallTokens,
              speakers: list[str]) -> tuple[list[dict], list[dict]]:
    """Operator questions, open or closed (excluding "how can I help"-type ones)."""
    starts_open = {m.first for m in found.get("open_question", [])}
    starts_closed = {m.first for m in found.get("closed_question", [])}
    excluded = set()
    for cat in ("question_exclude", "name_request"):  # "how can I help?", "may I have your name?"
        for m in found.get(cat, []):
            excluded.add(toks.sent[m.first])
    open_q, closed_q = [], []
    for si, (first, last, qmark) in enumerate(toks.sentences):
        turn = toks.turn[first]
        if speakers[turn] != "operator" or si in excluded:
            continue
        head = range(first, min(last + 1, first + 5))
        is_open = any(j in starts_open for j in head)
        begin = first
        if not qmark:
            if toks.turn_punctuated[turn]:
                continue
            # unpunctuated text: a question only when it starts like one
            if not (is_open and first in starts_open) and first not in starts_closed:
                continue
        elif not is_open:
            # the ASR often runs a statement and the question into one sentence with a comma ("I understand,
            # that must be worrying, when did you last use the card?"): a clause that starts like an open
            # question makes it one, quoted from that clause
            clause = first
            for j in range(first + 1, last + 1):
                clause = j if toks.punct_before[j] else clause
                if j >= first + 5 and j in starts_open and j - clause < 5:
                    is_open, begin = True, clause
                    break
        e = ev((begin, last), toks, speakers)
        (open_q if is_open else closed_q).append(e)
    return open_q, closed_q


def client_name_evidence(comp: Compiled, found: dict[str, list[Match]], toks: CallTokens,
                         speakers: list[str]) -> list[dict]:
    """The operator addresses the client by name: a name the client gave ("меня зовут Анна", or the answer to
    "как к вам обращаться?"), or an address form ("Mr. Brown")."""
    names: set[str] = set()
    for m in found.get("client_intro", []):
        for e, pos in zip(m.pattern.elems, m.positions):
            if e.cls == "name" and pos >= 0:
                names.add(toks.lemma[pos])
    for m in found.get("name_request", []):
        turn = toks.turn[m.first]
        nxt = next((t for t in range(turn + 1, len(speakers)) if speakers[t] == "client"), None)
        if nxt is None or nxt >= len(toks.turn_first):
            continue
        a = toks.turn_first[nxt]
        b = toks.turn_first[nxt + 1] if nxt + 1 < len(toks.turn_first) else len(toks)
        for j in range(a, min(b, a + 8)):
            if toks.cap[j] and toks.norm[j].isalpha() and toks.norm[j] not in comp.matcher.name_stop:
                names.add(toks.lemma[j])
    spans: dict[int, tuple[int, int]] = {}
    for m in found.get("address_forms", []):
        spans[m.first] = (m.first, m.last)
    covered = {j for a, b in spans.values() for j in range(a, b + 1)}
    prev = None
    for i in range(len(toks)):
        if i not in covered and speakers[toks.turn[i]] == "operator" and toks.cap[i] and toks.lemma[i] in names:
            if prev is not None and spans[prev][1] == i - 1 and toks.sent[i] == toks.sent[prev] \
                    and not toks.punct_before[i]:
                spans[prev] = (prev, i)  # "Павел Петрович": one address
            else:
                spans[i] = (i, i)
                prev = i
    return [ev(spans[k], toks, speakers, id="client_name") for k in sorted(spans)]


def greeting_company(comp: Compiled, found: dict[str, list[Match]], toks: CallTokens, speakers: list[str],
                     company_matches: list[Match]) -> list[dict]:
    """A greeting and the company's name in one of the operator's first two turns."""
    op_turns = []
    for t, s in enumerate(speakers):
        if s == "operator":
            op_turns.append(t)
        if len(op_turns) == 2:
            break
    out = []
    for t in op_turns:
        greet = _same_turn(found.get("greeting", []), toks, t)
        names = _same_turn(company_matches, toks, t)
        if greet and names:
            first = min(greet[0].first, names[0].first)
            last = max(greet[0].last, names[0].last)
            out.append(ev((first, last), toks, speakers, id="greeting_company"))
            break
    return out


def company_mentions(comp: Compiled, found: dict[str, list[Match]], toks: CallTokens) -> list[Match]:
    """Where the company is named: one of company.names, else a generic "компания X"."""
    if not comp.has_company:
        return found.get("company_generic", [])
    out = []
    pat = _company_pattern(comp.nlp)
    for i in range(len(toks)):
        m = comp.matcher.match_at(pat, toks, i)
        if m is not None:
            out.append(m)
    return out


@lru_cache(maxsize=None)
def _company_pattern(lang: Any) -> Pattern:
    return Pattern("_company", "company", compile_pattern("{company}", lang), 0)


def choose_script(comp: Compiled, meta: CallMeta | None, sig: SignalsConfig) -> str | None:
    name = sig.scripts.default
    if meta is not None:
        if meta.role and meta.role in sig.scripts.by_role:
            name = sig.scripts.by_role[meta.role]
        if meta.direction and meta.direction in sig.scripts.by_direction:
            name = sig.scripts.by_direction[meta.direction]
        elif meta.role and meta.role in sig.scripts.by_direction and meta.role not in sig.scripts.by_role:
            name = sig.scripts.by_direction[meta.role]  # role "outbound" implies the outbound script
    if name in comp.scripts:
        return name
    return sig.scripts.default if sig.scripts.default in comp.scripts else None


def _in_window(stage: Any, start: float, span: tuple[float, float]) -> bool:
    w = stage.window
    if w is None:
        return True
    length = span[1] - span[0]
    limit = w.within_s if w.within_s is not None else w.within_share * length
    if w.within_s is not None and w.within_share is not None:
        limit = min(w.within_s, w.within_share * length)
    return (start - span[0]) <= limit if w.anchor == "start" else (span[1] - start) <= limit


def script_compliance(comp: Compiled, name: str | None, found: dict[str, list[Match]], toks: CallTokens,
                      speakers: list[str], span: tuple[float, float], company_matches: list[Match],
                      sig: SignalsConfig, open_questions: list[dict] = ()) -> dict | None:
    """Per stage: found, where, in its window, in the expected order; compliance = weighted share of
    required stages found (in their window / order when the configuration requires it). Windows count
    from the conversation's first word and back from its last (`span`), not from the recording's edges:
    a queue, ringback or dead air recorded before the operator picks up or after the call ends is not
    the operator's delay."""
    if name is None:
        return None
    script = comp.scripts[name]
    company_turns = {toks.turn[m.first] for m in company_matches}
    client_first = min((toks.start[toks.turn_first[t]] for t, s in enumerate(speakers)
                        if s == "client" and t < len(toks.turn_first) and toks.turn_first[t] < len(toks)
                        and toks.turn[toks.turn_first[t]] == t), default=float("inf"))
    prev_start = 0.0
    stages_out = []
    got = total = 0.0
    for stage in script.stages:
        matches = list(found.get(f"stage:{name}:{stage.id}", []))
        for cat in stage.lexicon:
            matches.extend(m for m in found.get(cat, []) if _speaker_ok(stage.speaker, speakers[toks.turn[m.first]]))
        if stage.question_only:
            matches = [m for m in matches if toks.sentences[toks.sent[m.first]][2]
                       or not toks.turn_punctuated[toks.turn[m.first]]]
        cands = [ev(m, toks, speakers) for m in matches]
        if stage.open_questions:
            cands.extend(q for q in open_questions if _speaker_ok(stage.speaker, q["speaker"]))
        if stage.require_company and comp.has_company:
            cands = [c for c in cands if c["turn"] in company_turns]
        if stage.after_client_speaks:
            cands = [c for c in cands if c["start"] >= client_first]
        cands.sort(key=lambda c: (c["start"], c["end"]))
        windowed = [c for c in cands if _in_window(stage, c["start"], span)]
        ordered = [c for c in windowed if c["start"] >= prev_start - 1e-9] if stage.ordered else windowed
        pick = (ordered or windowed or cands or [None])[0]
        found_ = pick is not None
        in_window = found_ and any(pick is c for c in windowed)
        in_order = found_ and (not stage.ordered or pick["start"] >= prev_start - 1e-9)
        if found_ and in_order and stage.ordered:
            prev_start = pick["start"]
        entry = {"id": stage.id, "found": found_, "required": stage.required, "weight": stage.weight,
                 "start": None, "end": None, "quote": None, "speaker": None, "turn": None,
                 "in_order": in_order if found_ else None, "in_window": in_window if found_ else None}
        if found_:
            entry.update({k: pick[k] for k in ("start", "end", "quote", "speaker", "turn")})
        stages_out.append(entry)
        if stage.required:
            total += stage.weight
            ok = found_ and (in_window or not sig.compliance.requires_window) and \
                (in_order or not sig.compliance.requires_order)
            got += stage.weight if ok else 0.0
    return {"script_id": script.id, "compliance": round(got / total, 4) if total else None, "stages": stages_out}


def phrase_evidence(comp: Compiled, found: dict[str, list[Match]], toks: CallTokens, speakers: list[str],
                    company_matches: list[Match]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for kind in PHRASE_KINDS:
        if kind == "greeting_company":
            out[kind] = greeting_company(comp, found, toks, speakers, company_matches)
        elif kind == "client_name":
            out[kind] = client_name_evidence(comp, found, toks, speakers)
        else:
            out[kind] = [ev(m, toks, speakers) for m in found.get(kind, [])]
    return out


def first_solution(found: dict[str, list[Match]], toks: CallTokens) -> float | None:
    starts = [toks.start[m.first] for m in found.get("resolution", [])]
    return round(min(starts), 3) if starts else None


def sentiment_hits(found: dict[str, list[Match]]) -> list[tuple[int, float]]:
    return [(m.first, m.pattern.value or 0.0) for m in found.get(SENTIMENT, [])]


def _syllables(word: str, vowels: frozenset[str], groups: bool) -> int:
    if groups:
        n, prev = 0, False
        for c in word:
            v = c in vowels
            if v and not prev:
                n += 1
            prev = v
        if n > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
            n -= 1  # silent final e
        return max(1, n) if any(c.isalpha() for c in word) else 0
    return sum(1 for c in word if c in vowels)


def syllables(toks: CallTokens, comp: Compiled, n_turns: int) -> list[int]:
    """Syllables per turn: vowels (Russian) or runs of vowels (English); cached per word."""
    vowels = frozenset(comp.lexicon.tokens.vowels)
    groups = comp.lexicon.tokens.syllables == "vowel_groups"
    cache = comp.syllable_cache
    out = [0] * n_turns
    for word, t in zip(toks.norm, toks.turn):
        n = cache.get(word)
        if n is None:
            if len(cache) > 200_000:
                cache.clear()
            n = cache[word] = _syllables(word, vowels, groups)
        out[t] += n
    return out


def backchannel_turns(toks: CallTokens, comp: Compiled, n_turns: int) -> list[bool]:
    """Turns made only of backchannel words ("угу", "mm-hmm"), at most three."""
    bc = frozenset(comp.lexicon.tokens.backchannels)
    counts = [0] * n_turns
    other = [False] * n_turns
    for norm, t in zip(toks.norm, toks.turn):
        counts[t] += 1
        if norm not in bc:
            other[t] = True
    return [0 < counts[t] <= 3 and not other[t] for t in range(n_turns)]


def words_per_turn(toks: CallTokens, n_turns: int) -> list[int]:
    out = [0] * n_turns
    for t in toks.turn:
        out[t] += 1
    return out


def word_count(toks: CallTokens, speakers: list[str]) -> dict[str, int]:
    return _count_words(toks, speakers)


