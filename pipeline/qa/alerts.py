"""Nightly alerts: one digest per batch run, sent to a webhook (JSON POST) and/or by
e-mail (SMTP), configured in `configs/alerts.yaml` (section `alerts`).

The digest lists what needs a person's attention after a run:

  high_severity_flags  flags at or above `alerts.min_severity` on the calls this run analysed
                       (`processing_error` flags are listed as failed files instead)
  failed_files         files the run could not process (the summary's failures: bad input,
                       set-up errors, duplicates, manifest rows without a file)
  score_drops          operators with calls in this run whose overall score in a period (ISO
                       week or month of the call's `started_at`, else the day it was processed)
                       is `score_drop.points` or more below their previous period's, both
                       periods with at least `score_drop.min_calls` scored calls
  category_spikes      per team, categories (saved searches stored with each call, issue 13)
                       whose share of this run's calls (or count: `category_spike.compare`) is
                       `category_spike.ratio` times or more their daily average over the
                       `category_spike.days` days before the run's latest call day, with at
                       least `category_spike.min_calls` calls tonight; with the count, the
                       baseline and an example call (masked id, link)

Privacy (issue 10): call ids and failed files' stems that look like phone numbers are shown
masked (`redact.mask_call_id`, configs/privacy.yaml) in the JSON, the e-mail and the stored
`STORE/reports/digest-<run>.json`; links name such a call by the web app's opaque key
(`redact.call_key`, as the web app's links, under `STORE/.web_secret`).

Overall score of an operator's period: the mean score of each competency over the period's
calls, combined by `competency.overall_score` (the one definition, role-weighted for the
operator's most common role in the period). Automatic scores from the store's
`competencies` table; a supervisor's score overrides are not applied.

`run_alerts` is called once at the end of every batch run (`batch.finish_batch`, used by
`run_batch` and the Prefect flow). It never raises: a digest that cannot be built or sent
is logged (logger `callqa.alerts`) and recorded in the run summary (`extra.alerts`). Nothing
is built or sent when neither a webhook nor an SMTP host is configured; a digest with nothing
new is skipped unless `send_empty`. Secrets never live in the config: the SMTP user and
password and the webhook's URL or headers may be read from environment variables named there.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callqa.pipeline import severity
from callqa.pipeline.people.grades import parse_date
from callqa.pipeline.privacy.redact import CALL_KEY_PREFIX, call_key
from callqa.pipeline.severity import SeverityFloor

log = logging.getLogger("callqa.alerts")

DIGEST_KIND = "callqa.nightly_digest"
DIGEST_VERSION = 1
PROCESSING_ERROR = "processing_error"


# --------------------------------------------------------------------------- configuration

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _env_name(v: str | None) -> str | None:
    if v is not None and (not v or not v.replace("_", "a").isalnum() or v[0].isdigit()):
        raise ValueError(f"{v!r} is not an environment variable name")
    return v


class WebhookOptions(_Strict):
    url: str | None = None  # http(s) URL the digest is POSTed to as JSON
    url_env: str | None = None  # ... or the name of an environment variable holding it (secret URLs)
    headers_env: dict[str, str] = Field(default_factory=dict)  # header -> env var holding its value
    timeout_s: float = Field(10.0, gt=0)
    retries: int = Field(1, ge=0, le=5)  # further attempts after a failed one
    retry_delay_s: float = Field(2.0, ge=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"must be an http:// or https:// URL, got {v!r}")
        return v

    @field_validator("url_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name(v)

    @field_validator("headers_env")
    @classmethod
    def _envs(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v.values():
            _env_name(name)
        return v

    @property
    def configured(self) -> bool:
        return bool(self.url or self.url_env)


class EmailOptions(_Strict):
    host: str | None = None  # SMTP server; no host = no e-mail
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True  # upgrade the connection with STARTTLS (port 587)
    ssl: bool = False  # implicit TLS from the start (port 465); not with starttls
    sender: str | None = Field(None, alias="from")
    to: list[str] = Field(default_factory=list)
    user_env: str | None = None  # env var holding the SMTP user name (no login when unset)
    password_env: str | None = None  # env var holding the SMTP password
    timeout_s: float = Field(10.0, gt=0)
    subject_prefix: str = "[callqa]"

    @field_validator("user_env", "password_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name(v)

    @model_validator(mode="after")
    def _complete(self) -> EmailOptions:
        if self.host:
            if not self.sender:
                raise ValueError("an SMTP host needs a 'from' address")
            if not self.to:
                raise ValueError("an SMTP host needs at least one 'to' address")
        if self.starttls and self.ssl:
            raise ValueError("choose starttls (port 587) or ssl (port 465), not both")
        if bool(self.user_env) != bool(self.password_env):
            raise ValueError("user_env and password_env go together")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.host)


class ScoreDropOptions(_Strict):
    points: float = Field(10.0, gt=0, le=100)  # overall score lower than the previous period's by this much
    period: Literal["week", "month"] = "week"
    min_calls: int = Field(3, ge=1)  # scored calls needed in each of the two periods


class CategorySpikeOptions(_Strict):
    days: int = Field(7, ge=1, le=366)  # baseline: the N days before the run's latest call day
    ratio: float = Field(2.0, gt=1)  # tonight's share (or count) at least this many times the baseline's
    min_calls: int = Field(3, ge=1)  # tonight's calls in the category, per team
    min_baseline_days: int = Field(3, ge=1)  # days with stored calls of the team in the window, for a baseline
    compare: Literal["share", "count"] = "share"  # share of the team's calls, or calls a day

    @model_validator(mode="after")
    def _window(self) -> CategorySpikeOptions:
        if self.min_baseline_days > self.days:
            raise ValueError(f"min_baseline_days ({self.min_baseline_days}) cannot exceed days ({self.days})")
        return self


class AlertsConfig(_Strict):
    enabled: bool = True  # false: nothing is sent even when channels are configured
    min_severity: SeverityFloor = "high"  # flags at or above this severity (pipeline/severity.py word or a rank number)
    send_empty: bool = False  # send a "nothing new" digest when a run found nothing to report
    include_quotes: bool = False  # put the flag's evidence quote in the digest (it leaves the machine)
    web_url: str | None = None  # the web app's address, for links to calls (e.g. https://qa.example.com)
    max_items: int = Field(50, ge=1)  # per section; the rest are counted
    score_drop: ScoreDropOptions = ScoreDropOptions()
    category_spike: CategorySpikeOptions = CategorySpikeOptions()
    webhook: WebhookOptions = WebhookOptions()
    email: EmailOptions = EmailOptions()

    @property
    def configured(self) -> bool:
        return self.enabled and (self.webhook.configured or self.email.configured)


CONFIG_SECTIONS = {"alerts": AlertsConfig}


# --------------------------------------------------------------------------- the digest

@dataclass
class Digest:
    run_id: str
    store: str
    started_at: str | None
    finished_at: str | None
    report: str | None
    counts: dict[str, int]
    high_severity_flags: list[dict[str, Any]] = field(default_factory=list)
    failed_files: list[dict[str, Any]] = field(default_factory=list)
    score_drops: list[dict[str, Any]] = field(default_factory=list)
    category_spikes: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    max_items: int = 50

    @property
    def empty(self) -> bool:
        return not (self.high_severity_flags or self.failed_files or self.score_drops
                    or self.category_spikes.get("items"))

    def headline(self) -> str:
        if self.empty:
            return f"run {self.run_id}: nothing new"
        parts = []
        for items, one, many in ((self.high_severity_flags, "high-severity flag", "high-severity flags"),
                                 (self.failed_files, "failed file", "failed files"),
                                 (self.score_drops, "operator score drop", "operator score drops"),
                                 (self.category_spikes.get("items") or [], "category spike", "category spikes")):
            if items:
                parts.append(f"{len(items)} {one if len(items) == 1 else many}")
        return f"run {self.run_id}: " + ", ".join(parts)

    def items(self) -> dict[str, int]:
        return {"high_severity_flags": len(self.high_severity_flags), "failed_files": len(self.failed_files),
                "score_drops": len(self.score_drops), "category_spikes": len(self.category_spikes.get("items") or [])}

    def serialize(self) -> dict[str, Any]:
        def cut(rows: list[dict[str, Any]]) -> dict[str, Any]:
            return {"total": len(rows), "items": rows[: self.max_items], "more": max(0, len(rows) - self.max_items)}

        return {"kind": DIGEST_KIND, "version": DIGEST_VERSION, "run_id": self.run_id, "store": self.store,
                "started_at": self.started_at, "finished_at": self.finished_at, "report": self.report,
                "headline": self.headline(), "empty": self.empty, "counts": dict(self.counts),
                "settings": dict(self.settings),
                "high_severity_flags": cut(self.high_severity_flags), "failed_files": cut(self.failed_files),
                "score_drops": cut(self.score_drops), "category_spikes": dict(self.category_spikes)}

    def text(self) -> str:
        """The digest as plain text (the e-mail body)."""
        lines = [f"callqa nightly digest — {self.headline()}", ""]
        c = self.counts
        lines.append(f"Processed {c.get('processed', 0)}, already stored {c.get('skipped', 0)}, "
                     f"failed {c.get('failed', 0)}, flagged {c.get('flagged', 0)}.")
        if self.report:
            lines.append(f"Nightly report: {self.report}")
        lines.append("")
        if self.empty:
            lines += ["Nothing new: no high-severity flags, no failed files, no operator score drops, "
                      "no category spikes.", ""]

        def section(title: str, rows: list[dict[str, Any]], fmt: Any) -> None:
            if not rows:
                return
            lines.append(f"{title} ({len(rows)}):")
            lines.extend("  - " + fmt(r) for r in rows[: self.max_items])
            if len(rows) > self.max_items:
                lines.append(f"  ... and {len(rows) - self.max_items} more")
            lines.append("")

        def flag(r: dict[str, Any]) -> str:
            who = ", ".join(x for x in (f"operator {r['operator_id']}" if r.get("operator_id") else "",
                                        f"team {r['team']}" if r.get("team") else "") if x)
            at = "" if r.get("start") is None else f" at {r['start']:.0f} s"
            s = f"[{r.get('severity')}] {r.get('flag_id')} in call {r['call_id']}{at}"
            s += f" ({who})" if who else ""
            s += f": {r['reason']}" if r.get("reason") else ""
            s += f' — "{r["quote"]}"' if r.get("quote") else ""
            s += f" {r['url']}" if r.get("url") else ""
            return s

        def spike_line(r: dict[str, Any]) -> str:
            s = (f"{r['name']} ({r['category']}), {_team_name(r['team'])}: {r['calls']} of {r['team_calls']} calls "
                 f"tonight ({r['share']:.0%}); ")
            if r["baseline_calls"]:
                s += (f"usually {r['baseline_per_day']:g} a day ({r['baseline_share']:.0%} of calls, "
                      f"{r['baseline_days']} days): {r['ratio']:g}x")
            else:
                s += f"none in the previous {r['baseline_days']} days with calls"
            ex = r.get("example") or {}
            if ex:
                s += f"; e.g. call {ex['call_id']}" + ("" if ex.get("start") is None else f" at {ex['start']:.0f} s")
                s += f' — "{ex["quote"]}"' if ex.get("quote") else ""
                s += f" {ex['url']}" if ex.get("url") else ""
            return s

        def drop(r: dict[str, Any]) -> str:
            return (f"{r['operator_id']}: {r['overall']:.1f} in {r['period']} ({r['calls']} calls), "
                    f"{r['previous_overall']:.1f} in {r['previous_period']} ({r['previous_calls']} calls): "
                    f"-{r['drop']:.1f} points")

        section(f"Flags of severity {self.settings.get('min_severity')} and above",
                self.high_severity_flags, flag)
        section("Failed files", self.failed_files,
                lambda r: f"{r['path']}" + (f" (call {r['call_id']})" if r.get("call_id") else "") + f": {r['reason']}")
        sd = self.settings.get("score_drop") or {}
        section(f"Operators whose overall score fell by {sd.get('points')} points or more "
                f"against their previous {sd.get('period')}", self.score_drops, drop)
        cs = self.category_spikes
        opts = self.settings.get("category_spike") or {}
        if cs.get("available"):
            what = "share of calls" if opts.get("compare", "share") == "share" else "calls a day"
            section(f"Categories that spiked ({what} {opts.get('ratio')}x or more the daily average of the "
                    f"previous {opts.get('days')} days)", cs.get("items") or [], spike_line)
            if cs.get("no_baseline"):
                teams = ", ".join(_team_name(t) for t in cs["no_baseline"])
                lines += [f"Category spikes: no baseline yet for {teams} (needs calls on {opts.get('min_baseline_days')} "
                          f"of the {opts.get('days')} days before {cs.get('day')}).", ""]
        elif cs.get("reason"):
            lines.append(f"Category spikes: not available ({cs.get('reason')}).")
        return "\n".join(lines).rstrip() + "\n"


def _team_name(team: str | None) -> str:
    return "calls without a team" if team is None else f"team {team}"


def _processed_calls(summary: Any) -> list[Any]:
    return [c for c in summary.calls if c.status == "processed"]


def _web_secret(store: Any) -> str | None:
    """The store's web secret (`STORE/.web_secret`, created when missing, as the web app does)."""
    path = getattr(store, "path", None)
    if path is None:
        return None
    from callqa.pipeline.store.db import load_or_create_secret

    return load_or_create_secret(path)


