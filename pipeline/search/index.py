"""The search index: every stored call's redacted transcript in a tantivy index beside the store.

Layout::

    STORE/search/
      index/        the tantivy index: one document per call
      state.json    {"version", "calls": {call_id: analysis_id}} of what the index holds
      .lock         held while the index is updated

One document per call, with the words of every turn as tantivy terms (positions kept):
``k`` (word-family keys, see query.family), ``l`` (lemmas), ``k_op`` / ``k_cl`` (family keys
of the operator's / client's words), ``k_first`` / ``k_last`` (of the turns in the first / last
minute), a "¶" token between turns so a phrase never spans two turns; the call's filters as terms (team, operator_id, language, flags, categories) and its
start time ``ts`` (fast field: sort and date range). A stored field keeps each turn's
text, times, speaker and per-word lemmas, keys and character spans (already lemmatised).

A query runs in two steps. The engine finds the calls that can match: words, phrases
(tantivy phrase queries), NEAR (a phrase query with slop), AND / OR / NOT and the
filters are tantivy queries, a speaker scope picks the speaker's field; what the engine
cannot decide exactly (time scopes, NEAR distances, a phrase said by one speaker) it
over-approximates (a time scope of up to a minute through the first/last-minute fields). Then the single-call evaluator (`query.evaluate`, the same code as
`match_call`) runs on the candidates' stored turns, in the order asked (date or
relevance), until `limit` moments are found; it decides the moments and the scopes.

The index is built from stored calls (`Store.calls` / `Store.get` / `Store.results`), never
from audio or unredacted text; `update_index` adds or replaces calls whose analysis_id
changed and removes calls no longer stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from callqa.pipeline.errors import PathError
from callqa.pipeline.search.query import (
    FILTER_KEYS, And, Hit, Near, Not, Or, Phrase, PreparedCall, PreparedTurn, Query, Speaker, Window, Word, as_query, evaluate,
    filters_pass, languages, languages_fingerprint, prepare_call,
)

INDEX_VERSION = 6  # bump when the documents or the word keys (query.family) change: the index is rebuilt
SEARCH_DIR = "search"
TURN_BREAK = "¶"
SORTS = ("date", "relevance")
_SPEAKER_FIELD = {None: "k", "operator": "k_op", "client": "k_cl"}
WINDOW_FIELD_S = 60.0  # k_first / k_last: family keys of the turns in the first / last minute
_WINDOW_FIELD = {"first": "k_first", "last": "k_last"}


class SearchIndexError(PathError):
    """The search index cannot be read or written (names the directory and the problem)."""


class SearchIndexDamaged(SearchIndexError):
    """The index files could not be opened (a crash mid-write, a deleted or edited file): they were
    removed, and the next `update_index` builds the index again from the store."""


def index_dir(store_path: str | Path) -> Path:
    return Path(store_path).expanduser() / SEARCH_DIR


def _schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("call_id", stored=True, tokenizer_name="raw", fast=True)
    sb.add_text_field("analysis_id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("ts", stored=True, indexed=True, fast=True)
    for name in ("team", "operator_id", "language", "flag", "category"):
        sb.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("k", "l"):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    for name in ("k_op", "k_cl", "k_first", "k_last"):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
    sb.add_bytes_field("data", stored=True, indexed=False)
    return sb.build()


# ---------------------------------------------------------------- documents


def _ts(started: str | None) -> int:
    """Seconds since 1970 of a call's start (naive times read as UTC); -1 when unknown."""
    if not started:
        return -1
    try:
        dt = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = datetime.combine(date.fromisoformat(str(started)[:10]), datetime.min.time())
        except ValueError:
            return -1
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def _day_ts(day: str, end: bool = False) -> int:
    d = date.fromisoformat(day) + (timedelta(days=1) if end else timedelta())
    return int(datetime.combine(d, datetime.min.time(), tzinfo=timezone.utc).timestamp()) - (1 if end else 0)


