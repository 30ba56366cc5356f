"""The weekly review sample: per operator and ISO week, N calls for a person to review,
drawn from strata (flagged, nominated, low ASR confidence, random) with configured shares,
so every operator gets a fair share of human attention whatever their call volume.

The draw is reproducible: a generator seeded by (seed, week, operator) over the calls sorted by
id. A stored plan (table `review_samples`, pipeline/store/qa_tables.py) stays as drawn when more calls
arrive later in the week; an operator first seen after the draw is sampled and added; `replace`
draws the whole week again. A stratum with too few calls passes its places on to the next, and
what is left is filled at random.

Coverage per operator: calls in the week, sampled, and reviewed (a sampled call with any review,
score override, flag or nomination decision, or a person's form answer). Each supervisor's
"to review" list is the sampled, not yet reviewed calls of their teams (callqa/users.py).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callqa.pipeline import severity
from callqa.pipeline.people.grades import parse_date, period_keys
from callqa.pipeline.severity import Severity

if TYPE_CHECKING:  # pragma: no cover
    from callqa.pipeline.config import Config

STRATA = ("flagged", "nominated", "low_confidence", "random")
# Flags that say the transcript itself is in doubt: the call goes to the low_confidence stratum (a person
# listens to it), not to the flagged one.
LOW_CONFIDENCE_FLAGS = ("low_asr_confidence", "untranscribed_speech")


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_operator: int = Field(4, ge=1, le=1000)  # calls per operator and week
    seed: int = 0
    # share of each stratum in an operator's sample (normalised to sum 1); order = priority
    shares: dict[str, float] = Field(default_factory=lambda: {"flagged": 0.4, "nominated": 0.1,
                                                               "low_confidence": 0.2, "random": 0.3})
    flagged_min_severity: Severity = "medium"  # flags at least this severe make a call "flagged" (pipeline/severity.py)
    # mean ASR log-probability under this makes a call low-confidence (also: the low_asr_confidence
    # flag); null: models.asr.low_confidence_logprob
    low_confidence_logprob: float | None = None

    @field_validator("shares")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        for k, s in v.items():
            if k not in STRATA:
                raise ValueError(f"unknown stratum {k!r} (strata: {', '.join(STRATA)})")
            if s < 0:
                raise ValueError(f"share of {k!r} must not be negative, got {s}")
        if sum(v.values()) <= 0:
            raise ValueError("at least one stratum needs a positive share")
        return v


CONFIG_SECTIONS = {"sampling": SamplingConfig}


# ---------------------------------------------------------------- the draw (pure)

@dataclass(frozen=True)
class CallInfo:
    call_id: str
    operator_id: str
    team: str | None
    started_at: str | None
    strata: frozenset[str]  # flagged / nominated / low_confidence that the call belongs to
    severity: int = 0  # highest flag severity rank (flagged calls: more severe first)


@dataclass
class Picked:
    call_id: str
    stratum: str
    team: str | None = None
    started_at: str | None = None
    reviewed: bool = False

    def serialize(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "stratum": self.stratum, "team": self.team, "started_at": self.started_at,
                "reviewed": self.reviewed}


@dataclass
class OperatorSample:
    operator_id: str
    team: str | None
    total: int  # calls of the week
    calls: list[Picked] = field(default_factory=list)
    reviewed_any: int = 0  # calls of the week reviewed, sampled or not

    @property
    def sampled(self) -> int:
        return len(self.calls)

    @property
    def reviewed(self) -> int:
        return sum(1 for c in self.calls if c.reviewed)

    def serialize(self) -> dict[str, Any]:
        return {"operator_id": self.operator_id, "team": self.team, "total": self.total, "sampled": self.sampled,
                "reviewed": self.reviewed, "reviewed_any": self.reviewed_any,
                "coverage": None if not self.sampled else round(self.reviewed / self.sampled, 3),
                "calls": [c.serialize() for c in self.calls]}


@dataclass
class Plan:
    week: str
    seed: int
    per_operator: int
    operators: list[OperatorSample]
    undated: int = 0  # calls without started_at: in no week
    stored: bool = False  # read back from the store (not drawn now)

    def serialize(self) -> dict[str, Any]:
        return {"week": self.week, "seed": self.seed, "per_operator": self.per_operator, "undated": self.undated,
                "operators": [o.serialize() for o in self.operators]}


def quotas(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Places per stratum for a sample of n (largest remainder; ties in STRATA order)."""
    total = sum(shares.get(s, 0.0) for s in STRATA)
    exact = {s: n * shares.get(s, 0.0) / total for s in STRATA}
    out = {s: int(exact[s]) for s in STRATA}
    rest = n - sum(out.values())
    for s in sorted(STRATA, key=lambda s: (-(exact[s] - out[s]), STRATA.index(s)))[:rest]:
        out[s] += 1
    return out


