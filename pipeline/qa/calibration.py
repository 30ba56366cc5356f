"""Calibration: how far human evaluators agree with each other and with the automatic answers.

Statistics (pure functions, numpy only):

* `fleiss_kappa(table)` — Fleiss (1971) kappa for categorical answers: `table[i][j]` is how
  many raters put subject i in category j (rows may have different totals: the observed
  agreement of each subject is then over its own raters, as in Fleiss' formula per subject).
* `icc(matrix)` — intraclass correlations of Shrout & Fleiss (1979) for numeric answers,
  `matrix[i][j]` = rater j's score of subject i (complete rows only): ICC(2,1) two-way random,
  absolute agreement, single rater; ICC(3,1) two-way mixed, consistency, single rater.
* `cohen_kappa(a, b)` — unweighted Cohen's kappa of two label sequences (humans vs automatic).

Blind sessions (tables in the store, pipeline/store/qa_tables.py): a QA lead picks calls, a form and
evaluators; each evaluator answers the form's questions for every call; until the session is
closed an evaluator sees only their own answers (`answers(..., viewer=)`), and the report
(`session_report`) exists only for closed sessions. Answers are appended; the latest per
evaluator, call and question counts.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any, Hashable, Iterable, Sequence

import numpy as np

from callqa.pipeline.errors import CallqaError

if TYPE_CHECKING:  # pragma: no cover
    from callqa.pipeline.config import Config


class CalibrationError(CallqaError):
    """A calibration session cannot be used as asked (closed, unknown evaluator or call ...)."""


# ---------------------------------------------------------------- statistics

def fleiss_kappa(table: Sequence[Sequence[float]]) -> float | None:
    """Fleiss' kappa of a subjects x categories count table. None when undefined (fewer than
    two subjects with two or more ratings, or every rating in one category)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2:
        raise ValueError("fleiss_kappa needs a 2-D table: subjects x categories")
    n = t.sum(axis=1)
    t, n = t[n >= 2], n[n >= 2]
    if len(t) < 2:
        return None
    p_i = ((t * t).sum(axis=1) - n) / (n * (n - 1))  # agreement within each subject
    p_bar = float(p_i.mean())
    p_j = t.sum(axis=0) / n.sum()  # share of all ratings in each category
    p_e = float((p_j * p_j).sum())
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def count_table(ratings: Iterable[Sequence[Hashable]]) -> tuple[np.ndarray, list[Hashable]]:
    """Per subject the raters' labels -> (subjects x categories counts, categories in first-seen order)."""
    rows = [list(r) for r in ratings]
    cats = list(dict.fromkeys(x for r in rows for x in r))
    index = {c: i for i, c in enumerate(cats)}
    t = np.zeros((len(rows), len(cats)))
    for i, r in enumerate(rows):
        for x in r:
            t[i, index[x]] += 1
    return t, cats


def observed_agreement(ratings: Iterable[Sequence[Hashable]]) -> float | None:
    """The mean share of agreeing rater pairs per subject (Fleiss' P-bar); None without pairs."""
    t, _ = count_table(ratings)
    if t.size == 0:
        return None
    n = t.sum(axis=1)
    t, n = t[n >= 2], n[n >= 2]
    if len(t) == 0:
        return None
    return float((((t * t).sum(axis=1) - n) / (n * (n - 1))).mean())


def icc(matrix: Sequence[Sequence[float]]) -> dict[str, float | None]:
    """ICC(1,1), ICC(2,1) and ICC(3,1) (Shrout & Fleiss 1979) of a subjects x raters matrix
    without missing values, with the two-way ANOVA mean squares. None where undefined."""
    x = np.asarray(matrix, dtype=float)
    if x.ndim != 2:
        raise ValueError("icc needs a 2-D matrix: subjects x raters")
    if np.isnan(x).any():
        raise ValueError("icc needs complete rows (no missing scores)")
    n, k = x.shape
    out: dict[str, float | None] = {"icc1_1": None, "icc2_1": None, "icc3_1": None, "n": n, "k": k}
    if n < 2 or k < 2:
        return out
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    out.update(msr=msr, msc=msc, mse=mse, msw=msw)

    def ratio(num: float, den: float) -> float | None:
        return None if abs(den) < 1e-12 else num / den

    out["icc1_1"] = ratio(msr - msw, msr + (k - 1) * msw)
    out["icc2_1"] = ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n)
    out["icc3_1"] = ratio(msr - mse, msr + (k - 1) * mse)
    return out


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Unweighted Cohen's kappa of two equally long label sequences; None when undefined."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two sequences of the same length")
    if not a:
        return None
    n = len(a)
    po = sum(1 for x, y in zip(a, b) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb.get(c, 0) for c in ca) / (n * n)
    if pe >= 1.0 - 1e-12:
        return None
    return (po - pe) / (1.0 - pe)