def call_document(prep: PreparedCall, analysis_id: str | None) -> dict[str, Any]:
    """The index document of one prepared call (field -> value or list of values)."""
    k, l, k_op, k_cl, k_first, k_last, turns = [], [], [], [], [], [], []
    for t in prep.turns:
        if t.start < WINDOW_FIELD_S:
            k_first.extend(t.keys)
        if t.end > prep.duration - WINDOW_FIELD_S:
            k_last.extend(t.keys)
        if k:
            k.append(TURN_BREAK)
            l.append(TURN_BREAK)
        k.extend(t.keys)
        l.extend(t.lemmas)
        if t.speaker == "operator":
            k_op.extend(t.keys)
        elif t.speaker == "client":
            k_cl.extend(t.keys)
        keys = " ".join("=" if kk == ll else kk for kk, ll in zip(t.keys, t.lemmas))
        turns.append([t.speaker, round(t.start, 3), round(t.end, 3), t.text, " ".join(t.lemmas), keys,
                      [x for span in t.spans for x in span]])
    meta = prep.meta
    data = {"d": round(prep.duration, 3), "m": {k_: meta.get(k_) for k_ in ("team", "operator_id", "language",
                                                                         "date", "started_at", "flags",
                                                                         "categories", "category_turns")},
            "t": turns}
    doc: dict[str, Any] = {
        "call_id": prep.call_id, "analysis_id": analysis_id or "", "ts": _ts(meta.get("started_at")),
        "k": " ".join(k), "l": " ".join(l), "k_op": " ".join(k_op), "k_cl": " ".join(k_cl),
        "k_first": " ".join(k_first), "k_last": " ".join(k_last),
        "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
    }
    for name in ("team", "language"):
        if meta.get(name):
            doc[name] = str(meta[name]).lower()
    if meta.get("operator_id"):
        doc["operator_id"] = str(meta["operator_id"])
    doc["flag"] = sorted({str(f).lower() for f in meta.get("flags") or []})
    doc["category"] = sorted({str(c).lower() for c in meta.get("categories") or []})
    return doc


def prepared_from_data(call_id: str, data: Mapping[str, Any]) -> PreparedCall:
    """The PreparedCall kept in a document's stored data (no lemmatising again)."""
    turns = []
    for i, (speaker, start, end, text, lemmas, keys, spans) in enumerate(data["t"]):
        lem = tuple(lemmas.split(" ")) if lemmas else ()
        ks = tuple(ll if kk == "=" else kk for kk, ll in zip(keys.split(" "), lem)) if lemmas else ()
        sp = tuple((spans[j], spans[j + 1]) for j in range(0, len(spans), 2))
        turns.append(PreparedTurn(i, speaker, float(start), float(end), text, lem, ks, sp))
    return PreparedCall(call_id, float(data["d"]), tuple(turns), data.get("m") or {})


# ---------------------------------------------------------------- engine queries


def _quoted_with_family(w: Word) -> bool:
    return w.quoted and any(lem != key for lem, key in w.forms)


def _exact(node: Any, speaker: str | None) -> bool:
    """Whether the engine query of `node` matches exactly the calls the evaluator would
    (needed under NOT, where an over-approximation would wrongly exclude calls)."""
    if isinstance(node, Word):
        return speaker is None or not _quoted_with_family(node)
    if isinstance(node, Phrase):
        return speaker is None
    if isinstance(node, (Near, Window)):
        return False
    if isinstance(node, (And, Or)):
        return all(_exact(c, speaker) for c in node.children)
    if isinstance(node, Not):
        return _exact(node.child, speaker)
    if isinstance(node, Speaker):
        return _exact(node.child, node.role)
    return False


