"""Categories: saved searches evaluated on every call.

A category is a search query (the language of `callqa.pipeline.search.query`) with a name per
language and, optionally, a flag severity. Categories come from the configuration
(`configs/categories.yaml`, section `categories`, keyed by id) and from the store (saved by an
admin in the web app; table `saved_categories`, see `save_category`).

`score_call` (pipeline/scoring/score.py) calls `apply_categories` after the flags: each category
whose query matches the call is stored in the call result as

    categories: [{id, name, evidence: [{start, end, speaker, quote}], source}]

and, when the category has `flag: {severity}`, a flag `category:ID` is added to the call's flags
(the reason template is `category` in configs/flags.yaml). So the nightly batch and
`callqa rescore` compute categories with everything else, and a change of a configured category
changes the call's `analysis_id` (the section is in pipeline/identity.py ANALYSIS_KEYS).

Categories saved in the store reach the analysis through `config_with_saved(config, store)`
(a configuration with them merged in, for a process that has the store at hand: rescore) or,
for a batch whose workers never open the store, `apply_saved(result, saved_section(store, config),
config)` on the result before it is stored (pipeline/batch.py RunWriter). They apply from the next batch / rescore on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from callqa.pipeline.errors import ConfigError
from callqa.pipeline.severity import canonical as canonical_severity

if TYPE_CHECKING:  # pragma: no cover
    from callqa.pipeline.config import Config
    from callqa.pipeline.types import CallResult

FLAG_PREFIX = "category:"
FLAG_RULE = "category"  # configs/flags.yaml: the reason template (and a switch) of every category flag
DEFAULT_MAX_EVIDENCE = 10
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TABLE = "saved_categories"
CONFIG_FILE = "configs/categories.yaml"



# ---------------------------------------------------------------- configuration


class CategoryFlag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: str

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> str:
        return canonical_severity(v)


class CategoryItem(BaseModel):
    """One configured category (configs/categories.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: dict[str, str] = Field(min_length=1)
    query: str = Field(min_length=1)
    flag: CategoryFlag | None = None
    max_evidence: int = Field(DEFAULT_MAX_EVIDENCE, ge=1, le=100)
    enabled: bool = True
    description: dict[str, str] | None = None

    @field_validator("name")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        if any(not str(text).strip() for text in v.values()):
            raise ValueError("every name needs some text")
        return v


class CategoriesConfig(RootModel[dict[str, CategoryItem | None]]):
    """Section `categories`: id -> category (null or `enabled: false` switches one off)."""

    model_config = ConfigDict(frozen=True)

    @field_validator("root")
    @classmethod
    def _ids(cls, v: dict[str, Any]) -> dict[str, Any]:
        for cid in v:
            if not ID_PATTERN.match(str(cid)):
                raise ValueError(f"category id {cid!r}: use a-z, 0-9 and _ (starting with a letter)")
        return v


CONFIG_SECTIONS = {"categories": CategoriesConfig}


@dataclass(frozen=True)
class CategoryDef:
    """A category ready to evaluate."""

    id: str
    names: Mapping[str, str]
    query: str
    severity: str | None = None
    max_evidence: int = DEFAULT_MAX_EVIDENCE
    source: str = "config"  # config | store

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()), self.id)

    @property
    def flag_id(self) -> str:
        return FLAG_PREFIX + self.id


def configured_categories(config: Config) -> Mapping[str, Any]:
    """The validated `categories` section: id -> CategoryItem (or None when switched off)."""
    sec = config.section("categories") if config.get("categories", None) is not None else None
    if sec is None:
        return {}
    if isinstance(sec, CategoriesConfig):
        return sec.root
    return CategoriesConfig.model_validate(sec).root


def category_defs(config: Config) -> list[CategoryDef]:
    """The enabled categories of a configuration (configured ones, then store-saved ones merged
    in by `config_with_saved`), in the file's order; every query checked (ConfigError naming
    the key and the position of the problem)."""
    out = []
    saved = set((config.get("categories_saved", None) or {}).keys()) if isinstance(
        config.get("categories_saved", None), Mapping) else set()
    for cid, item in configured_categories(config).items():
        if item is None or not item.enabled:
            continue
        out.append(CategoryDef(cid, dict(item.name), item.query, item.flag.severity if item.flag else None,
                               item.max_evidence, "store" if cid in saved else "config"))
    langs = _languages(config)
    for d in out:
        _checked_query(d.query, d.id, d.source, langs)
    return out


