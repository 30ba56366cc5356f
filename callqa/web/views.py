"""What the pages show, assembled from the store and the configuration (no HTTP here)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from callqa.pipeline.severity import rank as severity_rank
from callqa.pipeline.store.db import Store
from callqa.users import User

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SPEAKERS = ("operator", "client")
MEASURED_ONLY = frozenset({"talk_ratio", "speech_rate"})  # measurements whose evidence may be empty (CONTRACTS.md)


def fmt_time(seconds: Any) -> str:
    """`m:ss` (or `h:mm:ss`) for a time in seconds."""
    if seconds is None:
        return ""
    s = max(0.0, float(seconds))
    h, rem = divmod(int(s), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def latest(reviews: Iterable[Mapping[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The review of a kind that applies, per target: those the store marked `latest`
    (`Store.latest_reviews_sql`: the latest on the current analysis)."""
    return {r.get("target") or "": dict(r) for r in reviews if r.get("kind") == kind and r.get("latest")}


# ---------------------------------------------------------------- queue

@dataclass(frozen=True)
class QueueFilters:
    team: str | None = None
    operator: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    flag: str | None = None
    category: str | None = None  # configs/categories.yaml or saved in the web app (issue 13)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> tuple["QueueFilters", list[str]]:
        """Filters from query parameters; also the date values that were ignored."""
        bad: list[str] = []
        vals: dict[str, str | None] = {}
        for k in ("team", "operator", "date_from", "date_to", "flag", "category"):
            v = (params.get(k) or "").strip() or None
            if v is not None and k.startswith("date_") and not _DATE.match(v):
                bad.append(v)
                v = None
            vals[k] = v
        return cls(**vals), bad

    def serialize(self) -> dict[str, str | None]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class QueueRow:
    call_id: str
    operator_id: str | None
    team: str | None
    started_at: str | None
    duration_s: float | None
    language: str | None
    severity: str | None
    severity_rank: int
    flags: tuple[dict[str, Any], ...]
    review: str | None  # latest review status (reviewed / needs_coaching)

    def serialize(self) -> dict[str, Any]:
        return {**self.__dict__, "flags": list(self.flags)}


@dataclass(frozen=True)
class Queue:
    rows: tuple[QueueRow, ...]
    total: int
    counts: dict[str, int]  # flag id -> calls with it (within the other filters)
    all_calls: int  # flagged calls within the other filters (any flag)
    teams: tuple[str, ...]
    operators: tuple[str, ...]
    categories: dict[str, int] = field(default_factory=dict)  # category id -> queued calls in it

    def serialize(self) -> dict[str, Any]:
        return {"total": self.total, "all_calls": self.all_calls, "counts": self.counts,
                "categories": self.categories, "rows": [r.serialize() for r in self.rows]}


def build_queue(store: Store, user: User, filters: QueueFilters, limit: int) -> Queue:
    """Flagged calls the user may see, most severe first, with counts per flag."""
    flags = [f for f in store.flags() if user.can_see_call(f.get("team"), f.get("operator_id"))]
    teams = tuple(sorted({f["team"] for f in flags if f.get("team")}))
    operators = tuple(sorted({f["operator_id"] for f in flags if f.get("operator_id")
                              and (filters.team is None or f.get("team") == filters.team)}))

    def keep(f: Mapping[str, Any]) -> bool:
        day = (f.get("started_at") or "")[:10]
        return ((filters.team is None or f.get("team") == filters.team)
                and (filters.operator is None or f.get("operator_id") == filters.operator)
                and (filters.date_from is None or (day and day >= filters.date_from))
                and (filters.date_to is None or (day and day <= filters.date_to)))

    flags = [f for f in flags if keep(f)]
    by_call: dict[str, list[dict[str, Any]]] = {}
    for f in flags:  # already sorted by severity, then time
        by_call.setdefault(f["call_id"], []).append(f)
    counts = Counter(fid for fs in by_call.values() for fid in {f["flag_id"] for f in fs})
    all_calls = len(by_call)
    if filters.flag is not None:
        by_call = {cid: fs for cid, fs in by_call.items() if any(f["flag_id"] == filters.flag for f in fs)}
    from callqa.pipeline.scoring.categories import categories_by_call

    in_cats = categories_by_call(store, list(by_call))
    cat_counts = Counter(c for ids in in_cats.values() for c in set(ids))
    if filters.category is not None:
        by_call = {cid: fs for cid, fs in by_call.items() if filters.category in in_cats.get(cid, ())}
    reviews = _latest_reviews(store, list(by_call))
    rows = []
    for cid, fs in by_call.items():
        top = max(fs, key=lambda f: f.get("severity_rank") or 0)
        rows.append(QueueRow(
            call_id=cid, operator_id=top.get("operator_id"), team=top.get("team"), started_at=top.get("started_at"),
            duration_s=top.get("duration_s"), language=top.get("language"), severity=top.get("severity"),
            severity_rank=int(top.get("severity_rank") or 0),
            flags=tuple({"id": f["flag_id"], "severity": f.get("severity"), "reason": f.get("reason"),
                         "start": f.get("start"), "quote": f.get("quote"), "decision": f.get("decision")}
                        for f in fs),
            review=reviews.get(cid)))
    rows.sort(key=lambda r: (-r.severity_rank, -len(r.flags), _neg_time(r.started_at), r.call_id))
    return Queue(tuple(rows[:limit]), len(rows), dict(counts.most_common()), all_calls, teams, operators,
                 dict(cat_counts.most_common()))