def _mask_path(path: str, config: Any) -> str:
    """A file path as it may leave the machine: a phone-like file stem is masked."""
    from callqa.pipeline.privacy.redact import mask_call_id

    p = Path(path)
    stem = mask_call_id(p.stem, config)
    return path if stem == p.stem else str(p.with_name(stem + p.suffix))


class _CallLinks:
    """A call as the digest shows it: its id masked (`redact.mask_call_id`) and, with a web
    address, a link naming it by the web app's key (`call_key`; the store's web secret is read
    once, only when a masked id needs a link)."""

    def __init__(self, store: Any, config: Any, web_url: str | None):
        self.store, self.config, self.web_url = store, config, web_url
        self._secret: list[str | None] = []

    def __call__(self, raw: str) -> dict[str, Any]:
        from callqa.pipeline.privacy.redact import mask_call_id

        shown = mask_call_id(raw, self.config)
        out: dict[str, Any] = {"call_id": shown}
        if self.web_url:
            if shown != raw or raw.startswith(CALL_KEY_PREFIX):
                if not self._secret:
                    self._secret.append(_web_secret(self.store))
                key = call_key(raw, self.config, self._secret[0])
            else:
                key = raw
            out["url"] = f"{self.web_url.rstrip('/')}/calls/{quote(key, safe='')}"
        return out