def _rng(seed: int, week: str, operator: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1f{week}\x1f{operator}".encode("utf-8")).hexdigest()
    return random.Random(int(digest[:16], 16))


def draw(calls: Iterable[CallInfo], week: str, n: int, shares: Mapping[str, float], seed: int = 0) -> list[Picked]:
    """One operator's sample: up to n calls, stratum by stratum in STRATA order, each draw a
    seeded random choice among the stratum's calls not yet picked (flagged: most severe first);
    places a stratum cannot fill go to the next; the rest is random."""
    pool = sorted(calls, key=lambda c: c.call_id)
    if not pool:
        return []
    operator = pool[0].operator_id
    rng = _rng(seed, week, operator)
    n = min(n, len(pool))
    want = quotas(n, shares)
    picked: list[Picked] = []
    taken: set[str] = set()
    carry = 0
    for stratum in STRATA:
        k = want[stratum] + carry
        if stratum == "random":
            k = n - len(picked)
        eligible = [c for c in pool if c.call_id not in taken and (stratum == "random" or stratum in c.strata)]
        if stratum == "flagged":
            rng.shuffle(eligible)
            eligible.sort(key=lambda c: -c.severity)  # stable: random within a severity
            chosen = eligible[:k]
        else:
            chosen = rng.sample(eligible, min(k, len(eligible)))
        carry = k - len(chosen)
        for c in chosen:
            taken.add(c.call_id)
            picked.append(Picked(c.call_id, stratum, c.team, c.started_at))
    return sorted(picked, key=_order)


def _order(p: Picked) -> tuple[int, str]:
    return STRATA.index(p.stratum) if p.stratum in STRATA else len(STRATA), p.call_id


# ---------------------------------------------------------------- the store

def week_of(started_at: Any) -> str | None:
    """The ISO week (`2026-W49`) of a call's start time; None without a readable one."""
    return period_keys(parse_date(started_at))["week"]


def parse_week(text: str) -> str:
    """'2026-W48' (or '2026-w48') -> '2026-W48'; ValueError for anything else."""
    from callqa.pipeline.people.grades import parse_period

    try:
        period = parse_period(str(text).strip().upper())
    except ValueError:
        period = None
    if period is None or period.kind != "week":
        raise ValueError(f"{text!r} is not an ISO week (e.g. 2026-W48)")
    return period.key


def week_calls(store: Any, week: str, config: "Config") -> tuple[dict[str, list[CallInfo]], int]:
    """The analysed calls of an ISO week by operator, with their strata; and how many calls
    have no start time (in no week)."""
    opts: SamplingConfig = config.section("sampling")
    floor = severity.rank(opts.flagged_min_severity)
    threshold = opts.low_confidence_logprob
    if threshold is None:
        threshold = config.section("models").asr.low_confidence_logprob
    calls = store.query("SELECT call_id, operator_id, team, started_at FROM calls WHERE status = 'ok' "
                        "ORDER BY call_id")
    flags = store.query("SELECT call_id, flag_id, severity_rank FROM flags")
    nominated = {r["call_id"] for r in store.query("SELECT DISTINCT call_id FROM nominations")}
    logprob = {r["call_id"]: r["mean"] for r in store.query(
        "SELECT call_id, sum(avg_logprob * greatest(\"end\" - start, 0)) / nullif(sum(greatest(\"end\" - start, 0)), 0)"
        " AS mean FROM turns WHERE avg_logprob IS NOT NULL GROUP BY call_id")}
    by_call: dict[str, list[tuple[str, int]]] = {}
    for f in flags:
        by_call.setdefault(f["call_id"], []).append((f["flag_id"], int(f["severity_rank"] or 0)))
    out: dict[str, list[CallInfo]] = {}
    undated = 0
    for c in calls:
        wk = week_of(c["started_at"])
        if wk is None:
            undated += 1
            continue
        if wk != week:
            continue
        fl = by_call.get(c["call_id"], [])
        strata = set()
        severe = [r for fid, r in fl if r >= floor and fid not in LOW_CONFIDENCE_FLAGS]
        if severe:
            strata.add("flagged")
        if c["call_id"] in nominated:
            strata.add("nominated")
        mean = logprob.get(c["call_id"])
        if any(fid in LOW_CONFIDENCE_FLAGS for fid, _ in fl) or (mean is not None and mean < threshold):
            strata.add("low_confidence")
        op = c["operator_id"] or "(no operator)"
        out.setdefault(op, []).append(CallInfo(c["call_id"], op, c["team"], c["started_at"], frozenset(strata),
                                               max(severe, default=0)))
    return out, undated


def reviewed_calls(store: Any, call_ids: Iterable[str] | None = None) -> set[str]:
    """Calls a person has reviewed: any review, override or decision, or a form answer."""
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        rows = con.execute("SELECT DISTINCT call_id FROM reviews UNION SELECT DISTINCT call_id FROM form_answers"
                           ).fetchall()
    got = {r[0] for r in rows}
    return got if call_ids is None else got & set(call_ids)


def _team(calls: list[CallInfo]) -> str | None:
    teams = [c.team for c in calls if c.team]
    return max(sorted(set(teams)), key=teams.count) if teams else None


def sample_week(store: Any, week: str, config: "Config", *, per_operator: int | None = None,
                seed: int | None = None, replace: bool = False, save: bool = True) -> Plan:
    """The week's review plan: the stored one (operators new since then sampled and added),
    or a new draw (`replace`, or none stored). Saved unless `save=False`."""
    from callqa.pipeline.store.qa_tables import connect, utcnow

    week = parse_week(week)
    opts: SamplingConfig = config.section("sampling")
    n = per_operator if per_operator is not None else opts.per_operator
    if n < 1:
        raise ValueError("per_operator must be at least 1")
    seed = opts.seed if seed is None else seed
    by_op, undated = week_calls(store, week, config)
    with connect(store) as con:
        stored = con.execute("SELECT operator_id, team, call_id, stratum, seed FROM review_samples WHERE week = ? "
                             "ORDER BY operator_id, created_at, call_id", [week]).fetchall()
    kept: dict[str, list[tuple[str, str, str]]] = {}
    if not replace:
        for op, team, cid, stratum, s in stored:
            kept.setdefault(op, []).append((cid, stratum, team))
            seed = s if s is not None else seed
    reviewed = reviewed_calls(store)
    info = {c.call_id: c for calls in by_op.values() for c in calls}
    operators: list[OperatorSample] = []
    new_rows: list[list[Any]] = []
    now = utcnow()
    for op in sorted(set(by_op) | set(kept)):
        calls = by_op.get(op, [])
        sample = OperatorSample(op, _team(calls) or next((t for _, _, t in kept.get(op, []) if t), None), len(calls))
        if op in kept:
            for cid, stratum, team in kept[op]:
                c = info.get(cid)
                sample.calls.append(Picked(cid, stratum, team, c.started_at if c else None))
            sample.calls.sort(key=_order)
        else:
            sample.calls = draw(calls, week, n, opts.shares, seed)
            new_rows.extend([week, op, p.team, p.call_id, p.stratum, seed, now] for p in sample.calls)
        for p in sample.calls:
            p.reviewed = p.call_id in reviewed
        sample.reviewed_any = sum(1 for c in calls if c.call_id in reviewed)
        operators.append(sample)
    if save and (new_rows or replace):
        with connect(store, write=True) as con:
            if replace:
                con.execute("DELETE FROM review_samples WHERE week = ?", [week])
            if new_rows:
                con.executemany("INSERT INTO review_samples VALUES (?, ?, ?, ?, ?, ?, ?)", new_rows)
    return Plan(week, seed, n, operators, undated, stored=bool(stored) and not replace)


def to_review(plan: Plan, teams: Iterable[str] | None) -> list[dict[str, Any]]:
    """The sampled calls not yet reviewed, of `teams` (None: every team), oldest first."""
    allowed = None if teams is None else set(teams)
    out = []
    for o in plan.operators:
        for c in o.calls:
            if c.reviewed or (allowed is not None and (c.team or o.team) not in allowed):
                continue
            out.append({"call_id": c.call_id, "operator_id": o.operator_id, "team": c.team or o.team,
                        "stratum": c.stratum, "started_at": c.started_at})
    return sorted(out, key=lambda r: (r["started_at"] or "", r["call_id"]))


def supervisor_lists(plan: Plan, supervisors: Mapping[str, Iterable[str]]) -> dict[str, list[dict[str, Any]]]:
    """Each supervisor's "to review" list: `supervisors` maps each (enabled) supervisor's name to
    their teams (the web app's users, `callqa.users.UserDB.supervisors()`)."""
    return {name: to_review(plan, teams) for name, teams in supervisors.items()}


def unassigned(plan: Plan, supervisors: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """Sampled, unreviewed calls of teams no supervisor in `supervisors` covers: nobody's list has them."""
    covered = {t for teams in supervisors.values() for t in teams}
    return [r for r in to_review(plan, None) if r["team"] not in covered]
