"""What the QA-loop pages show (issue 14, items 2-4): evaluation forms on the call page and
the scorecard, calibration sessions, the weekly review sample. No HTTP here.

Who may do what (the web app's decision, documented in docs/webapp.md):

* answer or correct a form question on a call: whoever may override a score (admin, the
  call team's supervisor); trainers and operators see the forms read-only (an operator
  only on their own calls);
* lead a calibration session (create, close): admins and supervisors; evaluators: admins,
  supervisors and trainers who may see every call of the session (never operators);
* the weekly review sample: whoever may review calls (admin, supervisors: their teams).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from callqa.users import User

LEAD_ROLES = ("admin", "supervisor")
EVALUATOR_ROLES = ("admin", "supervisor", "trainer")


def can_answer_forms(user: User) -> bool:
    return user.can("override")


def can_lead(user: User) -> bool:
    return user.role in LEAD_ROLES


def form_name(form: Any, lang: str) -> str:
    name = form.definition.name
    return name.get(lang) if name is not None else form.id


def form_view(form: Any, result: Any, lang: str) -> dict[str, Any]:
    """A scored form (pipeline.qa.forms.FormResult) with its questions' texts, by section."""
    answers = {a.id: a for a in result.answers}
    scores = dict(result.sections)
    sections = []
    for sec in form.sections:
        rows = []
        for q in sec.questions:
            a = answers.get(q.id)
            if a is None:
                continue
            rows.append({"id": q.id, "text": q.text.get(lang), "help": q.help.get(lang) if q.help else "",
                         "type": q.type, "critical": q.critical, "na_allowed": q.na_allowed, "weight": a.weight,
                         "answer": a.answer, "source": a.source, "needs_human": a.needs_human,
                         "evidence": [dict(e) for e in a.evidence], "reason": a.reason, "by": a.by, "at": a.at,
                         "comment": a.comment, "auto": a.auto, "auto_source": q.auto.kind if q.auto else None,
                         "failed": q.id in result.critical_failed})
        sections.append({"id": sec.id, "name": sec.name.get(lang), "score": scores.get(sec.id), "questions": rows})
    return {"id": form.id, "version": result.version, "name": form_name(form, lang), "score": result.score,
            "passed": result.passed, "complete": result.complete, "pending": list(result.pending),
            "critical_failed": list(result.critical_failed), "pass_threshold": result.pass_threshold,
            "score_range": result.score_range, "raw_score": result.raw_score, "reason": result.reason,
            "sections": sections}


def call_forms(store: Any, call_id: str, config: Any, lang: str) -> list[dict[str, Any]]:
    """Every form of `forms.score` on a stored call, with the people's answers (current version)."""
    from callqa.pipeline.qa.forms import call_form, scored_forms

    return [form_view(f, call_form(store, call_id, f.id, config), lang) for f in scored_forms(config)]


def scorecard_forms(store: Any, config: Any, call_ids: Sequence[str], lang: str) -> list[dict[str, Any]]:
    """Per form of `forms.score`: its result on each of the given calls, oldest first, the mean,
    the pass rate and the weekly means (for a chart)."""
    from callqa.pipeline.qa.forms import form_results, scored_forms
    from callqa.pipeline.people.reports import line_chart_svg
    from callqa.pipeline.qa.sampling import week_of

    if not call_ids:
        return []
    out = []
    weekly: dict[str, list[tuple[str, float]]] = {}
    for form in scored_forms(config):
        rows = form_results(store, config, form.id, call_ids=call_ids)
        scores = [r["form"].score for r in rows if r["form"].score is not None]
        decided = [r["form"].passed for r in rows if r["form"].passed is not None]
        by_week: dict[str, list[float]] = {}
        for r in rows:
            wk = week_of(r["started_at"])
            if wk and r["form"].score is not None:
                by_week.setdefault(wk, []).append(r["form"].score)
        name = form_name(form, lang)
        if by_week:
            weekly[name] = [(wk, sum(v) / len(v)) for wk, v in sorted(by_week.items())]
        out.append({"id": form.id, "version": form.version, "name": name,
                    "mean": sum(scores) / len(scores) if scores else None,
                    "pass_rate": sum(1 for p in decided if p) / len(decided) if decided else None,
                    "pending_calls": sum(1 for r in rows if r["form"].pending),
                    "rows": [{"call_id": r["call_id"], "started_at": r["started_at"], "score": r["form"].score,
                              "passed": r["form"].passed, "pending": len(r["form"].pending),
                              "human": sum(1 for a in r["form"].answers if a.source == "human")}
                             for r in rows]})
    return [{**f, "trend": line_chart_svg({f["name"]: weekly[f["name"]]}) if f["name"] in weekly else ""}
            for f in out]