def _languages(config: Any) -> Any:
    """The language pipelines the search reads words with (configs/languages.yaml)."""
    from callqa.pipeline.search.query import languages

    return languages(config)


@lru_cache(maxsize=512)
def _parsed(query: str, langs: Any = None) -> Any:
    from callqa.pipeline.search.query import parse

    return parse(query, langs)


def _checked_query(query: str, cid: str, source: str = "config", langs: Any = None) -> Any:
    from callqa.pipeline.search.query import QuerySyntaxError

    try:
        return _words_query(_parsed(query, langs))
    except QuerySyntaxError as e:
        where = CONFIG_FILE if source == "config" else f"the store's {TABLE}"
        raise ConfigError(where, f"categories.{cid}.query", f"{e.message} at column {e.position + 1}: {query}") from None


def _words_query(q: Any) -> Any:
    """A category's query must find words: its evidence is the moments that put a call in it (a
    search of filters alone, `team:north`, has no such moment)."""
    from callqa.pipeline.search.query import QuerySyntaxError

    if not q.finds_words:
        raise QuerySyntaxError("category_words", q.text, 0)
    return q


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class CategoryMatch:
    """A category found in a call, with the moments that put the call in it."""

    id: str
    name: str
    evidence: tuple[Any, ...]  # pipeline.types.Evidence
    source: str = "config"
    severity: str | None = None

    def serialize(self) -> dict[str, Any]:
        d = {"id": self.id, "name": self.name, "evidence": [e.serialize() for e in self.evidence],
             "source": self.source}
        if self.severity:
            d["severity"] = self.severity
        return d


def _call_dict(result: CallResult) -> dict[str, Any]:
    """What the search evaluator looks at, from a CallResult being scored."""
    meta = result.meta
    return {"call_id": result.call_id, "language": result.language, "duration_s": result.duration_s,
            "team": meta.team, "operator_id": meta.operator_id, "started_at": meta.started_at,
            "transcript": {"turns": [{"speaker": t.speaker, "start": t.start, "end": t.end, "text": t.text}
                                     for t in result.transcript.turns]},
            "flags": [{"id": f.id} for f in result.flags]}


def evaluate(defs: Sequence[CategoryDef], call: Mapping[str, Any], lang: str | None = None,
             config: Any = None) -> list[CategoryMatch]:
    """The categories of `defs` that a stored-shape call result matches (in `defs` order), each
    with its evidence: the turns that matched (time, speaker and a quote around the words);
    words read by the language pipelines of `config` (None: the project's)."""
    from callqa.pipeline.search.query import match_call, prepare_call
    from callqa.pipeline.types import Evidence

    lang = lang or str(call.get("language") or "en")
    langs = _languages(config)
    prepared = prepare_call(call, langs)
    out: list[CategoryMatch] = []
    for d in defs:
        hits = match_call(_checked_query(d.query, d.id, d.source, langs), prepared)
        if not hits:
            continue
        ev = tuple(Evidence(h.start, h.end, h.speaker, h.quote, h.turn) for h in hits[: d.max_evidence])
        out.append(CategoryMatch(d.id, d.name(lang), ev, d.source, d.severity))
        # a later category may filter on an earlier one (`category:ID`)
        prepared = replace(prepared, meta={**prepared.meta,
                                           "categories": list(prepared.meta.get("categories") or []) + [d.id]})
    return out


def _flag_rule(config: Config) -> Any:
    try:
        return config.section("flags").root.get(FLAG_RULE)
    except (KeyError, AttributeError):
        return None


