"""What the search, trends and categories pages show (issue 13), assembled from the store, the
search index and the configuration (no HTTP here). Permissions: every list is cut to the calls
the user may see (`User.can_see_call`): the search runs with a restriction the user cannot lift
(a supervisor's teams, an operator's own id) and every hit is checked again."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Mapping, Sequence

from callqa.pipeline.people.grades import parse_date, period_keys
from callqa.pipeline.scoring import categories as cats
from callqa.users import User

SORTS = ("date", "relevance")
PERIODS = ("week", "month")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
TOPICS_STALE_ABOVE = 5000  # stored calls above which the trends page shows the kept topics (refreshed nightly)


# ---------------------------------------------------------------- search


def restriction(user: User) -> dict[str, list[str]] | None:
    """Search filters the user cannot lift: None for those who see every call."""
    if user.role == "operator":
        return {"operator_id": [str(user.operator_id or "\x00")]}
    if user.sees_all:
        return None
    return {"team": [t.lower() for t in user.teams] or ["\x00"]}


@dataclass(frozen=True)
class HitView:
    call_id: str
    start: float
    end: float
    speaker: str
    quote: str
    parts: tuple[tuple[str, bool], ...]  # (text, highlighted)
    started_at: str | None
    team: str | None
    operator_id: str | None
    language: str | None

    def serialize(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "start": round(self.start, 2), "end": round(self.end, 2),
                "speaker": self.speaker, "quote": self.quote,
                "highlights": _spans(self.parts), "started_at": self.started_at, "team": self.team,
                "operator_id": self.operator_id, "language": self.language}


def _spans(parts: Sequence[tuple[str, bool]]) -> list[list[int]]:
    out, pos = [], 0
    for text, marked in parts:
        if marked:
            out.append([pos, pos + len(text)])
        pos += len(text)
    return out


def _parts(quote: str, highlights: Sequence[Sequence[int]]) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    last = 0
    for a, b in sorted((int(x[0]), int(x[1])) for x in highlights):
        a, b = max(a, last), max(b, last)
        if a > last:
            out.append((quote[last:a], False))
        if b > a:
            out.append((quote[a:b], True))
        last = b
    if last < len(quote):
        out.append((quote[last:], False))
    return tuple(out)


@dataclass
class SearchView:
    query: str
    sort: str
    limit: int
    hits: list[HitView] = field(default_factory=list)
    calls: int = 0
    more: bool = False
    error: dict[str, Any] | None = None  # syntax_error(): {code, params, message, text, position, column, ...}

    def serialize(self) -> dict[str, Any]:
        return {"query": self.query, "sort": self.sort, "hits": [h.serialize() for h in self.hits],
                "calls": self.calls, "more": self.more, "error": self.error}


ERROR_KEY = "search.errors."  # + QuerySyntaxError.code: the message in configs/ui/<lang>.yaml


def syntax_error(e: Any, translate: Callable[..., str] | None = None) -> dict[str, Any]:
    """A QuerySyntaxError for a page: its code and parameters, the English `message`, the `text`
    in the page's language (`translate`: the UI strings of that language, English for a
    language without the string), the 0-based position and the query cut there."""
    q, p = e.query, e.position
    text = e.message
    if translate is not None:
        key = ERROR_KEY + e.code
        template = translate(key)
        text = e.localized(template if template and template != key else None)
    return {"code": e.code, "params": dict(e.params), "message": e.message, "text": text, "position": p,
            "column": p + 1, "before": q[:p], "at": q[p:p + 1] or " ", "after": q[p + 1:]}


def run_search(store: Any, user: User, query: str, *, sort: str = "date", limit: int = DEFAULT_LIMIT,
               config: Any = None, translate: Callable[..., str] | None = None) -> SearchView:
    """Hits of `query` in the calls `user` may see (the index: pipeline/search/index.py), words
    read by the language pipelines of `config`; a syntax error's text from `translate` (the UI
    strings of the page's language)."""
    from callqa.pipeline.search.index import search
    from callqa.pipeline.search.query import QuerySyntaxError

    sort = sort if sort in SORTS else "date"
    limit = max(1, min(int(limit or DEFAULT_LIMIT), MAX_LIMIT))
    view = SearchView(query=query, sort=sort, limit=limit)
    if not query.strip():
        return view
    try:
        res = search(store.path, query, limit=limit, sort=sort, restrict=restriction(user), config=config)
    except QuerySyntaxError as e:
        view.error = syntax_error(e, translate)
        return view
    seen = set()
    for h in res.hits:
        meta = h.meta or {}
        if not user.can_see_call(meta.get("team"), meta.get("operator_id")):
            continue  # the index's restriction is checked again against the user's own rule
        seen.add(h.call_id)
        view.hits.append(HitView(h.call_id, float(h.start), float(h.end), h.speaker, h.quote,
                                 _parts(h.quote, h.highlights), meta.get("started_at"), meta.get("team"),
                                 meta.get("operator_id"), meta.get("language")))
    view.calls = len(seen)
    view.more = bool(res.more)
    return view