# ---------------------------------------------------------------- sessions in the store

def _now() -> Any:
    from callqa.pipeline.store.db import utcnow

    return utcnow()


def create_session(store: Any, *, title: str, form_id: str, call_ids: Sequence[str], evaluators: Sequence[str],
                   created_by: str, config: "Config") -> dict[str, Any]:
    """A new blind session over stored calls; returns `session(...)`."""
    from callqa.pipeline.qa.forms import get_form
    from callqa.pipeline.store.qa_tables import connect

    form = get_form(config, form_id)
    calls = list(dict.fromkeys(c for c in call_ids if c))
    people = list(dict.fromkeys(e.strip() for e in evaluators if e and e.strip()))
    if not calls:
        raise CalibrationError("a calibration session needs at least one call")
    if len(people) < 2:
        raise CalibrationError("a calibration session needs at least two evaluators")
    if not created_by:
        raise CalibrationError("a calibration session needs the QA lead who created it")
    sid = "cal-" + uuid.uuid4().hex[:12]
    with connect(store, write=True) as con:
        have = {r[0] for r in con.execute("SELECT call_id FROM calls WHERE status = 'ok' AND call_id IN "
                                          "(SELECT unnest(?))", [calls]).fetchall()}
        missing = [c for c in calls if c not in have]
        if missing:
            raise CalibrationError(f"no analysed call {', '.join(map(repr, missing))} in {store.path}")
        con.execute("INSERT INTO calibration_sessions VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                    [sid, title or sid, form_id, form.version, created_by, _now()])
        for i, c in enumerate(calls):
            con.execute("INSERT INTO calibration_calls VALUES (?, ?, ?)", [sid, c, i])
        for e in people:
            con.execute("INSERT INTO calibration_evaluators VALUES (?, ?)", [sid, e])
    return session(store, sid)


def _session_row(con: Any, sid: str) -> dict[str, Any]:
    from callqa.pipeline.store.qa_tables import rows

    found = rows(con.execute("SELECT * FROM calibration_sessions WHERE session_id = ?", [sid]))
    if not found:
        raise CalibrationError(f"no calibration session {sid!r}")
    return found[0]


def session(store: Any, session_id: str) -> dict[str, Any]:
    """A session: title, form and version, who created it, calls, evaluators, whether it is
    closed, and per evaluator how many answers they gave (never what they answered)."""
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        s = _session_row(con, session_id)
        calls = [r[0] for r in con.execute("SELECT call_id FROM calibration_calls WHERE session_id = ? "
                                           "ORDER BY position", [session_id]).fetchall()]
        people = [r[0] for r in con.execute("SELECT evaluator FROM calibration_evaluators WHERE session_id = ? "
                                            "ORDER BY evaluator", [session_id]).fetchall()]
        done = dict(con.execute("SELECT evaluator, count(DISTINCT (call_id, question_id)) FROM calibration_answers "
                                "WHERE session_id = ? GROUP BY evaluator", [session_id]).fetchall())
    return {**s, "created_at": s["created_at"].isoformat(),
            "closed_at": None if s["closed_at"] is None else s["closed_at"].isoformat(),
            "closed": s["closed_at"] is not None, "calls": calls, "evaluators": people,
            "progress": {e: int(done.get(e, 0)) for e in people}}


def sessions(store: Any, *, evaluator: str | None = None) -> list[dict[str, Any]]:
    """Every session (newest first), or those `evaluator` takes part in or created."""
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        if evaluator is None:
            ids = [r[0] for r in con.execute("SELECT session_id FROM calibration_sessions "
                                             "ORDER BY created_at DESC").fetchall()]
        else:
            ids = [r[0] for r in con.execute(
                "SELECT session_id FROM calibration_sessions s WHERE created_by = ? OR EXISTS (SELECT 1 FROM "
                "calibration_evaluators e WHERE e.session_id = s.session_id AND e.evaluator = ?) "
                "ORDER BY created_at DESC", [evaluator, evaluator]).fetchall()]
    return [session(store, sid) for sid in ids]


def submit_answer(store: Any, session_id: str, *, evaluator: str, call_id: str, question_id: str, answer: Any,
                  config: "Config", comment: str | None = None) -> dict[str, Any]:
    """An evaluator's answer to one question on one call of an open session (checked against the
    question; the latest answer counts)."""
    from callqa.pipeline.qa.forms import get_form, normalize_answer
    from callqa.pipeline.store.qa_tables import connect

    with connect(store, write=True) as con:
        s = _session_row(con, session_id)
        if s["closed_at"] is not None:
            raise CalibrationError(f"calibration session {session_id} is closed")
        form = get_form(config, s["form_id"])
        if form.version != s["form_version"]:
            raise CalibrationError(f"form {s['form_id']!r} changed since session {session_id} started "
                                   f"(version {s['form_version']}, now {form.version})")
        value = normalize_answer(form.question(question_id), answer)
        if not con.execute("SELECT 1 FROM calibration_evaluators WHERE session_id = ? AND evaluator = ?",
                           [session_id, evaluator]).fetchall():
            raise CalibrationError(f"{evaluator!r} is not an evaluator of calibration session {session_id}")
        if not con.execute("SELECT 1 FROM calibration_calls WHERE session_id = ? AND call_id = ?",
                           [session_id, call_id]).fetchall():
            raise CalibrationError(f"call {call_id!r} is not in calibration session {session_id}")
        at = _now()
        con.execute("INSERT INTO calibration_answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [session_id, call_id, evaluator, question_id, json.dumps(value), comment, at])
    return {"session_id": session_id, "call_id": call_id, "evaluator": evaluator, "question_id": question_id,
            "answer": value, "comment": comment, "answered_at": at.isoformat()}


def _latest_answers(con: Any, session_id: str, evaluator: str | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT call_id, evaluator, question_id, answer, comment, answered_at FROM calibration_answers "
           "WHERE session_id = ?")
    params: list[Any] = [session_id]
    if evaluator is not None:
        sql += " AND evaluator = ?"
        params.append(evaluator)
    sql += (" QUALIFY row_number() OVER (PARTITION BY call_id, evaluator, question_id "
            "ORDER BY answered_at DESC) = 1 ORDER BY call_id, question_id, evaluator")
    return [{"call_id": c, "evaluator": e, "question_id": q, "answer": json.loads(a), "comment": cm,
             "answered_at": at.isoformat()} for c, e, q, a, cm, at in con.execute(sql, params).fetchall()]


def answers(store: Any, session_id: str, *, viewer: str) -> list[dict[str, Any]]:
    """The answers `viewer` may see: while the session is open only their own (blind), once it
    is closed everyone's."""
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        s = _session_row(con, session_id)
        return _latest_answers(con, session_id, None if s["closed_at"] is not None else viewer)


def close_session(store: Any, session_id: str, *, by: str) -> dict[str, Any]:
    """Close a session: answers are final and visible to all; the report becomes available.
    (Who may close it is the caller's decision: the web app allows its creator and admins.)"""
    from callqa.pipeline.store.qa_tables import connect

    with connect(store, write=True) as con:
        s = _session_row(con, session_id)
        if s["closed_at"] is not None:
            raise CalibrationError(f"calibration session {session_id} is already closed")
        con.execute("UPDATE calibration_sessions SET closed_at = ?, closed_by = ? WHERE session_id = ?",
                    [_now(), by, session_id])
    return session(store, session_id)


def _auto_answers(store: Any, call_ids: Sequence[str], form: Any, config: "Config") -> dict[str, dict[str, Any]]:
    """call id -> question id -> the automatic answer of the form on the stored call (None: none)."""
    from callqa.pipeline.qa.forms import score_form

    out: dict[str, dict[str, Any]] = {}
    for cid in call_ids:
        result = store.get(cid, with_reviews=False)
        if result is None:
            continue
        fr = score_form(form, result, config)
        out[cid] = {a.id: (a.answer if a.source not in (None, "human") else None) for a in fr.answers}
    return out


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), nd)