def _neg_time(started_at: str | None) -> tuple[int, str]:
    # newest first: sort on the inverted characters of the ISO time
    s = started_at or ""
    return (0 if s else 1, "".join(chr(0x10FFFF - ord(c)) for c in s))


def _latest_reviews(store: Store, call_ids: list[str]) -> dict[str, str]:
    if not call_ids:
        return {}
    return {r["call_id"]: r["status"] for r in store.latest_reviews("review", call_ids=call_ids)}


# ---------------------------------------------------------------- call page

@dataclass
class CallPage:
    result: dict[str, Any]
    turns: list[dict[str, Any]]
    competencies: list[dict[str, Any]]
    flags: list[dict[str, Any]]
    signals: list[tuple[str, str]]
    stages: list[dict[str, Any]]
    overrides: list[dict[str, Any]]  # every score override, newest first (`current` false: an earlier analysis)
    reviews: list[dict[str, Any]]  # reviews of kind "review", newest first
    earlier: list[dict[str, Any]] = field(default_factory=list)  # flag / nomination decisions on an earlier analysis
    nominations: list[Any] = field(default_factory=list)  # LibraryItem
    duration: float = 0.0


def _num(v: Any, fmt: str = "{:.1f}") -> str:
    if v is None or isinstance(v, bool):
        return "—"
    try:
        return fmt.format(float(v))
    except (TypeError, ValueError):
        return str(v)


def _pair(d: Any, fmt: str = "{:.1f}") -> str:
    d = d if isinstance(d, Mapping) else {}
    return f"{_num(d.get('operator'), fmt)} / {_num(d.get('client'), fmt)}"