# ---------------------------------------------------------------- trends


def _visible_calls(store: Any, user: User, team: str | None = None) -> list[dict[str, Any]]:
    rows = store.query("SELECT call_id, team, operator_id, started_at FROM calls WHERE status = 'ok'")
    return [r for r in rows if user.can_see_call(r.get("team"), r.get("operator_id"))
            and (team is None or r.get("team") == team)]


def period_of(started_at: Any, period: str) -> str | None:
    return period_keys(parse_date(started_at))[period]


def _back(key: str, period: str, n: int) -> str:
    """The key `n` periods before `key` (2026-W48, 2026-11)."""
    if period == "week":
        y, w = key.split("-W")
        d = date.fromisocalendar(int(y), int(w), 1) - timedelta(weeks=n)
        iy, iw, _ = d.isocalendar()
        return f"{iy}-W{iw:02d}"
    y, m = (int(x) for x in key.split("-"))
    idx = y * 12 + (m - 1) - n
    return f"{idx // 12}-{idx % 12 + 1:02d}"


@dataclass(frozen=True)
class TrendRow:
    kind: str  # category | topic
    id: str
    name: str
    counts: tuple[int, ...]  # per period, oldest first
    by_team: Mapping[str, tuple[int, int]]  # team -> (this period, previous period)
    examples: tuple[Mapping[str, Any], ...] = ()
    terms: tuple[str, ...] = ()

    @property
    def current(self) -> int:
        return self.counts[-1] if self.counts else 0

    @property
    def previous(self) -> int:
        return self.counts[-2] if len(self.counts) > 1 else 0

    @property
    def change(self) -> int:
        return self.current - self.previous

    @property
    def change_pct(self) -> float | None:
        return None if not self.previous else round(100.0 * self.change / self.previous, 1)

    def serialize(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "counts": list(self.counts),
                "current": self.current, "previous": self.previous, "change": self.change,
                "change_pct": self.change_pct, "by_team": {k: list(v) for k, v in self.by_team.items()},
                "terms": list(self.terms), "examples": [dict(e) for e in self.examples]}


@dataclass(frozen=True)
class Trends:
    period: str
    periods: tuple[str, ...]
    calls: tuple[int, ...]  # calls per period
    teams: tuple[str, ...]
    team: str | None
    categories: tuple[TrendRow, ...]
    topics: tuple[TrendRow, ...]

    def serialize(self) -> dict[str, Any]:
        return {"period": self.period, "periods": list(self.periods), "calls": list(self.calls),
                "teams": list(self.teams), "team": self.team,
                "categories": [r.serialize() for r in self.categories], "topics": [r.serialize() for r in self.topics]}