def session_report(store: Any, session_id: str, config: "Config") -> dict[str, Any]:
    """Per question of a closed session: agreement between the evaluators (Fleiss' kappa over
    yes/no/na answers; ICC(2,1) and ICC(3,1) over 0..100 scores, calls every evaluator scored)
    and with the automatic answers (share equal and Cohen's kappa; mean absolute difference)."""
    from callqa.pipeline.qa.forms import get_form
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        s = _session_row(con, session_id)
        if s["closed_at"] is None:
            raise CalibrationError(f"calibration session {session_id} is still open: close it to see the report")
        got = _latest_answers(con, session_id)
    info = session(store, session_id)
    form = get_form(config, s["form_id"])
    note = None
    if form.version != s["form_version"]:
        note = (f"the automatic answers come from the form's current version {form.version}; "
                f"the session was answered on {s['form_version']}")
    auto = _auto_answers(store, info["calls"], form, config)
    by_q: dict[str, dict[str, dict[str, Any]]] = {}
    for a in got:
        by_q.setdefault(a["question_id"], {}).setdefault(a["call_id"], {})[a["evaluator"]] = a["answer"]
    questions = []
    for _, q in form.questions():
        per_call = by_q.get(q.id, {})
        row: dict[str, Any] = {"id": q.id, "type": q.type, "text": q.text.model_dump(),
                               "calls": len(per_call), "answers": sum(len(v) for v in per_call.values())}
        if q.type == "yes_no":
            ratings = [list(v.values()) for v in per_call.values()]
            row["statistic"] = "fleiss_kappa"
            row["fleiss_kappa"] = _r(fleiss_kappa(count_table(ratings)[0]) if ratings else None)
            row["observed_agreement"] = _r(observed_agreement(ratings) if ratings else None)
            pairs = [(h, auto[c][q.id]) for c, v in per_call.items() for h in v.values()
                     if auto.get(c, {}).get(q.id) is not None]
            row["auto_pairs"] = len(pairs)
            row["auto_agreement"] = _r(sum(1 for h, m in pairs if h == m) / len(pairs) if pairs else None)
            row["auto_kappa"] = _r(cohen_kappa([h for h, _ in pairs], [m for _, m in pairs]) if pairs else None)
        else:
            people = info["evaluators"]
            complete = [[float(v[e]) for e in people] for v in per_call.values()
                        if all(isinstance(v.get(e), (int, float)) for e in people)]
            stats = icc(complete) if complete else {"icc2_1": None, "icc3_1": None}
            row["statistic"] = "icc"
            row["icc2_1"], row["icc3_1"] = _r(stats.get("icc2_1")), _r(stats.get("icc3_1"))
            row["complete_calls"] = len(complete)
            pairs = [(float(h), float(auto[c][q.id])) for c, v in per_call.items() for h in v.values()
                     if isinstance(h, (int, float)) and isinstance(auto.get(c, {}).get(q.id), (int, float))]
            row["auto_pairs"] = len(pairs)
            row["auto_mae"] = _r(sum(abs(h - m) for h, m in pairs) / len(pairs) if pairs else None, 2)
            row["auto_bias"] = _r(sum(h - m for h, m in pairs) / len(pairs) if pairs else None, 2)
        if q.auto is None:
            row["auto_note"] = "answered by people only"
        questions.append(row)
    return {"session": info, "form": {"id": form.id, "version": s["form_version"]}, "note": note,
            "questions": questions}