def category_flags(matches: Iterable[CategoryMatch], config: Config, lang: str) -> list[Any]:
    """A `category:ID` flag (pipeline/scoring/flags.py Flag) for each match whose category has
    a severity; none when the `category` rule of configs/flags.yaml is switched off."""
    from callqa.pipeline.scoring.flags import Flag

    rule = _flag_rule(config)
    if rule is not None and not rule.enabled:
        return []
    out = []
    for m in matches:
        if not m.severity:
            continue
        quotes = "; ".join(f"«{e.quote}»" for e in m.evidence[:3] if e.quote)
        values = {"name": m.name, "count": len(m.evidence), "quotes": quotes}
        template = rule.reason.get(lang) if rule is not None else "{name} ({count}): {quotes}"
        try:
            reason = template.format(**values)
        except (KeyError, IndexError, ValueError):
            reason = template
        limit = rule.max_evidence if rule is not None else 5
        out.append(Flag(FLAG_PREFIX + m.id, m.severity, reason, tuple(m.evidence[:limit])))
    return out


def _sort_flags(flags: list[Any]) -> list[Any]:
    from callqa.pipeline.store.db import severity_rank

    def key(f: Any) -> tuple[int, float]:
        sev = f.severity if hasattr(f, "severity") else f.get("severity")
        ev = f.evidence if hasattr(f, "evidence") else f.get("evidence") or []
        first = ev[0] if ev else None
        start = (first.start if hasattr(first, "start") else (first or {}).get("start")) if first else 0.0
        return (-severity_rank(sev), float(start or 0.0))

    return sorted(flags, key=key)


def apply_categories(result: CallResult, config: Config) -> CallResult:
    """Fill `result.categories` (and add the category flags) from the configuration's
    categories; what `score_call` runs after the other flags."""
    defs = category_defs(config)
    if not defs:
        result.categories = []
        return result
    matches = evaluate(defs, _call_dict(result), result.language, config)
    result.categories = matches
    extra = category_flags(matches, config, result.language)
    if extra:
        kept = [f for f in result.flags if not str(getattr(f, "id", "")).startswith(FLAG_PREFIX)]
        result.flags = _sort_flags(kept + extra)
    return result


# ---------------------------------------------------------------- categories saved in the store


def _connect(store: Any, write: bool = False) -> Any:
    from callqa.pipeline.store import qa_tables

    return qa_tables.connect(store, write=write)