def build_trends(store: Any, config: Any, user: User, lang: str, *, period: str = "week", periods: int = 8,
                 team: str | None = None, end: str | None = None, with_topics: bool = True) -> Trends:
    """Categories and topics per period (and team) over the calls `user` may see: counts per
    period (the last `periods`, ending with `end` or the newest call's), and this period's
    against the previous one per team."""
    period = period if period in PERIODS else "week"
    periods = max(2, min(int(periods or 8), 104))
    visible_all = _visible_calls(store, user)
    teams = tuple(sorted({str(r["team"]) for r in visible_all if r.get("team")}))
    team = team if team in teams else None
    rows = [r for r in visible_all if team is None or r.get("team") == team]
    for r in rows:
        r["period"] = period_of(r.get("started_at"), period)
    keys = sorted({r["period"] for r in rows if r["period"]})
    last = end if end else (keys[-1] if keys else None)
    if last is None:
        return Trends(period, (), (), teams, team, (), ())
    axis = tuple(_back(last, period, n) for n in range(periods - 1, -1, -1))
    pos = {k: i for i, k in enumerate(axis)}
    rows = [r for r in rows if r["period"] in pos]
    calls = Counter(r["period"] for r in rows)
    by_call = cats.categories_by_call(store, [r["call_id"] for r in rows])
    names = cats.category_names(config, store, lang)
    cur, prev = axis[-1], axis[-2]

    def make(kind: str, labels: Mapping[str, list[str]], name_of: Mapping[str, str],
             extra: Mapping[str, dict[str, Any]] | None = None) -> list[TrendRow]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(axis))
        teams_ct: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for r in rows:
            for lab in set(labels.get(r["call_id"], [])):
                counts[lab][pos[r["period"]]] += 1
                t = str(r.get("team") or "—")
                if r["period"] == cur:
                    teams_ct[lab][t][0] += 1
                elif r["period"] == prev:
                    teams_ct[lab][t][1] += 1
        out = []
        for lab, cs in counts.items():
            e = (extra or {}).get(lab, {})
            out.append(TrendRow(kind, lab, name_of.get(lab, lab), tuple(cs),
                                {k: (v[0], v[1]) for k, v in sorted(teams_ct[lab].items())},
                                tuple(e.get("examples", ())), tuple(e.get("terms", ()))))
        out.sort(key=lambda r: (-r.current, -sum(r.counts), r.name))
        return out

    cat_rows = make("category", by_call, names)
    topic_rows: list[TrendRow] = []
    if with_topics:
        from callqa.pipeline.search.topics import topics_for_store

        model = topics_for_store(store, stale_above=TOPICS_STALE_ABOVE)
        visible_ids = {r["call_id"] for r in visible_all}
        labels = {cid: [tid] for cid, tid in model.assignments.items()}
        extra = {t.id: {"terms": t.words or t.terms,
                        "examples": tuple({"call_id": e.call_id, "start": e.start, "quote": e.quote}
                                          for e in t.examples if e.call_id in visible_ids)}
                 for t in model.topics}
        topic_rows = make("topic", labels, {t.id: t.name for t in model.topics}, extra)
    return Trends(period, axis, tuple(calls.get(k, 0) for k in axis), teams, team, tuple(cat_rows), tuple(topic_rows))


# ---------------------------------------------------------------- categories


@dataclass(frozen=True)
class CategoryRow:
    id: str
    name: str
    names: Mapping[str, str]
    query: str
    severity: str | None
    source: str  # config | store
    calls: int  # calls in it the user may see
    created_by: str | None = None
    created_at: Any = None

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "names": dict(self.names), "query": self.query,
                "severity": self.severity, "source": self.source, "calls": self.calls,
                "created_by": self.created_by,
                "created_at": None if self.created_at is None else str(self.created_at)}


def category_rows(store: Any, config: Any, user: User, lang: str) -> list[CategoryRow]:
    """Configured then saved categories, with how many visible calls each holds now."""
    visible = {r["call_id"] for r in _visible_calls(store, user)}
    counts = Counter(c for cid, ids in cats.categories_by_call(store).items() if cid in visible for c in set(ids))
    out = []
    section = cats.configured_categories(config)
    for cid, item in section.items():
        if item is None or not item.enabled:
            continue
        d = cats.CategoryDef(cid, dict(item.name), item.query)
        out.append(CategoryRow(cid, d.name(lang), dict(item.name), item.query,
                               item.flag.severity if item.flag else None, "config", counts.get(cid, 0)))
    for c in cats.saved_categories(store):
        if c["id"] in section:
            continue
        d = cats.CategoryDef(c["id"], c["name"] or {"en": c["id"]}, c["query"])
        out.append(CategoryRow(c["id"], d.name(lang), dict(c["name"]), c["query"], c.get("severity"), "store",
                               counts.get(c["id"], 0), c.get("created_by"), c.get("created_at")))
    return out


def with_category_labels(t: Any, config: Any, store: Any, lang: str) -> Any:
    """`t` that also names categories: `category:ID` -> its name in `lang`, and the category
    flags: `flags.category:ID` -> "Category: <its name>" (names read once, on the first such key)."""
    names: dict[str, str] = {}
    flag_key = "flags." + cats.FLAG_PREFIX

    def name(cid: str) -> str:
        if not names:
            try:
                names.update(cats.category_names(config, store, lang))
            except Exception:  # noqa: BLE001 - a label never breaks a page
                pass
            names.setdefault("\x00", "")
        return names.get(cid, cid)

    def translate(key: str, **values: Any) -> str:
        if key.startswith(flag_key):
            return f"{t('flags.category')}: {name(key[len(flag_key):])}"
        if key.startswith(cats.FLAG_PREFIX):
            return name(key[len(cats.FLAG_PREFIX):])
        return t(key, **values)

    return translate
