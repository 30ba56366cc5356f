"""Routes of the QA loop (issue 14, items 2-4): evaluation forms on the call page, calibration
sessions, the weekly review sample. Registered by `app._routes`; permissions in qa_views."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from callqa.pipeline.qa import calibration as cal
from callqa.pipeline.qa.forms import FormError, get_form, scored_forms
from callqa.pipeline.jsonable import to_plain
from callqa.pipeline.qa.sampling import parse_week, sample_week
from callqa.pipeline.store.db import StoreError
from callqa.users import User

from . import qa_views as qv
from . import views


def qa_routes(app: FastAPI, ctx: Any, post: Callable) -> None:  # noqa: C901 - one place for these routes
    from .app import _call_url, _form_analysis, _public_call_id, _visible_call, api_user, flash, page_user, render

    def _problem(e: Exception) -> str:
        return " ".join(str(getattr(e, "problem", e)).split())[:300]

    # ---- evaluation forms on the call page
    @app.get("/api/calls/{call_id}/forms")
    def call_forms_api(call_id: str, user: User = Depends(api_user)) -> Response:
        from callqa.pipeline.qa.forms import call_form

        cid = str(_visible_call(ctx, user, call_id)["call_id"])
        blind = qv.blind_session(ctx.store, user, cid)
        if blind is not None:  # an evaluator of an open calibration session: no answers, no scores
            return JSONResponse(to_plain({"detail": "errors.calibration_blind", "blind": True,
                                 "session_id": blind["session_id"], "title": blind["title"],
                                 "message": f"the call is under blind calibration until session "
                                            f"{blind['session_id']} ({blind['title']}) closes"}), status_code=403)
        return JSONResponse(to_plain([call_form(ctx.store, cid, f.id, ctx.config).serialize()
                                      for f in scored_forms(ctx.config)]))

    @post("/calls/{call_id}/forms/{form_id}")
    async def form_answer(request: Request, call_id: str, form_id: str, user: User = Depends(page_user)) -> Response:
        from callqa.pipeline.qa.forms import save_human_answer

        result = _visible_call(ctx, user, call_id)
        cid = str(result["call_id"])
        if not qv.can_answer_forms(user):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        if form_id not in {f.id for f in scored_forms(ctx.config)}:
            raise HTTPException(status_code=404, detail="errors.not_found")
        form = await request.form()
        back = _call_url(ctx, cid, f"form-{form_id}")
        question = str(form.get("question") or "")
        answer = str(form.get("answer") or "").strip()
        comment = " ".join(str(form.get("comment") or "").split())[:2000] or None
        if not answer:
            flash(request, "errors.form_answer_empty", "error")
            return RedirectResponse(back, status_code=303)
        try:
            save_human_answer(ctx.store, cid, form_id, question, answer, author=user.name, config=ctx.config,
                              comment=comment, analysis_id=_form_analysis(form))
        except FormError as e:
            flash(request, "errors.form_answer", "error", problem=_problem(e))
            return RedirectResponse(back, status_code=303)
        except StoreError:
            flash(request, "errors.reprocessed", "error")  # the analysis changed under the person
            return RedirectResponse(back, status_code=303)
        flash(request, "messages.form_answer_saved")
        return RedirectResponse(back, status_code=303)

    # ---- calibration sessions
    def _session(user: User, session_id: str) -> dict[str, Any]:
        try:
            info = cal.session(ctx.store, session_id)
        except cal.CalibrationError:
            raise HTTPException(status_code=404, detail="errors.not_found") from None
        if not qv.session_visible(user, info):
            raise HTTPException(status_code=404, detail="errors.not_found")
        return info

    def _session_calls(user: User, info: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for cid in info["calls"]:
            r = ctx.store.get(cid, with_reviews=False)
            if r is None or not user.can_see_call(r.get("team"), r.get("operator_id")):
                continue  # teams changed since the session was made: never show another team's call
            out.append({"operator_id": r.get("operator_id"), "team": r.get("team"),
                        "started_at": r.get("started_at"), **_public_call_id(ctx, cid), "stored_id": cid})
        return out

    def _sessions_for(user: User) -> list[dict[str, Any]]:
        return cal.sessions(ctx.store, evaluator=None if user.role == "admin" else user.name)

    def _not_operator(user: User) -> None:
        if user.role == "operator":
            raise HTTPException(status_code=404, detail="errors.not_found")

    @app.get("/calibration", response_class=HTMLResponse)
    def calibration_list(request: Request, user: User = Depends(page_user)) -> Response:
        _not_operator(user)
        calls, people = [], []
        if qv.can_lead(user):
            visible = views.visible_results(ctx.store, user, ctx.config)
            visible.sort(key=lambda r: (r.get("started_at") or "", r["call_id"]), reverse=True)
            calls = visible[:200]
            people = qv.evaluator_candidates(ctx.users.list(), lambda u: True)
        lang = request.state.lang
        return render(request, "calibration_list.html", user=user, sessions=_sessions_for(user),
                      forms=[(f.id, qv.form_name(f, lang)) for f in scored_forms(ctx.config)], calls=calls,
                      people=people)

    @app.get("/api/calibration")
    def calibration_list_api(user: User = Depends(api_user)) -> Response:
        _not_operator(user)
        return JSONResponse(to_plain([{k: v for k, v in s.items() if k != "calls"} for s in _sessions_for(user)]))

    @post("/calibration")
    async def calibration_create(request: Request, user: User = Depends(page_user)) -> Response:
        _not_operator(user)
        if not qv.can_lead(user):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        form = await request.form()
        form_id = str(form.get("form_id") or "")
        if form_id not in {f.id for f in scored_forms(ctx.config)}:
            raise HTTPException(status_code=400, detail="errors.bad_request")
        results = [_visible_call(ctx, user, str(k)) for k in dict.fromkeys(form.getlist("call")) if str(k)]
        names = list(dict.fromkeys(str(n).strip() for n in form.getlist("evaluator") if str(n).strip()))
        title = " ".join(str(form.get("title") or "").split())[:200]
        if not results or len(names) < 2:
            flash(request, "errors.calibration_pick", "error")
            return RedirectResponse("/calibration", status_code=303)
        refused = []
        for name in names:
            u = ctx.users.get(name)
            if u is None or u.disabled or u.role not in qv.EVALUATOR_ROLES \
                    or not all(u.can_see_call(r.get("team"), r.get("operator_id")) for r in results):
                refused.append(name)
        if refused:  # an evaluator of another team would see calls they may not see
            flash(request, "errors.calibration_evaluators", "error", names=", ".join(refused))
            return RedirectResponse("/calibration", status_code=303)
        try:
            info = cal.create_session(ctx.store, title=title, form_id=form_id,
                                      call_ids=[str(r["call_id"]) for r in results], evaluators=names,
                                      created_by=user.name, config=ctx.config)
        except (cal.CalibrationError, FormError):  # e.g. a call that failed processing (no analysis)
            flash(request, "errors.calibration_pick", "error")
            return RedirectResponse("/calibration", status_code=303)
        flash(request, "messages.calibration_created")
        return RedirectResponse(f"/calibration/{info['session_id']}", status_code=303)

    def _session_data(request: Request, user: User, info: dict[str, Any]) -> dict[str, Any]:
        lang = request.state.lang
        form = get_form(ctx.config, info["form_id"])
        seen = cal.answers(ctx.store, info["session_id"], viewer=user.name)
        calls = _session_calls(user, info)
        shown = {c["stored_id"] for c in calls}
        seen = [a for a in seen if a["call_id"] in shown]
        data: dict[str, Any] = {"session": info, "calls": calls, "form_name": qv.form_name(form, lang),
                                "questions": qv.session_questions(form, lang),
                                "evaluator": user.name in info["evaluators"], "may_close": qv.may_close(user, info),
                                "changed": form.version != info["form_version"], "answers": seen,
                                "own": qv.own_answers(seen, user.name), "report": None}
        if info["closed"]:
            data["report"] = cal.session_report(ctx.store, info["session_id"], ctx.config)
            data["everyone"] = qv.all_answers(seen)
        return data

    @app.get("/calibration/{session_id}", response_class=HTMLResponse)
    def calibration_page(request: Request, session_id: str, user: User = Depends(page_user)) -> Response:
        info = _session(user, session_id)
        return render(request, "calibration.html", user=user, **_session_data(request, user, info))

    @app.get("/api/calibration/{session_id}")
    def calibration_api(request: Request, session_id: str, user: User = Depends(api_user)) -> Response:
        info = _session(user, session_id)
        data = _session_data(request, user, info)
        calls = {c["stored_id"]: c for c in data["calls"]}
        out = {"session": {**{k: v for k, v in info.items() if k != "calls"},
                           "calls": [{k: c[k] for k in ("call_id", "key", "url")} for c in data["calls"]]},
               "answers": [{**a, **_public_call_id(ctx, a["call_id"])} for a in data["answers"]
                           if a["call_id"] in calls],
               "report": data["report"]}
        return JSONResponse(views.json_safe(to_plain(out)))

    @post("/calibration/{session_id}/answers")
    async def calibration_answer(request: Request, session_id: str, user: User = Depends(page_user)) -> Response:
        info = _session(user, session_id)
        if user.name not in info["evaluators"]:
            raise HTTPException(status_code=403, detail="errors.forbidden")
        form = await request.form()
        call_id = str(_visible_call(ctx, user, str(form.get("call_id") or ""))["call_id"])
        if call_id not in info["calls"]:
            raise HTTPException(status_code=404, detail="errors.not_found")
        back = f"/calibration/{session_id}#call-{ctx.keys.key(call_id)}"
        given = {str(k)[2:]: str(v).strip() for k, v in form.multi_items() if str(k).startswith("q.")
                 and str(v).strip()}
        if not given:
            flash(request, "errors.form_answer_empty", "error")
            return RedirectResponse(back, status_code=303)
        fdef = get_form(ctx.config, info["form_id"])
        try:
            for qid, value in given.items():  # checked first: nothing is stored when one answer is wrong
                from callqa.pipeline.qa.forms import normalize_answer

                normalize_answer(fdef.question(qid), value)
            for qid, value in given.items():
                cal.submit_answer(ctx.store, session_id, evaluator=user.name, call_id=call_id, question_id=qid,
                                  answer=value, config=ctx.config)
        except (FormError, cal.CalibrationError) as e:
            flash(request, "errors.form_answer", "error", problem=_problem(e))
            return RedirectResponse(back, status_code=303)
        flash(request, "messages.calibration_saved", n=len(given))
        return RedirectResponse(back, status_code=303)

    @post("/calibration/{session_id}/close")
    async def calibration_close(request: Request, session_id: str, user: User = Depends(page_user)) -> Response:
        info = _session(user, session_id)
        if not qv.may_close(user, info):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        cal.close_session(ctx.store, session_id, by=user.name)
        flash(request, "messages.calibration_closed")
        return RedirectResponse(f"/calibration/{session_id}", status_code=303)

    # ---- the weekly review sample
    def _week(request: Request, user: User) -> tuple[str | None, list[str]]:
        visible = views.visible_results(ctx.store, user, ctx.config)
        weeks = qv.sample_weeks(ctx.store, visible)
        asked = (request.query_params.get("week") or "").strip()
        if asked:
            try:
                return parse_week(asked), weeks
            except ValueError:
                raise HTTPException(status_code=400, detail="errors.bad_request") from None
        stored = qv.stored_weeks(ctx.store)
        return next((w for w in weeks if w in stored), weeks[0] if weeks else None), weeks

    def _plan(week: str | None, user: User) -> dict[str, Any] | None:
        if week is None or week not in qv.stored_weeks(ctx.store):
            return None  # nothing drawn for that week yet (GET never writes)
        return qv.sample_view(sample_week(ctx.store, week, ctx.config, save=False), user)

    def _sample_json(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "to_review": [{**r, **_public_call_id(ctx, r["call_id"])} for r in data["to_review"]],
                "operators": [{**o, "calls": [{**c, **_public_call_id(ctx, c["call_id"])} for c in o["calls"]]}
                              for o in data["operators"]]}

    @app.get("/review-sample", response_class=HTMLResponse)
    def sample_page(request: Request, user: User = Depends(page_user)) -> Response:
        if not user.can("review"):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        week, weeks = _week(request, user)
        return render(request, "review_sample.html", user=user, week=week, weeks=weeks, plan=_plan(week, user))

    @app.get("/api/review-sample")
    def sample_api(request: Request, user: User = Depends(api_user)) -> Response:
        if not user.can("review"):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        week, weeks = _week(request, user)
        plan = _plan(week, user)
        return JSONResponse(views.json_safe(to_plain({"week": week, "weeks": weeks, "stored": plan is not None,
                                                      "plan": None if plan is None else _sample_json(plan)})))

    @post("/review-sample")
    async def sample_draw(request: Request, user: User = Depends(page_user)) -> Response:
        if not user.can("review"):
            raise HTTPException(status_code=403, detail="errors.forbidden")
        form = await request.form()
        try:
            week = parse_week(str(form.get("week") or ""))
        except ValueError:
            raise HTTPException(status_code=400, detail="errors.bad_request") from None
        plan = sample_week(ctx.store, week, ctx.config)  # the stored plan, or a new seeded draw saved
        flash(request, "messages.sample_drawn", week=plan.week)
        return RedirectResponse(f"/review-sample?week={plan.week}", status_code=303)