# ---------------------------------------------------------------- calibration

def blind_session(store: Any, user: User, call_id: str, session_id: str | None = None) -> dict[str, Any] | None:
    """The open calibration session in which the user evaluates this call, however the call is
    reached (the call page, `?calibration=ID` or not, `/api/calls/ID/forms`): the call's forms
    (automatic answers and other people's answers, the scores) stay hidden until it closes.

    Blindness follows the evaluator list, not the role: a lead who listed themselves as an
    evaluator is blind too; a lead who does not evaluate, and admins who are not evaluators, see
    the forms (they need them to prepare and run the session). `session_id` (from
    `?calibration=`) picks that session when the call is in several open ones."""
    from callqa.pipeline.qa.calibration import sessions

    found = [s for s in sessions(store, evaluator=user.name)
             if not s["closed"] and user.name in s["evaluators"] and call_id in s["calls"]]
    for info in found:
        if info["session_id"] == session_id:
            return info
    return found[0] if found else None


def session_visible(user: User, info: Mapping[str, Any]) -> bool:
    """Only the lead who created it, its evaluators and admins see a session."""
    return user.role == "admin" or user.name == info.get("created_by") or user.name in (info.get("evaluators") or [])


def may_close(user: User, info: Mapping[str, Any]) -> bool:
    return not info.get("closed") and (user.role == "admin" or user.name == info.get("created_by"))


def session_questions(form: Any, lang: str) -> list[dict[str, Any]]:
    return [{"id": q.id, "section": s.name.get(lang), "text": q.text.get(lang), "type": q.type,
             "na_allowed": q.na_allowed, "critical": q.critical} for s, q in form.questions()]


def own_answers(items: Iterable[Mapping[str, Any]], evaluator: str) -> dict[tuple[str, str], Any]:
    return {(str(a["call_id"]), str(a["question_id"])): a["answer"] for a in items if a["evaluator"] == evaluator}


def all_answers(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(call, question) -> evaluator -> answer (a closed session's answers)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for a in items:
        out.setdefault((str(a["call_id"]), str(a["question_id"])), {})[str(a["evaluator"])] = a["answer"]
    return out


def evaluator_candidates(users: Iterable[User], visible_to: Any) -> list[User]:
    """Users who may evaluate: admins, supervisors, trainers (enabled), for the caller to filter
    by the calls they must see (`visible_to(user) -> bool`)."""
    return [u for u in users if not u.disabled and u.role in EVALUATOR_ROLES and visible_to(u)]


# ---------------------------------------------------------------- review sample

def sample_weeks(store: Any, results: Iterable[Mapping[str, Any]]) -> list[str]:
    """Weeks with a stored sample or with calls, newest first."""
    from callqa.pipeline.store.qa_tables import connect
    from callqa.pipeline.qa.sampling import week_of

    weeks = {w for w in (week_of(r.get("started_at")) for r in results) if w}
    with connect(store) as con:
        weeks |= {r[0] for r in con.execute("SELECT DISTINCT week FROM review_samples").fetchall()}
    return sorted(weeks, reverse=True)


def stored_weeks(store: Any) -> set[str]:
    from callqa.pipeline.store.qa_tables import connect

    with connect(store) as con:
        return {r[0] for r in con.execute("SELECT DISTINCT week FROM review_samples").fetchall()}


def sample_view(plan: Any, user: User) -> dict[str, Any]:
    """The user's part of a week's plan: their "to review" list (sampled, not yet reviewed) and
    coverage per operator of the teams they see (reviewed / sampled / calls of the week)."""
    from callqa.pipeline.qa.sampling import to_review

    teams = None if user.sees_all else list(user.teams)
    operators = [o.serialize() for o in plan.operators if teams is None or o.team in teams]
    return {"week": plan.week, "seed": plan.seed, "per_operator": plan.per_operator, "stored": plan.stored,
            "undated": plan.undated, "to_review": to_review(plan, teams), "operators": operators,
            "totals": {"sampled": sum(o["sampled"] for o in operators),
                       "reviewed": sum(o["reviewed"] for o in operators),
                       "total": sum(o["total"] for o in operators)}}