def closed_answers(store: Any, config: "Config") -> list[dict[str, Any]]:
    """Every answer of every closed session beside the automatic answer to the same question
    (for `callqa validate`): session_id, form_id, call_id, question_id, evaluator, answer, auto."""
    from callqa.pipeline.qa.forms import get_form
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        closed = con.execute("SELECT session_id, form_id FROM calibration_sessions WHERE closed_at IS NOT NULL "
                             "ORDER BY created_at").fetchall()
        got = {sid: _latest_answers(con, sid) for sid, _ in closed}
    out = []
    for sid, fid in closed:
        form = get_form(config, fid)
        auto = _auto_answers(store, sorted({a["call_id"] for a in got[sid]}), form, config)
        for a in got[sid]:
            out.append({"session_id": sid, "form_id": fid, **{k: a[k] for k in ("call_id", "question_id",
                                                                                 "evaluator", "answer")},
                        "auto": auto.get(a["call_id"], {}).get(a["question_id"])})
    return out


def auto_agreement(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per form and question, people's answers in closed sessions against the automatic answers
    (`closed_answers` rows): yes/no/na questions: pairs, share equal, Cohen's kappa; score
    questions: pairs, mean absolute difference, mean difference (people - automatic)."""
    groups: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for r in rows:
        if r.get("auto") is None or r.get("answer") is None:
            continue
        groups.setdefault((r["form_id"], r["question_id"]), []).append((r["answer"], r["auto"]))
    out = []
    for (fid, qid), pairs in sorted(groups.items()):
        numeric = all(isinstance(h, (int, float)) and isinstance(m, (int, float)) for h, m in pairs)
        row: dict[str, Any] = {"form": fid, "question": qid, "n": len(pairs), "agreement": None, "kappa": None,
                               "mae": None, "bias": None}
        if numeric:
            row["mae"] = _r(sum(abs(float(h) - float(m)) for h, m in pairs) / len(pairs), 2)
            row["bias"] = _r(sum(float(h) - float(m) for h, m in pairs) / len(pairs), 2)
        else:
            hs, ms = [str(h) for h, _ in pairs], [str(m) for _, m in pairs]
            row["agreement"] = _r(sum(1 for h, m in zip(hs, ms) if h == m) / len(pairs))
            row["kappa"] = _r(cohen_kappa(hs, ms))
        out.append(row)
    return out


__all__ = ["auto_agreement", "CalibrationError", "answers", "close_session", "closed_answers", "cohen_kappa",
           "count_table", "create_session", "fleiss_kappa", "icc", "observed_agreement", "session", "session_report", "sessions",
           "submit_answer"]

