"""Disputes: an operator contests a competency score or a flag of their call with a
comment; a supervisor of the call's team accepts it (the score is overridden, or the
flag dismissed, through the store's reviews on the analysis the dispute was raised on)
or rejects it with a reason.

Every step is one row of the store's `disputes` table (schema version 3), never
rewritten: `raised` (the operator, when, the comment, the score / flag they saw), then
`accepted` or `rejected` (who, when, the reason; an acceptance names the review it made
and the new value). A dispute names the `analysis_id` it was raised on: after the call
is reprocessed it is listed as on an earlier analysis (`current` false) and can no longer
be accepted (the new analysis has its own scores); it can still be rejected (closed).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable, Mapping, Sequence

from callqa.pipeline.store.db import Store, StoreError, _json, _one, utcnow

KINDS = ("score", "flag")  # score: target = competency id; flag: target = flag id
DECISIONS = ("accepted", "rejected")
STATUSES = ("open", *DECISIONS)
MAX_COMMENT = 2000


class DisputeError(StoreError):
    """A dispute cannot be raised or decided as asked (the problem says why)."""


def _comment(text: Any) -> str:
    return " ".join(str(text or "").split())[:MAX_COMMENT]


def raise_dispute(store: Store, call_id: str, kind: str, target: str, *, author: str, comment: str,
                  analysis_id: str | None = None) -> dict[str, Any]:
    """Record an operator's dispute of a competency score (`kind` 'score') or a flag
    ('flag') of a stored call, on the analysis stored now (`analysis_id`: the one the
    operator saw; refused when the call was reprocessed since). One open dispute per
    call and target. Returns the dispute (`disputes()` shape)."""
    if kind not in KINDS:
        raise DisputeError(store.path, f"a dispute is about one of {', '.join(KINDS)}, got {kind!r}")
    text = _comment(comment)
    if not text:
        raise DisputeError(store.path, "a dispute needs a comment saying what is wrong")
    if not author:
        raise DisputeError(store.path, "a dispute needs an author")
    dispute_id = uuid.uuid4().hex
    with store._connect(write=True) as con:
        call = _one(con.execute("SELECT analysis_id, operator_id, team FROM calls WHERE call_id = ? AND status = 'ok'",
                                [call_id]))
        if call is None:
            raise DisputeError(store.path, f"no analysed call {call_id!r} in the store")
        current, operator_id, team = call
        if analysis_id is not None and current is not None and analysis_id != current:
            raise DisputeError(store.path, f"call {call_id!r} was reprocessed (analysis {current}); "
                                           f"the dispute was made on {analysis_id}: reload the call")
        if kind == "score":
            found = _one(con.execute("SELECT score, level FROM competencies WHERE call_id = ? AND competency_id = ?",
                                     [call_id, target]))
            if found is None:
                raise DisputeError(store.path, f"call {call_id!r} has no competency {target!r}")
            seen: dict[str, Any] = {"score": found[0], "level": found[1]}
            override = _one(con.execute(
                f"SELECT value FROM ({store.latest_reviews_sql('score_override')}) WHERE call_id = ? AND target = ?",
                [call_id, target]))
            if override is not None:  # what the operator saw: the corrected score
                seen = {**seen, **json.loads(override[0]), "overridden": True}
        else:
            found = _one(con.execute("SELECT severity, reason FROM flags WHERE call_id = ? AND flag_id = ?",
                                     [call_id, target]))
            if found is None:
                raise DisputeError(store.path, f"call {call_id!r} has no flag {target!r}")
            seen = {"severity": found[0], "reason": found[1]}
        open_rows = con.execute(
            "SELECT dispute_id FROM disputes WHERE call_id = ? AND kind = ? AND target = ? "
            "GROUP BY dispute_id HAVING bool_and(step = 'raised')", [call_id, kind, target]).fetchall()
        if open_rows:
            raise DisputeError(store.path, f"call {call_id!r} already has an open dispute about {target!r}")
        store._insert(con, "disputes", [{
            "dispute_id": dispute_id, "call_id": call_id, "step": "raised", "kind": kind, "target": target,
            "operator_id": operator_id, "team": team, "analysis_id": current, "author": author, "comment": text,
            "value": _json(seen), "review_id": None, "created_at": utcnow()}])
    store.export_parquet(("disputes",))
    return disputes(store, dispute_id=dispute_id)[0]


def decide_dispute(store: Store, dispute_id: str, decision: str, *, author: str, comment: str | None = None,
                   value: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Accept or reject an open dispute. Accepting a score dispute needs `value`
    ({'score': 0..100, 'level': 1..4}, as a score override) and stores that override;
    accepting a flag dispute dismisses the flag; both on the analysis the dispute was
    raised on (refused once the call was reprocessed). Rejecting needs a reason
    (`comment`). The review and the decision are stored in one transaction."""
    if decision not in DECISIONS:
        raise DisputeError(store.path, f"a dispute is {' or '.join(DECISIONS)}, got {decision!r}")
    if not author:
        raise DisputeError(store.path, "a decision needs an author")
    text = _comment(comment)
    if decision == "rejected" and not text:
        raise DisputeError(store.path, "rejecting a dispute needs a reason")
    found = disputes(store, dispute_id=dispute_id)
    if not found:
        raise DisputeError(store.path, f"no dispute {dispute_id!r}")
    d = found[0]
    if d["status"] != "open":
        raise DisputeError(store.path, f"dispute {dispute_id} was already {d['status']} by {d['decided_by']}")
    review = None
    if decision == "accepted":
        if not d["current"]:
            raise DisputeError(store.path, f"call {d['call_id']!r} was reprocessed after the dispute was raised "
                                           f"(on analysis {d['analysis_id']}); it can only be rejected")
        why = text or f"dispute accepted: {d['comment']}"
        if d["kind"] == "score":
            if not isinstance(value, Mapping) or not ({"score", "level"} & set(value)):
                raise DisputeError(store.path, "accepting a score dispute needs the new score or level")
            review = store._review_row(d["call_id"], "score_override", author=author, target=d["target"],
                                       status=None, value=dict(value), comment=why)
        else:
            review = store._review_row(d["call_id"], "flag", author=author, target=d["target"], status="dismissed",
                                       value=None, comment=why)
    step = {"dispute_id": dispute_id, "call_id": d["call_id"], "step": decision, "kind": d["kind"],
            "target": d["target"], "operator_id": d["operator_id"], "team": d["team"], "analysis_id": d["analysis_id"],
            "author": author, "comment": text or None,
            "value": None if review is None else review["value"],
            "review_id": None if review is None else review["review_id"], "created_at": utcnow()}
    with store._connect(write=True) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            again = _one(con.execute("SELECT author, step FROM disputes WHERE dispute_id = ? AND step <> 'raised'",
                                     [dispute_id]))
            if again is not None:  # decided by someone else meanwhile
                raise DisputeError(store.path, f"dispute {dispute_id} was already {again[1]} by {again[0]}")
            if review is not None:
                store._insert_review(con, review, d["analysis_id"])
            store._insert(con, "disputes", [step])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    store.export_parquet(("reviews", "disputes") if review is not None else ("disputes",))
    return disputes(store, dispute_id=dispute_id)[0]


