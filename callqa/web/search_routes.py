"""Routes of search, trends and categories (issue 13). Registered by `app._routes`; what they
show is assembled in search_views (permissions there: a user's search is restricted to the
calls they may see)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from callqa.pipeline.jsonable import to_plain
from callqa.pipeline.scoring import categories as cats
from callqa.users import User

from . import search_views as sv


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def search_routes(app: FastAPI, ctx: Any, post: Callable) -> None:  # noqa: C901 - one place for these routes
    from .app import _call_url, _public_call_id, api_user, flash, page_user, render

    def _no_operators(user: User) -> None:
        if user.role == "operator":  # an operator searches their own calls only; trends are team views
            raise HTTPException(status_code=403, detail="errors.forbidden")

    def _hit_rows(view: sv.SearchView) -> list[dict[str, Any]]:
        return [{"hit": h, "url": _call_url(ctx, h.call_id) + f"?t={h.start:.2f}"} for h in view.hits]

    # ---- search
    @app.get("/search")
    def search_page(request: Request, q: str = "", sort: str = "date", limit: int = sv.DEFAULT_LIMIT,
                    user: User = Depends(page_user)) -> Response:
        view = sv.run_search(ctx.store, user, q, sort=sort, limit=limit, config=ctx.config,
                             translate=partial(ctx.ui.translate, request.state.lang))
        # a query with an error is a page that explains it (200); /api/search answers 400
        return render(request, "search.html", user=user, view=view, rows=_hit_rows(view))

    @app.get("/api/search")
    def search_api(request: Request, q: str = "", sort: str = "date", limit: int = sv.DEFAULT_LIMIT,
                   user: User = Depends(api_user)) -> Response:
        view = sv.run_search(ctx.store, user, q, sort=sort, limit=limit, config=ctx.config,
                             translate=partial(ctx.ui.translate, request.state.lang))
        if view.error:
            return JSONResponse({"detail": "errors.query_syntax", "error": view.error}, status_code=400)
        data = view.serialize()
        for h, row in zip(data["hits"], view.hits):
            h.update(_public_call_id(ctx, row.call_id))
            h["url"] = _call_url(ctx, row.call_id) + f"?t={row.start:.2f}"
        return JSONResponse(to_plain(data))

    # ---- trends
    def _trends(request: Request, user: User) -> sv.Trends:
        p = request.query_params
        return sv.build_trends(ctx.store, ctx.config, user, request.state.lang, period=p.get("period") or "week",
                               periods=_int(p.get("periods"), 8), team=p.get("team") or None)

    @app.get("/trends")
    def trends_page(request: Request, user: User = Depends(page_user)) -> Response:
        _no_operators(user)
        return render(request, "trends.html", user=user, trends=_trends(request, user))

    @app.get("/api/trends")
    def trends_api(request: Request, user: User = Depends(api_user)) -> Response:
        _no_operators(user)
        data = _trends(request, user).serialize()
        for group in ("categories", "topics"):
            for row in data[group]:
                for e in row["examples"]:
                    e.update(_public_call_id(ctx, e["call_id"]))
        return JSONResponse(to_plain(data))

    # ---- categories (admins save searches as categories; they apply from the next batch / rescore)
    @app.get("/categories")
    def categories_page(request: Request, user: User = Depends(page_user)) -> Response:
        _no_operators(user)
        rows = sv.category_rows(ctx.store, ctx.config, user, request.state.lang)
        return render(request, "categories.html", user=user, rows=rows, languages=ctx.ui.languages,
                      draft={"query": request.query_params.get("q") or ""}, error=None)

    @app.get("/api/categories")
    def categories_api(request: Request, user: User = Depends(api_user)) -> Response:
        _no_operators(user)
        return JSONResponse(to_plain([r.serialize() for r in sv.category_rows(ctx.store, ctx.config, user,
                                                                                request.state.lang)]))

    @post("/categories")
    async def category_save(request: Request, user: User = Depends(page_user)) -> Response:
        from callqa.pipeline.search.query import QuerySyntaxError

        if user.role != "admin":
            raise HTTPException(status_code=403, detail="errors.forbidden")
        form = await request.form()
        names = {code: str(form.get(f"name_{code}") or "") for code in ctx.ui.languages}
        draft = {"id": str(form.get("category_id") or ""), "query": str(form.get("query") or ""),
                 "severity": str(form.get("severity") or ""), "names": names}
        try:
            cats.save_category(ctx.store, ctx.config, category_id=draft["id"], names=names, query=draft["query"],
                               severity=draft["severity"] or None, author=user.name)
        except QuerySyntaxError as e:
            error = {"kind": "query", **sv.syntax_error(e, partial(ctx.ui.translate, request.state.lang))}
        except ValueError as e:
            error = {"kind": "other", "message": str(e)}
        else:
            flash(request, "messages.category_saved", id=draft["id"].strip().lower())
            return RedirectResponse("/categories", status_code=303)
        rows = sv.category_rows(ctx.store, ctx.config, user, request.state.lang)
        return render(request, "categories.html", status=400, user=user, rows=rows, languages=ctx.ui.languages,
                      draft=draft, error=error)

    @post("/categories/{category_id}/delete")
    async def category_delete(request: Request, category_id: str, user: User = Depends(page_user)) -> Response:
        if user.role != "admin":
            raise HTTPException(status_code=403, detail="errors.forbidden")
        if not cats.delete_category(ctx.store, category_id, author=user.name):
            raise HTTPException(status_code=404, detail="errors.not_found")
        flash(request, "messages.category_deleted", id=category_id)
        return RedirectResponse("/categories", status_code=303)