def high_severity_flags(store: Any, call_ids: Sequence[str], min_severity: str | int, *,
                        include_quotes: bool = False, web_url: str | None = None,
                        config: Any = None) -> list[dict[str, Any]]:
    """Flags at or above `min_severity` on these calls (processing errors excluded), most severe first.
    Call ids are shown masked (`redact.mask_call_id`) and linked by the web app's key (`call_key`)."""
    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()

    if not call_ids:
        return []
    rows = store.query(
        "SELECT f.call_id, f.flag_id, f.severity, f.severity_rank, f.reason, f.start, f.quote, "
        "c.operator_id, c.team, c.started_at FROM flags f JOIN calls c USING (call_id) "
        "WHERE f.call_id IN (SELECT unnest(?)) AND c.status = 'ok' AND f.severity_rank >= ? AND f.flag_id <> ? "
        "ORDER BY f.severity_rank DESC, f.call_id, f.flag_idx",
        [list(call_ids), severity.rank(min_severity), PROCESSING_ERROR])
    out = []
    links = _CallLinks(store, config, web_url)
    for r in rows:
        item = {k: r[k] for k in ("call_id", "flag_id", "severity", "reason", "start", "operator_id", "team",
                                  "started_at")}
        shown = links(str(r["call_id"]))
        item["call_id"] = shown["call_id"]
        if include_quotes and r.get("quote"):
            item["quote"] = r["quote"]
        if "url" in shown:
            item["url"] = shown["url"]
        out.append(item)
    return out