class _Engine:
    """Translates a query tree into a tantivy query over call documents."""

    def __init__(self, schema: Any):
        import tantivy

        self.t = tantivy
        self.schema = schema

    def term(self, field_: str, value: str) -> Any:
        return self.t.Query.term_query(self.schema, field_, value)

    def leaf(self, node: Any, speaker: str | None, window: tuple[str, float] | None = None) -> Any:
        """The calls that may hold the word or phrase: one query per form (a word in letters two
        languages share has a form per language), OR-ed."""
        Q, Occur = self.t.Query, self.t.Occur
        alts = []
        if isinstance(node, Word):
            for lem, key in dict.fromkeys(node.forms):
                if node.quoted:  # its lemma; the speaker's / window's field holds the lemma's key
                    base, keys = self.term("l", lem), [key]
                else:
                    base, keys = self.term(_SPEAKER_FIELD[speaker], key), ([key] if window is not None else [])
                alts.append(self._narrow(base, keys, speaker, window))
        elif isinstance(node, Phrase):
            for v in node.variants:
                lemmas = [w[0] for w in v]
                base = self.term("l", lemmas[0]) if len(lemmas) == 1 else Q.phrase_query(self.schema, "l", lemmas)
                alts.append(self._narrow(base, [w[1] for w in v], speaker, window))
        else:  # pragma: no cover
            raise TypeError(node)
        return alts[0] if len(alts) == 1 else Q.boolean_query([(Occur.Should, q) for q in alts])

    def _narrow(self, base: Any, keys: list[str], speaker: str | None, window: tuple[str, float] | None) -> Any:
        """`base` AND each key in the speaker's field and in the first/last-minute field (both
        hold every word the speaker said / said in that minute, so the result still covers
        every call the evaluator could accept)."""
        Occur = self.t.Occur
        fields = []
        if speaker is not None:
            fields.append(_SPEAKER_FIELD[speaker])
        if window is not None and window[1] <= WINDOW_FIELD_S:
            fields.append(_WINDOW_FIELD[window[0]])
        clauses = [(Occur.Must, self.term(f, k)) for f in fields for k in dict.fromkeys(keys)]
        if not clauses:
            return base
        return self.t.Query.boolean_query([(Occur.Must, base)] + clauses)

    def near(self, node: Near, speaker: str | None, window: tuple[str, float] | None = None) -> Any:
        Q, Occur = self.t.Query, self.t.Occur
        a, b = node.left, node.right
        if (all(isinstance(x, Word) and not x.quoted and len(x.keys) == 1 for x in (a, b))
                and a.keys != b.keys):
            # tantivy's slop lets words swap places at a cost of 2: slop n+2 covers either order
            base = Q.phrase_query(self.schema, "k", [a.keys[0], b.keys[0]], node.distance + 2)
            return self._narrow(base, [a.keys[0], b.keys[0]], speaker, window)
        return Q.boolean_query([(Occur.Must, self.leaf(a, speaker, window)),
                                (Occur.Must, self.leaf(b, speaker, window))])

    def build(self, node: Any, speaker: str | None = None,
              window: tuple[str, float] | None = None) -> tuple[str, Any]:
        """("pos", query) | ("neg", query to exclude) | ("all", None)."""
        Q, Occur = self.t.Query, self.t.Occur
        if isinstance(node, (Word, Phrase)):
            return "pos", self.leaf(node, speaker, window)
        if isinstance(node, Near):
            return "pos", self.near(node, speaker, window)
        if isinstance(node, Speaker):
            return self.build(node.child, node.role, window)
        if isinstance(node, Window):
            kind, q = self.build(node.child, speaker, (node.side, node.seconds))
            return ("pos", q) if kind == "pos" else ("all", None)
        if isinstance(node, Not):
            if not _exact(node.child, speaker):
                return "all", None
            kind, q = self.build(node.child, speaker, window)
            if kind == "pos":
                return "neg", q
            if kind == "neg":
                return "pos", q
            return "all", None
        if isinstance(node, And):
            parts = [self.build(c, speaker, window) for c in node.children]
            clauses = [(Occur.Must, q) for k, q in parts if k == "pos"]
            clauses += [(Occur.MustNot, q) for k, q in parts if k == "neg"]
            if not clauses:
                return "all", None
            if not any(k == "pos" for k, _ in parts):
                clauses.append((Occur.Must, Q.all_query()))
            return "pos", Q.boolean_query(clauses)
        if isinstance(node, Or):
            parts = [self.build(c, speaker, window) for c in node.children]
            if any(k != "pos" for k, _ in parts):
                return "all", None
            return "pos", Q.boolean_query([(Occur.Should, q) for _, q in parts])
        raise TypeError(node)  # pragma: no cover

    def filters(self, filters: Mapping[str, Sequence[str]]) -> list[Any]:
        Q, FT = self.t.Query, self.t.FieldType
        out = []
        for key, values in filters.items():
            if key == "from":
                out.append(Q.range_query(self.schema, "ts", FT.Integer, _day_ts(values[0]), None))
            elif key == "to":
                out.append(Q.range_query(self.schema, "ts", FT.Integer, 0, _day_ts(values[0], end=True)))
            else:
                name = {"flag": "flag", "category": "category"}.get(key, key)
                vals = [str(v) if key == "operator_id" else str(v).lower() for v in values]
                out.append(Q.term_set_query(self.schema, name, vals))
        return out

    def query(self, q: Query, restrict: Mapping[str, Sequence[str]]) -> Any:
        Q, Occur = self.t.Query, self.t.Occur
        kind, main = ("all", None) if q.root is None else self.build(q.root)
        clauses = [(Occur.Must, main)] if kind == "pos" else [(Occur.Must, Q.all_query())]
        if kind == "neg":
            clauses.append((Occur.MustNot, main))
        for f in self.filters(q.filters) + self.filters(restrict):
            clauses.append((Occur.Must, Q.const_score_query(f, 0.0)))
        return clauses[0][1] if len(clauses) == 1 else Q.boolean_query(clauses)