def signal_rows(signals: Mapping[str, Any] | None, t: Any,
                roles_unknown: bool = False) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """(label, value) rows of the headline signals, and the script stages. With `roles_unknown`
    (flag role_uncertain) a row that says who did what (operator / client) reads "unknown" and
    why, not numbers under guessed labels (the stored signals keep the raw values)."""
    s = signals or {}
    rows: list[tuple[str, str]] = []
    if not s:
        return rows, []
    unknown = t("signals.roles_unknown")
    sec = (lambda v: t("common.seconds", value=_num(v)))
    tt = s.get("talk_time_s") or {}
    rows.append((t("signals.talk_time"), unknown if roles_unknown else
                 f"{sec(tt.get('operator'))} / {sec(tt.get('client'))}"))
    ratio = s.get("talk_ratio_operator")
    rows.append((t("signals.talk_ratio"), unknown if roles_unknown else
                 "—" if ratio is None else f"{float(ratio):.0%}"))
    rows.append((t("signals.silence"), f"{sec(s.get('silence_s'))} / {sec(s.get('longest_silence_s'))}"))
    inter = s.get("interruptions") or {}
    rows.append((t("signals.interruptions"), unknown if roles_unknown else
                 f"{_num(inter.get('by_operator'), '{:.0f}')} / {_num(inter.get('by_client'), '{:.0f}')}"))
    rows.append((t("signals.speech_rate"), unknown if roles_unknown else _pair(s.get("speech_rate_wpm"), "{:.0f}")))
    fill = s.get("filler_words") or {}  # per 100 of the operator's words
    rows.append((t("signals.fillers"), f"{_num(fill.get('count'), '{:.0f}')} / "
                                       f"{unknown if roles_unknown else _num(fill.get('per_100_words'))}"))
    script = s.get("script") or {}
    if script:
        comp = script.get("compliance")
        rows.append((t("signals.script"), unknown if roles_unknown else
                     "—" if comp is None else f"{float(comp):.0%}"))
    rows.append((t("signals.forbidden"), str(len(s.get("forbidden_phrases") or []))))
    rows.append((t("signals.escalations"), str(len(s.get("escalations") or []))))
    sent = s.get("sentiment") or {}
    if sent:
        rows.append((t("signals.sentiment"), unknown if roles_unknown else
                     f"{_num(sent.get('client_start'), '{:+.2f}')} → {_num(sent.get('client_end'), '{:+.2f}')}"))
        rows.append((t("signals.operator_sentiment"), unknown if roles_unknown else
                     _num(sent.get("operator_mean"), "{:+.2f}")))
    loud = s.get("loudness")
    if isinstance(loud, Mapping) and loud:
        def db(v: Any) -> str:
            if isinstance(v, Mapping):
                v = v.get("mean_db", v.get("rms_db", v.get("mean")))
            return _num(v)
        rows.append((t("signals.loudness"), unknown if roles_unknown else
                     f"{db(loud.get('operator'))} / {db(loud.get('client'))}"))
    stages = [dict(st) for st in script.get("stages") or [] if isinstance(st, Mapping)]
    return rows, stages


def build_call_page(result: dict[str, Any], config: Any, lang: str, t: Any,
                    nominations: Sequence[Any] = ()) -> CallPage:
    """The call page's sections, from a stored call result (automatic scores) and its reviews."""
    turns_raw = ((result.get("transcript") or {}).get("turns")) or []
    duration = float(result.get("duration_s") or 0.0) or max((float(t_.get("end") or 0) for t_ in turns_raw),
                                                              default=0.0)
    span = duration or 1.0
    turns = []
    for i, tr in enumerate(turns_raw):
        start, end = float(tr.get("start") or 0.0), float(tr.get("end") or 0.0)
        turns.append({**tr, "i": i, "left": 100.0 * start / span, "width": max(0.4, 100.0 * (end - start) / span),
                      "speaker_class": tr.get("speaker") if tr.get("speaker") in SPEAKERS else "other"})

    cmap = config.section("competency_map")
    ind_specs = config.section("indicators").items
    levels = {lv.level: lv.name.get(lang) for lv in cmap.levels}
    indicators = {i.get("id"): i for i in result.get("indicators") or []}
    reviews = result.get("reviews") or []
    current_override = latest(reviews, "score_override")
    competencies = []
    for c in result.get("competencies") or []:
        cid = c.get("id")
        cdef = cmap.competencies.get(cid)
        inds = []
        for iid in c.get("indicators") or []:
            ind = indicators.get(iid) or {"id": iid}
            spec = ind_specs.get(iid)
            evidence = [e for e in ind.get("evidence") or [] if isinstance(e, Mapping)]
            numeric = bool(spec.numeric) if spec else False
            score = ind.get("score")
            inds.append({"id": iid, "name": spec.name.get(lang) if spec and spec.name else iid,
                         "score": score, "value": ind.get("value"), "evidence": evidence,
                         "shown": score is not None and (bool(evidence) or iid in MEASURED_ONLY),
                         "numeric": numeric})
        has_evidence = any(i["evidence"] for i in inds)
        ov = current_override.get(cid)
        competencies.append({
            "id": cid, "name": cdef.name.get(lang) if cdef else cid,
            "description": cdef.description.get(lang) if cdef else "",
            "score": c.get("score"), "level": c.get("level"), "level_name": levels.get(c.get("level"), ""),
            "indicators": inds, "has_evidence": has_evidence, "override": ov,
            "override_level_name": levels.get((ov or {}).get("value", {}).get("level")) if ov else "",
        })
    flag_decisions = latest(reviews, "flag")
    flags = []
    for f in result.get("flags") or []:
        flags.append({**f, "rank": severity_rank(f.get("severity")),
                      "evidence": [e for e in f.get("evidence") or [] if isinstance(e, Mapping)],
                      "decision": flag_decisions.get(f.get("id"))})
    flags.sort(key=lambda f: -f["rank"])
    roles_unknown = any(f.get("id") == "role_uncertain" for f in flags)
    sig_rows, stages = signal_rows(result.get("signals"), t, roles_unknown=roles_unknown)
    overrides = [{"current": True, **r} for r in reviews if r.get("kind") == "score_override"][::-1]
    names = {c["id"]: c["name"] for c in competencies}
    for o in overrides:
        o["competency_name"] = names.get(o.get("target"), o.get("target"))
        o["level_name"] = levels.get((o.get("value") or {}).get("level"), "")
    earlier = [dict(r) for r in reviews if r.get("kind") in ("flag", "nomination") and not r.get("current", True)][::-1]
    return CallPage(result=result, turns=turns, competencies=competencies, flags=flags, signals=sig_rows,
                    stages=stages, overrides=overrides,
                    reviews=[{"current": True, **r} for r in reviews if r.get("kind") == "review"][::-1],
                    nominations=list(nominations), duration=duration, earlier=earlier)