def period_of(d: date, kind: str) -> tuple[str, date]:
    """(key, first day) of the ISO week (`2026-W49`) or month (`2026-12`) holding `d`."""
    if kind == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}", date.fromisocalendar(y, w, 1)
    return f"{d.year}-{d.month:02d}", d.replace(day=1)


def previous_period(d: date, kind: str) -> tuple[str, date]:
    """The period before the one holding `d`."""
    _, first = period_of(d, kind)
    return period_of(first - timedelta(days=1), kind)


def _overall(rows: list[dict[str, Any]], config: Any) -> float | None:
    """Overall score of a set of (call, competency, score) rows: per-competency means
    combined by `competency.overall_score` for the rows' most common role."""
    by_comp: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_comp[r["competency_id"]].append(float(r["score"]))
    means = [(cid, sum(v) / len(v)) for cid, v in by_comp.items()]
    roles = Counter(r["role"] for r in rows if r.get("role"))
    role = sorted(roles.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if roles else None
    from callqa.pipeline.scoring.competency import overall_score

    return overall_score(means, config, role)


def score_drops(store: Any, operators: Sequence[str], new_days: Mapping[str, set[date]], options: ScoreDropOptions,
                config: Any) -> list[dict[str, Any]]:
    """Operators whose overall score in a period touched by this run fell by `options.points`
    or more against their previous period (both with `options.min_calls` scored calls)."""
    if not operators:
        return []
    rows = store.query(
        "SELECT k.call_id, k.competency_id, k.score, c.operator_id, c.role, c.started_at, c.processed_at "
        "FROM competencies k JOIN calls c USING (call_id) "
        "WHERE c.status = 'ok' AND k.score IS NOT NULL AND c.operator_id IN (SELECT unnest(?))", [list(operators)])
    by_period: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        d = parse_date(r["started_at"]) or parse_date(r["processed_at"])
        if d is None:
            continue
        by_period[(r["operator_id"], period_of(d, options.period)[0])].append(r)
    out = []
    for op in sorted(operators):
        seen: set[str] = set()
        for d in sorted(new_days.get(op, ())):
            key, _ = period_of(d, options.period)
            if key in seen:
                continue
            seen.add(key)
            prev_key, _ = previous_period(d, options.period)
            cur, prev = by_period.get((op, key), []), by_period.get((op, prev_key), [])
            n_cur, n_prev = len({r["call_id"] for r in cur}), len({r["call_id"] for r in prev})
            if n_cur < options.min_calls or n_prev < options.min_calls:
                continue
            a, b = _overall(cur, config), _overall(prev, config)
            if a is None or b is None or b - a < options.points:
                continue
            out.append({"operator_id": op, "period": key, "overall": round(a, 1), "calls": n_cur,
                        "previous_period": prev_key, "previous_overall": round(b, 1), "previous_calls": n_prev,
                        "drop": round(b - a, 1)})
    return sorted(out, key=lambda r: -r["drop"])


def category_spikes(store: Any, call_ids: Sequence[str], options: CategorySpikeOptions | None = None,
                    config: Any = None, *, include_quotes: bool = False,
                    web_url: str | None = None) -> dict[str, Any]:
    """Categories whose share of this run's calls (per team) spiked against the previous days.

    Tonight: the run's calls (`call_ids`, processed without error), per team. Their day is the
    call's `started_at`, else the day it was processed; the window is the `options.days` days
    before the latest of them. Baseline: the other stored calls of the team in the window, on
    the days that have calls (a team needs `options.min_baseline_days` such days, else it is
    listed under `no_baseline`). A category spikes for a team when it has at least
    `options.min_calls` calls tonight and tonight's share of the team's calls (`compare: share`)
    or its count (`compare: count`, against the calls a day) is at least `options.ratio` times
    the baseline's, or the baseline never had it. Each item: category id and name, team,
    calls / team calls / share tonight, baseline calls a day / share / days / calls, ratio (None
    when new), and an example call (the first by id: masked id, moment, link)."""
    options = options or CategorySpikeOptions()
    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()
    out: dict[str, Any] = {"available": True, "day": None, "window": None, "items": [], "no_baseline": []}
    if not call_ids:
        return out
    from callqa.pipeline.scoring.categories import categories_by_call, category_names

    tonight_ids = set(call_ids)
    day_of: dict[str, date] = {}
    team_of: dict[str, str | None] = {}
    for r in store.query("SELECT call_id, team, started_at, processed_at FROM calls WHERE status = 'ok'"):
        d = parse_date(r["started_at"]) or parse_date(r["processed_at"])
        if d is not None:
            day_of[r["call_id"]], team_of[r["call_id"]] = d, r["team"]
    tonight = sorted(c for c in tonight_ids if c in day_of)
    if not tonight:
        return out
    last = max(day_of[c] for c in tonight)
    first = last - timedelta(days=options.days)
    out["day"], out["window"] = last.isoformat(), [first.isoformat(), (last - timedelta(days=1)).isoformat()]
    baseline = [c for c, d in day_of.items() if c not in tonight_ids and first <= d < last]

    # tonight: per team, the calls and each category's calls with their first moment
    tonight_n: Counter[str | None] = Counter(team_of[c] for c in tonight)
    tonight_cat: dict[tuple[str | None, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    stored_names: dict[str, str] = {}
    for r in store.query("SELECT call_id, json_extract_string(result, '$.categories') AS cats FROM results "
                         "WHERE call_id IN (SELECT unnest(?)) ORDER BY call_id", [tonight]):
        seen: set[str] = set()
        for c in json.loads(r["cats"] or "[]") or []:
            if not isinstance(c, Mapping) or not c.get("id") or str(c["id"]) in seen:
                continue
            seen.add(str(c["id"]))
            stored_names.setdefault(str(c["id"]), str(c.get("name") or c["id"]))
            tonight_cat[(team_of[r["call_id"]], str(c["id"]))].append((r["call_id"], (c.get("evidence") or [{}])[0]))
    # baseline: per team, the days with calls, the calls, and each category's calls
    base_days: dict[str | None, set[date]] = defaultdict(set)
    base_n: Counter[str | None] = Counter()
    for c in baseline:
        base_days[team_of[c]].add(day_of[c])
        base_n[team_of[c]] += 1
    base_cat: Counter[tuple[str | None, str]] = Counter()
    for c, cats in categories_by_call(store, baseline).items():
        for cid in set(cats):
            base_cat[(team_of[c], cid)] += 1

    names = category_names(config, store, "en")
    links = _CallLinks(store, config, web_url)
    items, no_baseline = [], set()
    for (team, cid), calls in tonight_cat.items():
        n = len(calls)
        if n < options.min_calls:
            continue
        days = len(base_days.get(team, ()))
        if days < options.min_baseline_days:
            no_baseline.add(team)
            continue
        bc, bn = base_cat[(team, cid)], base_n[team]
        share, base_share, per_day = n / tonight_n[team], bc / bn, bc / days
        now, base = (share, base_share) if options.compare == "share" else (float(n), per_day)
        if bc and now < options.ratio * base:
            continue
        raw_id, ev = calls[0]
        example = {**links(raw_id), "start": ev.get("start"), "speaker": ev.get("speaker")}
        if include_quotes and ev.get("quote"):
            example["quote"] = ev["quote"]
        items.append({"category": cid, "name": names.get(cid) or stored_names.get(cid, cid), "team": team,
                      "calls": n, "team_calls": tonight_n[team], "share": round(share, 3),
                      "baseline_per_day": round(per_day, 2), "baseline_share": round(base_share, 3),
                      "baseline_days": days, "baseline_calls": bc,
                      "ratio": round(now / base, 1) if bc else None, "example": example})
    out["items"] = sorted(items, key=lambda i: (i["ratio"] is not None, -(i["ratio"] or 0), -i["calls"],
                                                 i["team"] or "", i["category"]))
    out["no_baseline"] = sorted(no_baseline, key=lambda t: (t is None, t or ""))
    return out


def _failed_file(failure: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """A failed file as the digest shows it: phone-like call ids and file stems masked,
    also where the reason names them."""
    from callqa.pipeline.privacy.redact import mask_call_id

    path, call_id, reason = str(failure["path"]), failure.get("call_id"), failure.get("reason")
    shown_path = _mask_path(path, config)
    shown_id = None if call_id is None else mask_call_id(str(call_id), config)
    if isinstance(reason, str):
        stem = Path(path).stem
        for raw, shown in ((path, shown_path), (Path(path).name, Path(shown_path).name),
                           (stem, mask_call_id(stem, config)), (str(call_id or ""), shown_id or "")):
            if raw and raw != shown:
                reason = reason.replace(raw, shown)
    return {"path": shown_path, "call_id": shown_id, "reason": reason}


def build_digest(store: Any, summary: Any, options: AlertsConfig, config: Any) -> Digest:
    """The digest of one finished run (`batch.BatchSummary`) over the store it wrote."""
    processed = _processed_calls(summary)
    ids = [c.call_id for c in processed]
    new_days: dict[str, set[date]] = defaultdict(set)
    if processed:
        for r in store.query("SELECT operator_id, started_at, processed_at FROM calls "
                             "WHERE call_id IN (SELECT unnest(?)) AND status = 'ok' AND operator_id IS NOT NULL",
                             [ids]):
            d = parse_date(r["started_at"]) or parse_date(r["processed_at"])
            if d is not None:
                new_days[r["operator_id"]].add(d)
    failed = [_failed_file(f, config) for f in summary.failures]
    return Digest(
        run_id=summary.run_id, store=str(summary.store), started_at=summary.started_at,
        finished_at=summary.finished_at, report=summary.report, counts=summary.counts(),
        high_severity_flags=high_severity_flags(store, ids, options.min_severity,
                                                include_quotes=options.include_quotes, web_url=options.web_url,
                                                config=config),
        failed_files=failed,
        score_drops=score_drops(store, sorted(new_days), new_days, options.score_drop, config),
        category_spikes=category_spikes(store, ids, options.category_spike, config,
                                        include_quotes=options.include_quotes, web_url=options.web_url),
        settings={"min_severity": options.min_severity,
                  "score_drop": options.score_drop.model_dump(),
                  "category_spike": options.category_spike.model_dump()},
        max_items=options.max_items)


# --------------------------------------------------------------------------- channels

class SendError(Exception):
    """A channel could not deliver the digest (the reason is the message)."""


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SendError(f"{what}: environment variable {name} is not set")
    return value


def _target(url: str) -> str:
    """Where a URL points, without path or query (which may hold a secret token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{'' if parts.port is None else f':{parts.port}'}"


def send_webhook(payload: Mapping[str, Any], options: WebhookOptions) -> dict[str, Any]:
    """POST the digest as JSON; a 2xx answer is success. Raises SendError."""
    from callqa.pipeline.jsonable import dumps

    url = options.url or _env(options.url_env or "", "webhook URL")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "callqa-alerts"}
    for header, name in options.headers_env.items():
        headers[header] = _env(name, f"webhook header {header}")
    body = dumps(payload).encode("utf-8")
    last = ""
    for attempt in range(options.retries + 1):
        if attempt:
            time.sleep(options.retry_delay_s)
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=options.timeout_s) as resp:  # noqa: S310 (http(s) only)
                return {"status": resp.status, "attempts": attempt + 1}
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", None) or e)
    raise SendError(f"webhook {_target(url)}: {last} (after {options.retries + 1} attempts)")


def email_message(digest: Digest, payload: Mapping[str, Any], options: EmailOptions) -> EmailMessage:
    from callqa.pipeline.jsonable import dumps

    msg = EmailMessage()
    msg["Subject"] = f"{options.subject_prefix} {digest.headline()}".strip()
    msg["From"] = options.sender or ""
    msg["To"] = ", ".join(options.to)
    msg["X-Callqa-Run"] = digest.run_id
    msg.set_content(digest.text())
    msg.add_attachment(dumps(payload, indent=2).encode("utf-8"), maintype="application", subtype="json",
                       filename=f"digest-{digest.run_id}.json")
    return msg


def send_email(msg: EmailMessage, options: EmailOptions) -> dict[str, Any]:
    """Send through the configured SMTP server. Raises SendError."""
    user = _env(options.user_env, "SMTP user") if options.user_env else None
    password = _env(options.password_env, "SMTP password") if options.password_env else None
    where = f"SMTP {options.host}:{options.port}"
    try:
        if options.ssl:
            server: smtplib.SMTP = smtplib.SMTP_SSL(options.host or "", options.port, timeout=options.timeout_s,
                                                     context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(options.host or "", options.port, timeout=options.timeout_s)
        with server:
            if options.starttls:
                server.starttls(context=ssl.create_default_context())
            if user is not None:
                server.login(user, password or "")
            refused = server.send_message(msg)
    except (smtplib.SMTPException, OSError) as e:
        raise SendError(f"{where}: {type(e).__name__}: {e}") from None
    if refused:
        raise SendError(f"{where}: recipients refused: {', '.join(sorted(refused))}")
    return {"recipients": len(options.to)}


# --------------------------------------------------------------------------- the end of a run

def run_alerts(store: Any, summary: Any, config_file: str | Path | None = None) -> dict[str, Any]:
    """Build and send the digest of a finished run. Never raises; returns what happened,
    for the run summary: {"status": not_configured | disabled | skipped | sent | partly_sent
    | failed | error, ...}."""
    try:
        from callqa.pipeline.batch import batch_config

        config = batch_config(config_file)
        options = config.section("alerts")
        if not isinstance(options, AlertsConfig):
            options = AlertsConfig.model_validate(options or {})
        if not (options.webhook.configured or options.email.configured):
            return {"status": "not_configured"}
        if not options.enabled:
            return {"status": "disabled"}
        digest = build_digest(store, summary, options, config)
        return deliver(digest, options, reports_dir=getattr(store, "reports_dir", None))
    except Exception as e:  # a digest must never fail the batch
        log.warning("alerts for run %s: the digest could not be built: %s: %s",
                    getattr(summary, "run_id", "?"), type(e).__name__, e)
        return {"status": "error", "reason": f"{type(e).__name__}: {e}"}


def deliver(digest: Digest, options: AlertsConfig, reports_dir: str | Path | None = None) -> dict[str, Any]:
    """Send one digest through every configured channel (skipped when empty unless
    `send_empty`); write it beside the nightly reports. Never raises."""
    from callqa.pipeline.jsonable import dumps

    payload = digest.serialize()
    record: dict[str, Any] = {"headline": digest.headline(), "empty": digest.empty, "items": digest.items(),
                              "channels": []}
    if reports_dir is not None:
        try:
            path = Path(reports_dir) / f"digest-{digest.run_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(payload, indent=2), encoding="utf-8")
            record["file"] = str(path)
        except OSError as e:
            log.warning("alerts for run %s: cannot write the digest file: %s", digest.run_id, e)
    if digest.empty and not options.send_empty:
        return {**record, "status": "skipped", "reason": "nothing new (alerts.send_empty is false)"}
    sends = []
    if options.webhook.configured:
        sends.append(("webhook", lambda: send_webhook(payload, options.webhook)))
    if options.email.configured:
        sends.append(("email", lambda: send_email(email_message(digest, payload, options.email), options.email)))
    for channel, send in sends:
        try:
            info = send()
            record["channels"].append({"channel": channel, "ok": True, **info})
        except Exception as e:  # SendError, or anything unexpected: logged, recorded, never raised
            reason = str(e) if isinstance(e, SendError) else f"{type(e).__name__}: {e}"
            log.warning("alerts for run %s: %s not sent: %s", digest.run_id, channel, reason)
            record["channels"].append({"channel": channel, "ok": False, "error": reason})
    ok = [c["ok"] for c in record["channels"]]
    record["status"] = "sent" if all(ok) else "failed" if not any(ok) else "partly_sent"
    record["sent_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def describe(record: Mapping[str, Any] | None) -> str | None:
    """One line on what `run_alerts` did, for the CLI and the flow's summary (None when
    alerts are not configured)."""
    if not record or record.get("status") in (None, "not_configured"):
        return None
    status = record["status"]
    if status == "disabled":
        return "alerts: disabled (alerts.enabled: false)"
    if status == "error":
        return f"alerts: the digest could not be built: {record.get('reason')}"
    if status == "skipped":
        return f"alerts: no digest sent: {record.get('reason')}"
    sent = [c["channel"] for c in record.get("channels") or [] if c.get("ok")]
    failed = [f"{c['channel']} ({c.get('error')})" for c in record.get("channels") or [] if not c.get("ok")]
    parts = []
    if sent:
        parts.append(f"digest sent by {', '.join(sent)}: {record.get('headline')}")
    if failed:
        parts.append(f"NOT sent by {'; '.join(failed)}")
    return "alerts: " + "; ".join(parts)
