"""Call reasons without rules: unsupervised topics over what clients say.

Each call becomes the bag of its **client's lemmas** (the redacted transcript's client turns,
lemmatised like the search index: `query.word_keys`; stop words of the language, numbers,
redaction tags and words under three letters left out). Per language, the calls are weighted
by TF-IDF (scikit-learn, sublinear tf, words in at least `min_df` calls and at most `max_df`
of them) and clustered by k-means on the L2-normalised vectors (cosine geometry) with a fixed
seed, so the same calls give the same topics. A topic is named by the top terms of its
centroid and shown with its example calls (those nearest the centroid, each with the client's
turn that holds the most of the topic's terms).

`discover_topics(docs)` works on any mapping call id -> (language, lemmas);
`topics_for_store(store)` runs it on every stored call and keeps the model in
`STORE/topics.json`, recomputed when the stored analyses or the options change.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

TOPICS_FILE = "topics.json"
MODEL_VERSION = 1
MINIBATCH_ABOVE = 20_000  # calls of one language clustered by MiniBatchKMeans above this
_TAG = re.compile(r"^\[?[A-Z_]+\]?$")  # redaction tags: [PHONE], CARD


@dataclass(frozen=True)
class TopicOptions:
    """How topics are found. `n_topics`: per language; None picks about sqrt(calls / 2),
    between `min_topics` and `max_topics`."""

    n_topics: int | None = None
    min_topics: int = 2
    max_topics: int = 12
    min_df: int = 2
    max_df: float = 0.6
    top_terms: int = 5
    examples: int = 3
    min_calls: int = 4  # a language with fewer calls (with client words) gets no topics
    seed: int = 0


@dataclass(frozen=True)
class TopicExample:
    call_id: str
    start: float | None
    quote: str


@dataclass(frozen=True)
class Topic:
    id: str  # "<language>-<n>", n from 1 by size
    language: str
    terms: tuple[str, ...]  # lemmas, most typical first
    size: int
    examples: tuple[TopicExample, ...] = ()
    words: tuple[str, ...] = ()  # the terms as clients said them most often (for the name)

    @property
    def name(self) -> str:
        return ", ".join((self.words or self.terms)[:3])

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "language": self.language, "name": self.name, "terms": list(self.terms),
                "words": list(self.words), "size": self.size, "examples": [asdict(e) for e in self.examples]}


@dataclass(frozen=True)
class TopicModel:
    topics: tuple[Topic, ...]
    assignments: Mapping[str, str]  # call id -> topic id
    fingerprint: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def serialize(self) -> dict[str, Any]:
        return {"version": MODEL_VERSION, "fingerprint": self.fingerprint, "options": dict(self.options),
                "topics": [t.serialize() for t in self.topics], "assignments": dict(self.assignments)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TopicModel":
        """The model kept in `STORE/topics.json`; ValueError when it is not the shape `serialize`
        writes (an edited or damaged file), so the caller makes the model again."""

        def seq(v: Any, what: str) -> list[Any]:
            if not isinstance(v, list):
                raise ValueError(f"{what}: a list expected, got {type(v).__name__}")
            return v

        def strs(v: Any, what: str) -> tuple[str, ...]:
            items = seq(v, what)
            if not all(isinstance(x, str) for x in items):
                raise ValueError(f"{what}: strings expected")
            return tuple(items)

        def text(v: Any, what: str) -> str:
            if not isinstance(v, str) or not v:
                raise ValueError(f"{what}: a string expected")
            return v

        if not isinstance(data, Mapping):
            raise ValueError(f"topics: an object expected, got {type(data).__name__}")
        topics = []
        for t in seq(data.get("topics") or [], "topics"):
            if not isinstance(t, Mapping):
                raise ValueError("topics[]: an object expected")
            size = t.get("size")
            if isinstance(size, bool) or not isinstance(size, int):
                raise ValueError("topics[].size: an integer expected")
            examples = []
            for e in seq(t.get("examples") or [], "topics[].examples"):
                if not isinstance(e, Mapping):
                    raise ValueError("topics[].examples[]: an object expected")
                start = e.get("start")
                if start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))):
                    raise ValueError("topics[].examples[].start: a number expected")
                quote = e.get("quote") or ""
                if not isinstance(quote, str):
                    raise ValueError("topics[].examples[].quote: a string expected")
                examples.append(TopicExample(text(e.get("call_id"), "topics[].examples[].call_id"), start, quote))
            topics.append(Topic(text(t.get("id"), "topics[].id"), text(t.get("language"), "topics[].language"),
                                strs(t.get("terms"), "topics[].terms"), size, tuple(examples),
                                strs(t.get("words") or [], "topics[].words")))
        assignments = data.get("assignments") or {}
        if not isinstance(assignments, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in assignments.items()):
            raise ValueError("assignments: an object of call id -> topic id expected")
        options = data.get("options") or {}
        if not isinstance(options, Mapping):
            raise ValueError("options: an object expected")
        return cls(tuple(topics), dict(assignments), str(data.get("fingerprint") or ""), dict(options))


# ---------------------------------------------------------------- words


@lru_cache(maxsize=16)
def stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words of a language (lemmatised as the index does), none when spaCy has none."""
    try:
        from spacy.util import get_lang_class

        words = get_lang_class(lang).Defaults.stop_words
    except Exception:  # noqa: BLE001 - a language spaCy does not know: no stop list
        return frozenset()
    from callqa.pipeline.search.query import word_lemma

    return frozenset(words) | frozenset(word_lemma(w.lower()) for w in words)