def saved_categories(store: Any, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Categories saved from the web app, latest version of each id (oldest first):
    {id, name: {lang: text}, query, severity, created_by, created_at, deleted}."""
    from callqa.pipeline.store import qa_tables

    with _connect(store) as con:
        rows = qa_tables.rows(con.execute(
            f'SELECT * FROM {TABLE} QUALIFY row_number() OVER (PARTITION BY category_id ORDER BY saved_at DESC) = 1 '
            'ORDER BY first_saved_at, category_id'))
    out = []
    for r in rows:
        deleted = bool(r.get("deleted"))
        if deleted and not include_deleted:
            continue
        out.append({"id": r["category_id"], "name": json.loads(r["names"]) if r.get("names") else {},
                    "query": r["query"], "severity": r.get("severity"), "created_by": r.get("saved_by"),
                    "created_at": r.get("saved_at"), "deleted": deleted})
    return out


def save_category(store: Any, config: Config, *, category_id: str, names: Mapping[str, str], query: str,
                  severity: str | None, author: str) -> dict[str, Any]:
    """Save (or replace) a category in the store; ValueError with a message for a bad id,
    a missing name, an id the configuration already uses, a bad severity, or a query that
    does not parse (QuerySyntaxError, with its position)."""
    from callqa.pipeline.search.query import parse
    from callqa.pipeline.store.db import utcnow

    cid = str(category_id or "").strip().lower()
    if not ID_PATTERN.match(cid):
        raise ValueError(f"category id {category_id!r}: use a-z, 0-9 and _ (starting with a letter)")
    if cid in configured_categories(config):
        raise ValueError(f"category id {cid!r} is a configured category ({CONFIG_FILE}); choose another id")
    names = {str(k): str(v).strip() for k, v in (names or {}).items() if str(v or "").strip()}
    if not names:
        raise ValueError("a category needs a name")
    sev = None
    if severity not in (None, "", "none"):
        sev = canonical_severity(severity)
    _words_query(parse(query, config))  # QuerySyntaxError (a ValueError) with the position
    now = utcnow()
    with _connect(store, write=True) as con:
        first = con.execute(f"SELECT min(first_saved_at) FROM {TABLE} WHERE category_id = ?", [cid]).fetchone()[0]
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [cid, json.dumps(names, ensure_ascii=False), query, sev, author, now, first or now, False])
    return {"id": cid, "name": names, "query": query, "severity": sev, "created_by": author, "created_at": now}


def delete_category(store: Any, category_id: str, *, author: str) -> bool:
    """Mark a saved category deleted (its history stays); False when there is none."""
    from callqa.pipeline.store.db import utcnow

    current = {c["id"]: c for c in saved_categories(store)}
    c = current.get(category_id)
    if c is None:
        return False
    now = utcnow()
    with _connect(store, write=True) as con:
        first = con.execute(f"SELECT min(first_saved_at) FROM {TABLE} WHERE category_id = ?",
                            [category_id]).fetchone()[0]
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [category_id, json.dumps(c["name"], ensure_ascii=False), c["query"], c["severity"], author, now,
                     first or now, True])
    return True


def saved_section(store: Any, config: Config) -> dict[str, Any]:
    """The store's saved categories as `categories` entries (ids the configuration defines win)."""
    configured = configured_categories(config)
    out: dict[str, Any] = {}
    for c in saved_categories(store):
        if c["id"] in configured:
            continue
        item: dict[str, Any] = {"name": c["name"] or {"en": c["id"]}, "query": c["query"]}
        if c.get("severity"):
            item["flag"] = {"severity": c["severity"]}
        out[c["id"]] = item
    return out


def config_with_saved(config: Config, store: Any, saved: Mapping[str, Any] | None = None) -> Config:
    """`config` with the store's saved categories (`saved`: `saved_section(store, config)` when
    already read) merged into its `categories` section (the configuration's hash is kept: saved
    categories are store data, but they are part of the analysis identity through the section)."""
    from callqa.pipeline.config import Config as _Config

    extra = saved_section(store, config) if saved is None else saved
    if not extra:
        return config
    tree = dict(config.tree)
    merged = {**(tree.get("categories") or {}), **extra}
    tree["categories"] = merged
    tree["categories_saved"] = {k: True for k in extra}
    validated = dict(config.validated)
    validated[("categories",)] = CategoriesConfig.model_validate(merged)
    return _Config(tree=tree, hash=config.hash, files=config.files, validated=validated)


def saved_fingerprint(saved: Mapping[str, Any]) -> str | None:
    """A short digest of the store's saved categories (`saved_section`), recorded on each result
    they were evaluated on (`processing.saved_categories`); None when there are none."""
    if not saved:
        return None
    import hashlib

    text = json.dumps(saved, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def stale_saved(store: Any, saved: Mapping[str, Any]) -> set[str]:
    """Calls whose stored result was evaluated with other saved categories than `saved` (so a
    rescore redoes them although their analysis_id did not change)."""
    rows = store.query("SELECT r.call_id FROM results r JOIN calls c USING (call_id) WHERE c.status = 'ok' AND "
                       "json_extract_string(r.result, '$.processing.saved_categories') IS DISTINCT FROM ?",
                       [saved_fingerprint(saved)])
    return {str(r["call_id"]) for r in rows}


def apply_saved(result: Mapping[str, Any], saved: Mapping[str, Any], config: Config,
                analysis_id: str | None = None) -> dict[str, Any]:
    """A stored-shape call result with the store's saved categories (`saved_section(store,
    config)`) evaluated on it: their matches and flags replace any earlier ones of store-saved
    categories. For the batch's writer, which stores results computed by workers that never
    open the store, and for rescore. `analysis_id`: the call's analysis identity under the
    configuration with the saved categories merged (`config_with_saved`), recorded on the result."""
    data = dict(result)
    if not saved or data.get("status") == "error":
        return data
    if analysis_id:
        data["analysis_id"] = analysis_id
    data["processing"] = {**(data.get("processing") or {}), "saved_categories": saved_fingerprint(saved)}
    if not (data.get("transcript") or {}).get("turns"):
        return data
    old = data.get("categories") or []
    configured = {str(c.get("id")) for c in old if c.get("source") != "store"}
    defs = [CategoryDef(cid, item["name"], item["query"], (item.get("flag") or {}).get("severity"),
                        DEFAULT_MAX_EVIDENCE, "store") for cid, item in saved.items() if cid not in configured]
    lang = str(data.get("language") or "en")
    keep_cats = [c for c in old if c.get("source") != "store"]
    drop = {FLAG_PREFIX + d.id for d in defs} | {FLAG_PREFIX + str(c.get("id")) for c in old if c.get("source") == "store"}
    keep_flags = [f for f in data.get("flags") or [] if f.get("id") not in drop]
    matches = evaluate(defs, {**data, "categories": keep_cats, "flags": keep_flags}, lang, config) if defs else []
    data["categories"] = keep_cats + [m.serialize() for m in matches]
    data["flags"] = _sort_flags(keep_flags + [f.serialize() for f in category_flags(matches, config, lang)])
    return data


# ---------------------------------------------------------------- reading categories back


def call_categories(result: Mapping[str, Any]) -> list[str]:
    """Ids of the categories a stored call result is in."""
    return [str(c.get("id")) for c in result.get("categories") or [] if isinstance(c, Mapping) and c.get("id")]


def category_names(config: Config, store: Any = None, lang: str = "en") -> dict[str, str]:
    """id -> name in `lang` of every configured (and, with a store, saved) category."""
    out = {cid: CategoryDef(cid, dict(item.name), item.query).name(lang)
           for cid, item in configured_categories(config).items() if item is not None}
    if store is not None:
        for c in saved_categories(store):
            out.setdefault(c["id"], CategoryDef(c["id"], c["name"] or {"en": c["id"]}, c["query"]).name(lang))
    return out


def categories_by_call(store: Any, call_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
    """call id -> ids of the categories its stored result is in (calls processed without error)."""
    sql = ("SELECT r.call_id, json_extract_string(r.result, '$.categories[*].id') AS cats FROM results r "
           "JOIN calls c USING (call_id) WHERE c.status = 'ok'")
    params: list[Any] = []
    if call_ids is not None:
        if not call_ids:
            return {}
        sql += " AND r.call_id IN (SELECT unnest(?))"
        params.append(list(call_ids))
    return {str(r["call_id"]): [str(c) for c in r["cats"] or [] if c] for r in store.query(sql, params)}


def category_summary(store: Any, call_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per category, over some stored calls (e.g. one night's): {id, name, calls, example:
    {call_id, start, speaker, quote}} (the first call in it by id), most calls first."""
    if not call_ids:
        return []
    rows = store.query("SELECT r.call_id, json_extract_string(r.result, '$.categories') AS cats FROM results r "
                       "WHERE r.call_id IN (SELECT unnest(?)) ORDER BY r.call_id", [list(call_ids)])
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        for c in json.loads(r["cats"] or "[]") or []:
            if not isinstance(c, Mapping) or not c.get("id"):
                continue
            entry = out.setdefault(str(c["id"]), {"id": str(c["id"]), "name": c.get("name") or c["id"], "calls": 0,
                                                  "example": None})
            entry["calls"] += 1
            ev = (c.get("evidence") or [None])[0]
            if entry["example"] is None and ev:
                entry["example"] = {"call_id": r["call_id"], "start": ev.get("start"), "speaker": ev.get("speaker"),
                                    "quote": ev.get("quote")}
    return sorted(out.values(), key=lambda e: (-e["calls"], e["id"]))


def category_counts(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Calls per category id over some stored results (most calls first)."""
    counts: dict[str, int] = {}
    for r in results:
        for cid in set(call_categories(r)):
            counts[cid] = counts.get(cid, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


__all__ = ["CategoryDef", "CategoryMatch", "CONFIG_SECTIONS", "configured_categories", "category_summary",
           "saved_fingerprint", "saved_section", "stale_saved", "FLAG_PREFIX", "apply_categories", "apply_saved",
           "call_categories", "categories_by_call", "category_counts", "category_defs", "category_names", "config_with_saved",
           "delete_category", "evaluate", "save_category", "saved_categories"]