def parse_override(form: Mapping[str, Any], known: Iterable[str],
                   config: Any = None) -> tuple[str, dict[str, Any], str] | str:
    """(competency, value, comment) from the override form, or an error key. A score
    sets the level by the competency map's thresholds (given `config`): a level that
    disagrees with the score is refused; with a score alone, the level is filled in."""
    cid = str(form.get("competency") or "")
    if cid not in set(known):
        return "errors.unknown_competency"
    value = parse_score(form, config)
    if isinstance(value, str):
        return value
    comment = " ".join(str(form.get("comment") or "").split())
    if not comment:
        return "errors.override_comment"
    return cid, value, comment[:2000]


def parse_score(form: Mapping[str, Any], config: Any = None) -> dict[str, Any] | str:
    """{'score', 'level'} from a form's `score` / `level` fields, or an error key; with
    `config` the level follows the score (a disagreeing level is refused)."""
    value: dict[str, Any] = {}
    level_raw = str(form.get("level") or "").strip()
    score_raw = str(form.get("score") or "").strip().replace(",", ".")
    if level_raw:
        if level_raw not in ("1", "2", "3", "4"):
            return "errors.override_level"
        value["level"] = int(level_raw)
    if score_raw:
        try:
            score = float(score_raw)
        except ValueError:
            return "errors.override_score"
        if not 0.0 <= score <= 100.0 or score != score:
            return "errors.override_score"
        value["score"] = round(score, 1)
    if not value:
        return "errors.override_empty"
    if config is not None and "score" in value:
        level = config.section("competency_map").level_for(value["score"])
        if value.get("level", level) != level:
            return "errors.override_mismatch"
        value["level"] = level
    return value


def json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


# ---------------------------------------------------------------- scorecards and dashboard

def visible_results(store: Store, user: User, config: Any = None) -> list[dict[str, Any]]:
    """Call results the user may see, in the shape grades and scorecards read (call
    fields, competencies with the human overrides of the current analysis applied,
    flag ids, nominations), built from the store's tables rather than the full result
    documents: no transcripts, so a quarter of calls stays cheap."""
    from callqa.pipeline.scoring.competency import apply_override

    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()
    calls = {r["call_id"]: {**r, "competencies": [], "flags": [], "nominations": []} for r in store.query(
        "SELECT call_id, operator_id, team, role, language, started_at, difficult, scenario FROM calls "
        "WHERE status = 'ok' ORDER BY call_id")
        if user.can_see_call(r["team"], r["operator_id"])}
    if not calls:
        return []
    overrides = {(r["call_id"], r["target"]): r["value"] for r in store.latest_reviews("score_override")}
    for r in store.query("SELECT call_id, competency_id, score, level FROM competencies ORDER BY call_id"):
        call = calls.get(r["call_id"])
        if call is None:
            continue
        comp = {"id": r["competency_id"], "score": r["score"], "level": r["level"]}
        ov = overrides.get((r["call_id"], r["competency_id"]))
        if ov:
            apply_override(comp, ov, config)
        call["competencies"].append(comp)
    for r in store.query("SELECT call_id, flag_id, severity FROM flags ORDER BY call_id, flag_idx"):
        if r["call_id"] in calls:
            calls[r["call_id"]]["flags"].append({"id": r["flag_id"], "severity": r["severity"]})
    for r in store.query("SELECT call_id, competency_id, data FROM nominations ORDER BY call_id, nomination_idx"):
        if r["call_id"] in calls:
            data = json.loads(r["data"]) if r["data"] else {}
            calls[r["call_id"]]["nominations"].append({**data, "competency": data.get("competency") or r["competency_id"]})
    return list(calls.values())