# ---------------------------------------------------------------- the index


@dataclass
class UpdateStats:
    """What an `update_index` run did."""

    added: int = 0
    replaced: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (call_id, reason)
    seconds: float = 0.0

    def serialize(self) -> dict[str, Any]:
        return {"added": self.added, "replaced": self.replaced, "removed": self.removed,
                "unchanged": self.unchanged, "failed": [list(f) for f in self.failed],
                "seconds": round(self.seconds, 3)}


@dataclass
class SearchResult:
    """Hits in the order asked, how many calls were looked at and whether more may exist."""

    query: Query
    hits: list[Hit]
    calls_matched: int
    calls_checked: int
    more: bool

    def serialize(self) -> dict[str, Any]:
        return {"query": self.query.text, "hits": [h.serialize() for h in self.hits],
                "calls_matched": self.calls_matched, "calls_checked": self.calls_checked, "more": self.more}


class SearchIndex:
    """A tantivy index of call documents in `path` (created when missing), its words analysed by
    the language pipelines of `config` (`query.languages`; None: the project's configs/). An
    index built under other language definitions counts as absent (rebuilt on the next update)."""

    def __init__(self, path: str | Path, config: Any = None):
        self.path = Path(path).expanduser()
        self.langs = languages(config)
        self.fingerprint = languages_fingerprint(self.langs)
        self._index: Any = None
        self._engine: _Engine | None = None

    # ---- files
    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    def state(self) -> dict[str, str]:
        """call_id -> analysis_id of the calls the index holds ({} when none / another version)."""
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # damaged (a crash mid-write, an edit): the index counts as absent and is rebuilt
        except OSError as e:
            raise SearchIndexError(self.state_path, f"cannot read the index state: {e}") from None
        if not self._current(data):
            return {}
        return dict(data.get("calls") or {})

    def _current(self, data: Mapping[str, Any]) -> bool:
        """Whether a state was written by this index version under these language definitions."""
        return data.get("version") == INDEX_VERSION and data.get("languages") == self.fingerprint

    def stamp(self) -> str:
        """The store stamp (`store_stamp`) the index was last brought up to date with ('' if none)."""
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        return str(data.get("store_stamp") or "") if self._current(data) else ""

    def _write_state(self, calls: Mapping[str, str], stamp: str = "") -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": INDEX_VERSION, "languages": self.fingerprint, "store_stamp": stamp,
                                   "calls": dict(calls)}),
                       encoding="utf-8")
        os.replace(tmp, self.state_path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The update lock (one writer at a time, across processes)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _open(self, create: bool = False) -> Any:
        import tantivy

        if self._index is not None:
            return self._index
        idx = self.path / "index"
        fresh = not (idx / "meta.json").exists() or self._version_mismatch()
        if fresh and not create:
            return None
        try:
            if fresh:
                self._clear(idx)
            schema = _schema()
            self._index = tantivy.Index(schema, path=str(idx), reuse=not fresh)
        except (OSError, ValueError) as e:
            if fresh:
                raise SearchIndexError(idx, f"cannot open the search index: {e}") from None
            # damaged files of a derived index: drop them (and the state, so every stored call is
            # indexed again) rather than fail every search until someone deletes them by hand. A
            # writer (create=True) holds the update lock already; a reader takes it, so a batch
            # updating the index meanwhile finishes first, and tries once more before dropping.
            if not create:
                with self.locked():
                    try:
                        schema = _schema()
                        self._index = tantivy.Index(schema, path=str(idx), reuse=True)
                        self._engine = _Engine(schema)
                        return self._index
                    except (OSError, ValueError):
                        self._drop(idx, e)
                raise SearchIndexDamaged(idx, f"the search index was damaged ({e}) and is built again from the store") from None
            self._drop(idx, e)
            return self._open(create=True)
        self._engine = _Engine(schema)
        return self._index

    def _drop(self, idx: Path, why: Exception) -> None:
        try:
            self._clear(idx)
        except OSError as e:
            raise SearchIndexError(idx, f"cannot open the search index: {why}; nor remove it: {e}") from None

    def _clear(self, idx: Path) -> None:
        if idx.exists():
            shutil.rmtree(idx)
        idx.mkdir(parents=True)
        if self.state_path.exists():
            self.state_path.unlink()

    def _version_mismatch(self) -> bool:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True
        return not self._current(data)

    def exists(self) -> bool:
        return self._open() is not None

    # ---- writing
    @contextlib.contextmanager
    def writer(self, heap_mb: int = 256, threads: int = 0) -> Iterator["IndexWriter"]:
        """An IndexWriter under the update lock; commits and saves the state on exit."""
        with self.locked():
            index = self._open(create=True)
            state = self.state()
            try:
                w = index.writer(heap_size=heap_mb * 1_000_000, num_threads=threads)
            except ValueError as e:
                raise SearchIndexError(self.path, f"cannot write the search index: {e}") from None
            iw = IndexWriter(self, w, state)
            ok = False
            try:
                yield iw
                ok = True
            finally:
                if ok:
                    w.commit()
                    w.wait_merging_threads()
                    self._write_state(iw.state, iw.stamp)
                else:
                    w.rollback()
                del w
                index.reload()

    # ---- reading
    def num_calls(self) -> int:
        index = self._open()
        return 0 if index is None else index.searcher().num_docs

    def search(self, query: str | Query, *, limit: int = 20, sort: str = "date", per_call: int | None = 3,
               restrict: Mapping[str, Sequence[str]] | None = None, max_calls: int | None = None) -> SearchResult:
        """Moments matching `query`: the engine's candidate calls in `sort` order ("date": newest
        call first; "relevance": tantivy's BM25), each checked by the evaluator; at most
        `per_call` moments per call (None: all) and `limit` in all. `restrict` adds filters
        the user cannot lift (e.g. {"team": ["blue"]} for a supervisor)."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        q = as_query(query, self.langs)
        restrict = {FILTER_KEYS.get(k, k): tuple(str(x) if k == "operator_id" else str(x).lower() for x in v)
                    for k, v in (restrict or {}).items()}
        if any(k not in FILTER_KEYS.values() or k in ("from", "to") for k in restrict):
            raise ValueError(f"restrict takes {', '.join(sorted(set(FILTER_KEYS.values()) - {'from', 'to'}))}, "
                             f"got {', '.join(restrict)}")
        index = self._open()
        if index is None:
            return SearchResult(q, [], 0, 0, False)
        assert self._engine is not None
        eq = self._engine.query(q, restrict)
        searcher = index.searcher()
        hits: list[Hit] = []
        matched = checked = offset = 0
        page = max(16, min(limit, 200))
        more = False
        done = False
        while not done:
            kw: dict[str, Any] = {"order_by_field": "ts"} if sort == "date" else {}
            res = searcher.search(eq, page, count=False, offset=offset, **kw)
            if not res.hits:
                break
            for _, addr in res.hits:
                doc = searcher.doc(addr)
                prep = prepared_from_data(doc["call_id"][0], json.loads(bytes(doc["data"][0])))
                checked += 1
                if restrict and not filters_pass(restrict, prep.meta):
                    continue
                found = evaluate(q, prep)
                if not found:
                    continue
                matched += 1
                if len(hits) >= limit:
                    more, done = True, True
                    break
                hits.extend(found if per_call is None else found[:per_call])
                if max_calls is not None and checked >= max_calls:
                    more, done = True, True
                    break
            if len(res.hits) < page:
                break
            offset += page
            page = min(page * 2, 2000)
        if len(hits) > limit:
            hits, more = hits[:limit], True
        return SearchResult(q, hits, matched, checked, more)


class IndexWriter:
    """Adds, replaces and removes call documents; tracks the state (call_id -> analysis_id)."""

    def __init__(self, index: SearchIndex, writer: Any, state: dict[str, str]):
        import tantivy

        self._t = tantivy
        self.index = index
        self.w = writer
        self.state = state
        self.stamp = ""  # set by update_index when the whole store was compared

    def remove(self, call_id: str) -> None:
        self.w.delete_documents_by_term("call_id", call_id)
        self.state.pop(call_id, None)

    def add_prepared(self, prep: PreparedCall, analysis_id: str | None) -> None:
        """Add (or replace) one call."""
        if prep.call_id in self.state:
            self.w.delete_documents_by_term("call_id", prep.call_id)
        self.w.add_document(self._t.Document(**call_document(prep, analysis_id)))
        self.state[prep.call_id] = analysis_id or ""

    def add_result(self, result: Mapping[str, Any]) -> None:
        """Add (or replace) one stored call result (its redacted transcript)."""
        self.add_prepared(prepare_call(result, self.index.langs), result.get("analysis_id"))


# ---------------------------------------------------------------- the store's index


def _stored_analyses(store: Any, call_ids: Iterable[str] | None) -> dict[str, str]:
    """call_id -> analysis_id ('' when none) of the analysed calls in the store."""
    rows = store.calls(status="ok")
    out = {str(r["call_id"]): str(r.get("analysis_id") or r.get("identity") or "") for r in rows}
    if call_ids is not None:
        wanted = set(call_ids)
        out = {k: v for k, v in out.items() if k in wanted}
    return out


def _read_results(store: Any, ids: set[str]) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    seen = set()
    for result in store.get_many(ids):
        cid = str(result.get("call_id"))
        seen.add(cid)
        yield cid, result
    for cid in sorted(ids - seen):
        yield cid, None


def store_stamp(store_path: str | Path) -> str:
    """Modification times and sizes of the store's database files: unchanged stamp, unchanged
    calls (a cheap first check before comparing analysis ids)."""
    from callqa.pipeline.store.db import DB_FILE

    parts = []
    for name in (DB_FILE, DB_FILE + ".wal"):
        try:
            st = (Path(store_path).expanduser() / name).stat()
        except FileNotFoundError:
            continue
        parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
    return "|".join(parts)


def stale(store_path: str | Path, config: Any = None) -> bool:
    """Whether the store holds analyses the index does not (or the index holds removed calls,
    or was built under other language definitions than `config`'s)."""
    from callqa.pipeline.store.db import Store

    sindex = SearchIndex(index_dir(store_path), config)
    if sindex.stamp() and sindex.stamp() == store_stamp(store_path):
        return False
    return _stored_analyses(Store(store_path), None) != sindex.state()


def update_index(store_path: str | Path, call_ids: Iterable[str] | None = None, *,
                 progress: Callable[[int, int], None] | None = None, config: Any = None) -> UpdateStats:
    """Bring STORE/search up to date: add calls not indexed yet, replace calls whose
    analysis_id changed, remove calls no longer stored (with `call_ids`, only those calls
    are looked at). Each call's words are analysed by its language's pipeline from `config`
    (configs/languages.yaml; a Config or a --config file; None: the project's); an index built
    under other language definitions is rebuilt. A call that cannot be indexed is reported in
    `failed`, never stops the rest."""
    from callqa.pipeline.store.db import Store

    t0 = time.perf_counter()
    store = Store(store_path)
    sindex = SearchIndex(index_dir(store_path), config)
    stats = UpdateStats()
    stamp = store_stamp(store_path)  # before reading: a call stored meanwhile makes the index stale
    wanted = None if call_ids is None else set(call_ids)
    stored = _stored_analyses(store, wanted)
    with sindex.writer() as w:
        indexed = w.state if wanted is None else {k: v for k, v in w.state.items() if k in wanted}
        for cid in [c for c in indexed if c not in stored]:
            w.remove(cid)
            stats.removed += 1
        todo = {c for c, aid in stored.items() if indexed.get(c) != aid}
        stats.unchanged = len(stored) - len(todo)
        for n, (cid, result) in enumerate(_read_results(store, todo), 1):
            if result is None:
                stats.failed.append((cid, "no stored result"))
                continue
            replacing = cid in w.state
            try:
                w.add_result(result)
            except Exception as e:  # one bad call never stops the update
                stats.failed.append((cid, f"{type(e).__name__}: {e}"))
                continue
            if replacing:
                stats.replaced += 1
            else:
                stats.added += 1
            if progress:
                progress(n, len(todo))
        w.stamp = stamp if wanted is None and not stats.failed else ""
    stats.seconds = time.perf_counter() - t0
    return stats


def search(store_path: str | Path, query: str | Query, *, limit: int = 20, sort: str = "date",
           per_call: int | None = 3, restrict: Mapping[str, Sequence[str]] | None = None,
           update: bool = True, config: Any = None) -> SearchResult:
    """Search a store's calls (query words and calls read by the language pipelines of `config`,
    see `update_index`); brings the index up to date first (unless `update` is False)."""
    langs = languages(config)
    q = as_query(query, langs)  # syntax errors before any work
    if update and stale(store_path, langs):
        update_index(store_path, config=langs)
    try:
        return SearchIndex(index_dir(store_path), langs).search(q, limit=limit, sort=sort, per_call=per_call,
                                                                restrict=restrict)
    except SearchIndexDamaged:
        if not update:
            raise
        update_index(store_path, config=langs)  # the damaged files are gone: every stored call again
        return SearchIndex(index_dir(store_path), langs).search(q, limit=limit, sort=sort, per_call=per_call,
                                                                restrict=restrict)


def refresh(store_path: str | Path, config: Any = None) -> str:
    """`update_index` for the end of a batch (`config`: its Config or --config file): returns a
    log line; never raises (a search index that cannot be updated now is brought up to date by
    the next search or batch)."""
    try:
        s = update_index(store_path, config=config)
    except Exception as e:  # noqa: BLE001 - the batch's calls are stored; the index can wait
        return f"search index not updated: {type(e).__name__}: {e}"
    failed = f", {len(s.failed)} failed ({s.failed[0][0]}: {s.failed[0][1]})" if s.failed else ""
    return (f"search index: {s.added} added, {s.replaced} replaced, {s.removed} removed{failed} "
            f"in {s.seconds:.1f} s")