def disputes(store: Store, *, call_ids: Sequence[str] | None = None, dispute_id: str | None = None,
             status: str | None = None) -> list[dict[str, Any]]:
    """Disputes, newest first: who raised what when (`raised_by`, `raised_at`, `comment`,
    `disputed`: the score / flag they saw), `status` (open / accepted / rejected) with
    `decided_by`, `decided_at`, `decision_comment` and `decided_value` (the new score and
    level, or the flag's new status), `current` (raised on the analysis stored now), the
    call's `operator_id` and `team`, and every stored step (`steps`, oldest first)."""
    if status is not None and status not in STATUSES:
        raise DisputeError(store.path, f"dispute status must be one of {', '.join(STATUSES)}, got {status!r}")
    sql = ("SELECT d.*, c.analysis_id AS call_analysis, c.operator_id AS call_operator, c.team AS call_team "
           "FROM disputes d LEFT JOIN calls c USING (call_id) WHERE 1=1")
    params: list[Any] = []
    if call_ids is not None:
        sql += " AND d.call_id IN (SELECT unnest(?))"
        params.append(list(call_ids))
    if dispute_id is not None:
        sql += " AND d.dispute_id = ?"
        params.append(dispute_id)
    sql += " ORDER BY d.created_at, CASE d.step WHEN 'raised' THEN 0 ELSE 1 END"
    rows = store.query(sql, params)
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        step = {"step": r["step"], "author": r["author"], "at": r["created_at"].isoformat(timespec="seconds"),
                "comment": r["comment"], "value": None if r["value"] is None else json.loads(r["value"]),
                "review_id": r["review_id"]}
        if r["step"] == "raised":
            out[r["dispute_id"]] = {
                "dispute_id": r["dispute_id"], "call_id": r["call_id"], "kind": r["kind"], "target": r["target"],
                "operator_id": r["call_operator"] if r["call_operator"] is not None else r["operator_id"],
                "team": r["call_team"] if r["call_team"] is not None else r["team"],
                "analysis_id": r["analysis_id"],
                "current": r["call_analysis"] is not None and r["analysis_id"] == r["call_analysis"],
                "raised_by": r["author"], "raised_at": step["at"], "comment": r["comment"], "disputed": step["value"],
                "status": "open", "decided_by": None, "decided_at": None, "decision_comment": None,
                "decided_value": None, "review_id": None, "steps": [step]}
            continue
        d = out.get(r["dispute_id"])
        if d is None:  # a decision without its raise: never written by this module
            continue
        d["steps"].append(step)
        if d["status"] == "open":
            d.update(status=r["step"], decided_by=r["author"], decided_at=step["at"], decision_comment=r["comment"],
                     decided_value=step["value"], review_id=r["review_id"])
    found = [d for d in out.values() if status is None or d["status"] == status]
    return sorted(found, key=lambda d: d["raised_at"], reverse=True)


def dispute_counts(items: Iterable[Mapping[str, Any]], key: str = "operator_id") -> dict[str, dict[str, int]]:
    """Disputes per operator (or per `key`, e.g. 'team'): raised, open, accepted, rejected."""
    out: dict[str, dict[str, int]] = {}
    for d in items:
        k = d.get(key)
        if k is None:
            continue
        c = out.setdefault(str(k), {"raised": 0, **{s: 0 for s in STATUSES}})
        c["raised"] += 1
        c[str(d.get("status"))] = c.get(str(d.get("status")), 0) + 1
    return out