def periods_of(results: Iterable[Mapping[str, Any]]) -> list[str]:
    """Quarters, months and weeks that have calls, newest first within each kind."""
    from callqa.pipeline.people.grades import parse_date, period_keys

    keys: dict[str, set[str]] = {"quarter": set(), "month": set(), "week": set()}
    for r in results:
        for kind, key in period_keys(parse_date(r.get("started_at"))).items():
            if key:
                keys[kind].add(key)
    return [k for kind in ("quarter", "month", "week") for k in sorted(keys[kind], reverse=True)]


def default_period(results: Sequence[Mapping[str, Any]]) -> str:
    """The quarter of the newest call (the current quarter when no call has a date)."""
    from datetime import date

    from callqa.pipeline.people.grades import parse_date, period_keys

    days = [d for d in (parse_date(r.get("started_at")) for r in results) if d is not None]
    return str(period_keys(max(days) if days else date.today())["quarter"])


def _name(cmap: Any, cid: str, lang: str) -> str:
    return cmap.competencies[cid].name.get(lang) if cid in cmap.competencies else cid


def scorecard_page(results: list[dict[str, Any]], operator_id: str, period: str, config: Any,
                   lang: str, disputes: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """An operator's scorecard (pipeline.people.reports.build_scorecard) with its SVG charts and
    the disputes raised on the operator's calls of the period (counts by status)."""
    from callqa.pipeline.qa.disputes import dispute_counts

    from callqa.pipeline.people.reports import bar_chart_svg, build_scorecard, line_chart_svg

    cmap = config.section("competency_map")
    card = build_scorecard(results, operator_id, period, config)
    levels = {lv.level: lv.name.get(lang) for lv in cmap.levels}
    items = [{"label": _name(cmap, g.competency, lang), "value": g.mean, "low": g.ci_low, "high": g.ci_high,
              "level": g.level, "note": "" if g.enough_calls else " *"} for g in card.grade.competencies]
    trend: dict[str, list[tuple[str, float]]] = {}
    for row in card.trend.iter_rows(named=True):
        trend.setdefault(_name(cmap, row["competency"], lang), []).append((row["week"], row["mean"]))
    grades = [{"id": g.competency, "name": _name(cmap, g.competency, lang), "mean": g.mean, "calls": g.calls,
               "difficult": g.difficult_calls, "low": g.ci_low, "high": g.ci_high, "level": g.level,
               "level_name": levels.get(g.level, ""), "note": g.note} for g in card.grade.competencies]
    plan = [{"id": it.competency, "name": _name(cmap, it.competency, lang), "mean": it.mean, "level": it.level,
             "actions": it.actions.get(lang) or [], "exemplary": [e.serialize() for e in it.exemplary]}
            for it in card.plan.items]
    ids = {c.call_id for c in card.calls}
    mine = [d for d in disputes if str(d.get("call_id")) in ids and d.get("operator_id") == operator_id]
    return {"card": card, "grades": grades, "plan": plan,
            "dispute_counts": dispute_counts(mine).get(operator_id, {"raised": 0, "open": 0, "accepted": 0,
                                                                     "rejected": 0}),
            "disputes": mine,
            "bars": bar_chart_svg(items, [lv.min_score for lv in cmap.levels[1:]]),
            "trend": line_chart_svg(trend) if trend else "",
            "flagged": [c for c in card.calls if c.flags],
            "exemplary_calls": [c for c in card.calls if c.nominated],
            "min_calls": config.section("grading").min_calls,
            "competency_names": {cid: _name(cmap, cid, lang) for cid in cmap.competencies}}


def dashboard_page(results: list[dict[str, Any]], period: str, config: Any, lang: str,
                   disputes: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Team table (operator x competency: period mean and level, disputes on the period's
    calls), disputes per team, and the team's weekly trend."""
    import polars as pl

    from callqa.pipeline.qa.disputes import dispute_counts

    from callqa.pipeline.people.grades import competency_frame, grade_frame, in_period
    from callqa.pipeline.people.reports import line_chart_svg

    cmap = config.section("competency_map")
    frame = in_period(competency_frame(results), period)
    grades = grade_frame(frame, config)
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for g in grades.iter_rows(named=True):
        cells.setdefault(g["operator_id"], {})[g["competency"]] = g
    ids = set(frame.get_column("call_id").to_list())
    calls: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    for r in results:
        if str(r.get("call_id")) in ids:
            calls[r.get("operator_id")] += 1
            flagged[r.get("operator_id")] += bool(r.get("flags"))
    operators = sorted(o for o in calls if o is not None)
    weekly = (frame.filter(pl.col("score").is_not_null()).group_by("week", "competency")
              .agg(pl.col("score").mean().alias("mean")).sort("week", "competency"))
    trend: dict[str, list[tuple[str, float]]] = {}
    for row in weekly.iter_rows(named=True):
        if row["week"]:
            trend.setdefault(_name(cmap, row["competency"], lang), []).append((row["week"], row["mean"]))
    in_view = [d for d in disputes if str(d.get("call_id")) in ids]
    per_operator, per_team = dispute_counts(in_view), dispute_counts(in_view, "team")
    empty = {"raised": 0, "open": 0, "accepted": 0, "rejected": 0}
    return {"operators": [{"id": o, "calls": calls[o], "flagged": flagged[o], "cells": cells.get(o, {}),
                           "disputes": per_operator.get(o, empty)} for o in operators],
            "team_disputes": sorted(per_team.items()),
            "competencies": [(cid, _name(cmap, cid, lang)) for cid in cmap.competencies],
            "trend": line_chart_svg(trend) if trend else ""}


# ---------------------------------------------------------------- operators' own calls and disputes

def visible_disputes(store: Store, user: User, *, call_ids: Sequence[str] | None = None,
                     status: str | None = None) -> list[dict[str, Any]]:
    """Disputes on the calls the user may see (an operator: their own calls only)."""
    from callqa.pipeline.qa.disputes import disputes

    return [d for d in disputes(store, call_ids=call_ids, status=status)
            if user.can_see_call(d.get("team"), d.get("operator_id"))]


def dispute_view(items: Iterable[Mapping[str, Any]], config: Any, lang: str, t: Any) -> list[dict[str, Any]]:
    """Disputes with what they are about in words (competency name or flag label) and level names."""
    cmap = config.section("competency_map")
    levels = {lv.level: lv.name.get(lang) for lv in cmap.levels}
    out = []
    for d in items:
        label = _name(cmap, d["target"], lang) if d["kind"] == "score" else t("flags." + str(d["target"]))
        new = d.get("decided_value") or {}
        seen = d.get("disputed") or {}
        out.append({**d, "label": label, "new_level_name": levels.get(new.get("level"), ""),
                    "seen_level_name": levels.get(seen.get("level"), "")})
    return out


def my_calls(results: Iterable[Mapping[str, Any]], items: Iterable[Mapping[str, Any]],
             config: Any) -> list[dict[str, Any]]:
    """An operator's calls, newest first: overall score (with supervisors' corrections),
    flags, and the status of the disputes raised on each."""
    from callqa.pipeline.scoring.competency import overall_score

    by_call: dict[str, list[str]] = {}
    for d in items:
        by_call.setdefault(str(d["call_id"]), []).append(str(d["status"]))
    rows = [{"call_id": str(r["call_id"]), "started_at": r.get("started_at"), "difficult": bool(r.get("difficult")),
             "overall": overall_score(r.get("competencies") or [], config, r.get("role")),
             "flags": [f.get("id") for f in r.get("flags") or []],
             "disputes": dict(Counter(by_call.get(str(r["call_id"]), [])))} for r in results]
    rows.sort(key=lambda r: (r["started_at"] or "", r["call_id"]), reverse=True)
    return rows