def _content(lemma: str, stops: frozenset[str]) -> bool:
    return len(lemma) >= 3 and lemma.isalpha() and lemma not in stops and not _TAG.match(lemma)


def client_turns(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    turns = ((result.get("transcript") or {}).get("turns")) or []
    return [t for t in turns if t.get("speaker") == "client" and str(t.get("text") or "").strip()]


def turn_lemmas(text: str, lang: str) -> list[str]:
    from callqa.pipeline.search.query import word_keys

    stops = stop_words(lang)
    return [k[0] for k in word_keys(text, lang) if _content(k[0], stops)]


def client_lemmas(result: Mapping[str, Any]) -> list[str]:
    """The content lemmas the client said in a stored call result, in order."""
    lang = str(result.get("language") or "en")
    out: list[str] = []
    for t in client_turns(result):
        out.extend(turn_lemmas(str(t.get("text") or ""), lang))
    return out


# ---------------------------------------------------------------- clustering


def _n_topics(n_docs: int, opts: TopicOptions) -> int:
    if opts.n_topics is not None:
        k = opts.n_topics
    else:
        k = round(math.sqrt(n_docs / 2))
        k = max(opts.min_topics, min(opts.max_topics, k))
    return max(1, min(k, n_docs))


def _cluster(lang: str, ids: list[str], docs: list[list[str]], opts: TopicOptions) -> tuple[list[Topic], dict[str, str], dict[str, list[str]]]:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = min(opts.min_df, max(1, len(ids) // 2))
    vec = TfidfVectorizer(analyzer=lambda d: d, min_df=min_df, max_df=opts.max_df if len(ids) > 2 else 1.0,
                          sublinear_tf=True, norm="l2")
    try:
        x = vec.fit_transform(docs)
    except ValueError:  # no word is in enough calls
        return [], {}, {}
    keep = np.asarray(x.getnnz(axis=1) > 0)
    if keep.sum() < max(2, opts.min_calls):
        return [], {}, {}
    ids = [i for i, k in zip(ids, keep) if k]
    x = x[keep]
    k = _n_topics(len(ids), opts)
    if len(ids) > MINIBATCH_ABOVE:  # many calls: mini-batches (seconds instead of minutes), same seed
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(n_clusters=k, random_state=opts.seed, n_init=3, batch_size=4096)
    else:
        km = KMeans(n_clusters=k, random_state=opts.seed, n_init=10)
    labels = km.fit_predict(x)
    terms = np.asarray(vec.get_feature_names_out())
    centers = km.cluster_centers_
    sizes = np.bincount(labels, minlength=k)
    order = sorted(range(k), key=lambda c: (-int(sizes[c]), " ".join(terms[np.argsort(-centers[c])[:3]])))
    topics, assign, members = [], {}, {}
    for n, c in enumerate(order, 1):
        if sizes[c] == 0:
            continue
        tid = f"{lang}-{n}"
        top = tuple(str(terms[j]) for j in np.argsort(-centers[c], kind="stable")[: opts.top_terms] if centers[c][j] > 0)
        idx = np.where(labels == c)[0]
        sims = np.asarray(x[idx] @ centers[c]).ravel()
        near = [ids[idx[j]] for j in np.argsort(-sims, kind="stable")]
        for j in idx:
            assign[ids[j]] = tid
        members[tid] = near
        topics.append(Topic(tid, lang, top, int(sizes[c])))
    return topics, assign, members


def discover_topics(docs: Mapping[str, tuple[str, Sequence[str]]], options: TopicOptions | Mapping[str, Any] | None = None,
                    quotes: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> TopicModel:
    """Topics of some calls: `docs` maps call id -> (language, client lemmas). `quotes` (call
    id -> the client's turns {start, text}) gives the examples their quote. Deterministic:
    the same docs and options give the same model."""
    opts = options if isinstance(options, TopicOptions) else TopicOptions(**dict(options or {}))
    by_lang: dict[str, list[str]] = {}
    for cid in sorted(docs):
        lang, words = docs[cid]
        if words:
            by_lang.setdefault(str(lang or "en"), []).append(cid)
    topics: list[Topic] = []
    assignments: dict[str, str] = {}
    for lang in sorted(by_lang):
        ids = by_lang[lang]
        if len(ids) < opts.min_calls:
            continue
        found, assign, members = _cluster(lang, ids, [list(docs[c][1]) for c in ids], opts)
        assignments.update(assign)
        forms = _surface_forms(lang, [t for c in ids for t in (quotes or {}).get(c) or ()]) if found else {}
        for t in found:
            examples = tuple(_example(cid, t.terms, lang, (quotes or {}).get(cid)) for cid in members[t.id][: opts.examples])
            topics.append(Topic(t.id, t.language, t.terms, t.size, examples,
                                tuple(forms.get(term, term) for term in t.terms)))
    return TopicModel(tuple(topics), assignments, options=asdict(opts))


def _surface_forms(lang: str, turns: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """lemma -> the form clients said it in most often (ties: alphabetical), lower-case."""
    from collections import Counter

    from callqa.pipeline.search.query import word_keys

    seen: dict[str, Counter] = {}
    for t in turns:
        text = str(t.get("text") or "")
        for lemma, _, a, b in word_keys(text, lang):
            seen.setdefault(lemma, Counter())[text[a:b].lower()] += 1
    return {lemma: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for lemma, c in seen.items()}


def _example(call_id: str, terms: Sequence[str], lang: str, turns: Sequence[Mapping[str, Any]] | None) -> TopicExample:
    best, best_n = None, -1
    for t in turns or ():
        lemmas = set(turn_lemmas(str(t.get("text") or ""), lang))
        n = sum(1 for term in terms if term in lemmas)
        if n > best_n:
            best, best_n = t, n
    if best is None:
        return TopicExample(call_id, None, "")
    text = " ".join(str(best.get("text") or "").split())
    return TopicExample(call_id, float(best.get("start") or 0.0), text[:200] + ("…" if len(text) > 200 else ""))


# ---------------------------------------------------------------- a store's topics


def _fingerprint(analyses: Mapping[str, Any], opts: TopicOptions) -> str:
    data = json.dumps({"calls": sorted((str(k), str(v)) for k, v in analyses.items()), "options": asdict(opts),
                       "version": MODEL_VERSION}, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def _stored_analyses(store: Any) -> dict[str, str]:
    rows = store.query("SELECT call_id, analysis_id FROM calls WHERE status = 'ok'")
    return {str(r["call_id"]): str(r.get("analysis_id") or "") for r in rows}


def topics_for_store(store: Any, options: TopicOptions | Mapping[str, Any] | None = None, *,
                     refresh: bool = False, stale_above: int | None = None) -> TopicModel:
    """The topics of every call stored in `store` (a Store), from `STORE/topics.json` when it
    was made from the same analyses with the same options, else discovered again and kept.
    `stale_above`: with more stored calls than this, a kept model made from other analyses is
    returned as it is (a page does not wait for the clustering; the nightly batch refreshes it
    with `refresh_topics`)."""
    opts = options if isinstance(options, TopicOptions) else TopicOptions(**dict(options or {}))
    path = Path(store.path) / TOPICS_FILE
    analyses = _stored_analyses(store)
    fp = _fingerprint(analyses, opts)
    if not refresh and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, Mapping) and data.get("version") == MODEL_VERSION and (
                    data.get("fingerprint") == fp or (stale_above is not None and len(analyses) > stale_above)):
                return TopicModel.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: made again below
    docs: dict[str, tuple[str, list[str]]] = {}
    quotes: dict[str, list[Mapping[str, Any]]] = {}
    for r in store.results(include_errors=False, apply_overrides=False):
        cid = str(r.get("call_id"))
        docs[cid] = (str(r.get("language") or "en"), client_lemmas(r))
        quotes[cid] = [{"start": t.get("start"), "text": t.get("text")} for t in client_turns(r)]
    model = discover_topics(docs, opts, quotes)
    model = TopicModel(model.topics, model.assignments, fp, model.options)
    try:  # atomic replace: a reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".topics.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(model.serialize(), f, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only store: the model is still returned
    return model


def refresh_topics(store_path: str | Path) -> str:
    """`topics_for_store` for the end of a nightly batch: a log line; never raises (the trends
    page makes the model itself when it is missing)."""
    import time

    from callqa.pipeline.store.db import Store

    t0 = time.perf_counter()
    try:
        model = topics_for_store(Store(store_path))
    except Exception as e:  # noqa: BLE001 - the batch's calls are stored; the topics can wait
        return f"topics not updated: {type(e).__name__}: {e}"
    return f"topics: {len(model.topics)} over {len(model.assignments)} calls in {time.perf_counter() - t0:.1f} s"


__all__ = ["Topic", "TopicExample", "TopicModel", "TopicOptions", "client_lemmas", "discover_topics",
           "refresh_topics", "topics_for_store"]
