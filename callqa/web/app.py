"""The supervisor web app: `create_app(store_path, config=None)` returns a FastAPI app.

Pages are server-rendered Jinja2 templates with a little vanilla JavaScript
(`static/app.js`: the audio player, seek on timestamp and evidence clicks, the
turn timeline). Everything a user sees is limited by their role and teams
(callqa/users.py); every form is CSRF-protected; audio is served by call id
only, from the path the store recorded, with HTTP Range support.

Call ids taken from file names are often phone numbers: pages and JSON show them
masked, and links name such a call by an opaque key (`CallKeys`: an HMAC of the id
under the store's secret); a URL with the stored id itself keeps working.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from callqa.pipeline.privacy.audio_redact import redacted_file, spans_of
from callqa.pipeline.config import Config, load_config
from callqa.pipeline.qa.disputes import DisputeError, decide_dispute, disputes, raise_dispute
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.people.library import (DECISIONS, LibraryError, audio_path, decide, export_zip, facets,
                                     library_items)
from callqa.pipeline.jsonable import to_plain
from callqa.pipeline.privacy.redact import call_key, mask_call_id, public_result
from callqa.pipeline.store.db import Store, StoreError
from callqa.users import User, UserDB

from . import qa_views, search_views, views
from .qa_routes import qa_routes
from .search_routes import search_routes
from .i18n import UiStrings
from .security import (CSRF_FIELD, CSRF_HEADER, LoginLimiter, load_or_create_secret, new_csrf_token,
                       tokens_match)
from .settings import WebOptions

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "callqa_session"
LANG_COOKIE = "callqa_lang"
AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
               ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac",
               ".webm": "audio/webm"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'"),
}


class LoginRequired(Exception):
    """No (valid) session: pages redirect to the login page, the API answers 401."""

    def __init__(self, api: bool):
        self.api = api


class CallKeys:
    """The key a call goes by in URLs and forms: its id, unless the id would be masked
    (a phone number, configs/privacy.yaml); then `c-` + an HMAC of the id under the
    store's secret (24 letters), which reveals nothing and stays the same across restarts."""

    PREFIX = "c-"

    def __init__(self, store: Store, config: Config, secret: str):
        self.store, self.config = store, config
        self._secret = secret
        self._ids: dict[str, str] = {}  # key -> call id, for the masked ones
        self._lock = threading.Lock()

    def key(self, call_id: str) -> str:
        return call_key(call_id, self.config, self._secret)

    def call_id(self, key: str) -> str:
        """The stored call id for a key (the key itself when it is not a masked one)."""
        if not key.startswith(self.PREFIX):
            return key
        with self._lock:
            found = self._ids.get(key)
            if found is None:  # a call stored since: refresh the map
                self._ids = {self.key(r["call_id"]): r["call_id"]
                             for r in self.store.query("SELECT call_id FROM calls")}
                found = self._ids.get(key)
        return found if found is not None else key


@dataclass(frozen=True)
class WebContext:
    store: Store
    users: UserDB
    config: Config
    options: WebOptions
    limiter: LoginLimiter
    env: Any  # jinja2.Environment
    keys: CallKeys
    ui: UiStrings  # UI strings per language (configs/ui/<lang>.yaml)


def web_options(config: Config, given: WebOptions | dict[str, Any] | None = None) -> WebOptions:
    """`web` section of the configuration (validated here), updated by `given`."""
    from pydantic import ValidationError

    raw = dict(config.get("web", {}) or {})
    if isinstance(given, WebOptions):
        return given
    raw.update(given or {})
    try:
        return WebOptions.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(["web", *(str(p) for p in err.get("loc", ()))])
        src = next((f for f in reversed(config.files) if f.endswith("web.yaml")), config.files[-1] if config.files
                   else "configuration")
        raise ConfigError(src, key, err.get("msg", "invalid value")) from None


def _jinja_env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["mmss"] = views.fmt_time
    env.filters["urlq"] = lambda s: quote(str(s), safe="")
    env.filters["pct"] = lambda v: "—" if v is None else f"{float(v) * 100:.0f}%"
    env.filters["num"] = lambda v, fmt="{:.0f}": "—" if v is None else fmt.format(float(v))
    return env


def create_app(store_path: str | Path, config: Config | None = None, *,
               options: WebOptions | dict[str, Any] | None = None, secret: str | None = None) -> FastAPI:
    """The web app over one store directory (users and the cookie secret live there too)."""
    config = config or load_config()
    opts = web_options(config, options)
    store = Store(store_path)
    secret = secret or load_or_create_secret(store.path)
    ctx = WebContext(store=store, users=UserDB(store.path), config=config, options=opts,
                     limiter=LoginLimiter(opts.login_attempts, opts.login_window_s, opts.login_attempts_per_ip),
                     env=_jinja_env(), keys=CallKeys(store, config, secret), ui=UiStrings(config))
    # A call id that looks like a phone number is shown masked (configs/privacy.yaml); links
    # and forms name it by an opaque key.
    ctx.env.filters["callid"] = lambda c: mask_call_id(str(c), config)
    ctx.env.filters["callkey"] = ctx.keys.key
    app = FastAPI(title="callqa", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx

    @app.middleware("http")
    async def language_and_headers(request: Request, call_next: Callable) -> Response:
        asked = request.query_params.get("lang")
        request.state.lang = ctx.ui.pick(asked, request.cookies.get(LANG_COOKIE),
                                         request.headers.get("accept-language"), opts.default_language)
        response = await call_next(request)
        if asked in ctx.ui.languages:
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="lax",
                                secure=opts.secure_cookies)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith(("/calls", "/api", "/library", "/operators", "/dashboard", "/queue",
                                        "/disputes", "/calibration", "/review-sample")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(SessionMiddleware, secret_key=secret,
                       session_cookie=SESSION_COOKIE, max_age=opts.session_max_age_s, same_site="lax",
                       https_only=opts.secure_cookies)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.api:
            return JSONResponse({"detail": "login required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Cookie realm="callqa"'})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.endswith("/audio") \
                or "text/html" not in request.headers.get("accept", "text/html"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        key = {404: "errors.not_found", 403: "errors.forbidden", 400: "errors.bad_request"}.get(exc.status_code)
        message = ctx.ui.translate(request.state.lang, exc.detail if str(exc.detail).startswith("errors.") else
                            key or "errors.bad_request")
        return render(request, "error.html", status=exc.status_code, message=message,
                      user=_session_user(request))

    _routes(app, ctx)
    return app


# ---------------------------------------------------------------- helpers

def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def flash(request: Request, key: str, kind: str = "ok", **values: Any) -> None:
    request.session["flash"] = {"key": key, "kind": kind, "values": values}


def render(request: Request, template: str, status: int = 200, **data: Any) -> HTMLResponse:
    lang = request.state.lang
    ui = _ctx(request).ui
    t = _t(_ctx(request), lang)
    message = request.session.pop("flash", None)
    if message:
        message = {"kind": message.get("kind"), "text": t(message["key"], **(message.get("values") or {}))}
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    lang_links = {code: request.url.path + "?" + urlencode({**query, "lang": code}) for code in ui.languages}
    html = _ctx(request).env.get_template(template).render(
        lang=lang, t=t, csrf=csrf_token(request), flash=message, here=here, lang_links=lang_links,
        path=request.url.path, **data)
    return HTMLResponse(html, status_code=status)


def _t(ctx: WebContext, lang: str) -> Callable[..., str]:
    """The UI strings of `lang`, category names included (`category:ID`, `flags.category:ID`)."""
    return search_views.with_category_labels(partial(ctx.ui.translate, lang), ctx.config, ctx.store, lang)


def _session_user(request: Request) -> User | None:
    name = request.session.get("user")
    if not name:
        return None
    user = _ctx(request).users.get(name)
    if user is None or user.disabled or request.session.get("stamp") != user.stamp:
        request.session.pop("user", None)
        request.session.pop("stamp", None)
        return None
    return user


def page_user(request: Request) -> User:
    user = _session_user(request)
    if user is None:
        raise LoginRequired(api=False)
    return user


def api_user(request: Request) -> User:
    user = _session_user(request)
    if user is None:
        raise LoginRequired(api=True)
    return user


async def check_csrf(request: Request) -> None:
    """Every POST: the form's (or X-CSRF-Token header's) token must match the session's."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not tokens_match(request.session.get("csrf"), given):
        raise HTTPException(status_code=403, detail="errors.csrf")


def _client_ip(request: Request, options: WebOptions) -> str:
    if options.trust_forwarded_for:
        fwd = request.headers.get("x-forwarded-for")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: never another site (`//host`, `https://...`, backslashes)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _visible_call(ctx: WebContext, user: User, key: str) -> dict[str, Any]:
    """The stored call named by `key` (CallKeys; the stored id works too), or 404 when
    it does not exist, belongs to another team or (for an operator) another operator."""
    result = ctx.store.get(ctx.keys.call_id(key))
    if result is None or not user.can_see_call(result.get("team"), result.get("operator_id")):
        raise HTTPException(status_code=404, detail="errors.not_found")
    return result


def _require(user: User, permission: str) -> None:
    if not user.can(permission):
        raise HTTPException(status_code=403, detail="errors.forbidden")


def _teams_filter(user: User) -> list[str] | None:
    return None if user.sees_all else list(user.teams)


def _home(user: User) -> str:
    return "/library" if user.role == "trainer" else "/queue"  # an operator's /queue: their own calls


def _call_url(ctx: WebContext, call_id: str, anchor: str = "") -> str:
    return f"/calls/{quote(ctx.keys.key(call_id), safe='')}" + (f"#{anchor}" if anchor else "")


def _public_call_id(ctx: WebContext, call_id: Any) -> dict[str, str]:
    """How JSON names a call: the masked id for display and the opaque key for links."""
    cid = str(call_id)
    return {"call_id": mask_call_id(cid, ctx.config), "key": ctx.keys.key(cid),
            "url": _call_url(ctx, cid)}


def _form_analysis(form: Any) -> str | None:
    """The analysis the person was looking at (hidden form field), if the form says."""
    value = str(form.get("analysis_id") or "").strip()
    return value or None


# ---------------------------------------------------------------- routes

def _routes(app: FastAPI, ctx: WebContext) -> None:  # noqa: C901 - one place that lists every route
    post = partial(app.post, dependencies=[Depends(check_csrf)])

    # ---- sign in / out
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        user = _session_user(request)
        if user is not None:
            return RedirectResponse(_safe_next(next, _home(user)), status_code=303)
        return render(request, "login.html", user=None, next=_safe_next(next), error=None, name="")

    @post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or ""), "")
        ip = _client_ip(request, ctx.options)
        wait = ctx.limiter.retry_after(name, ip)
        if wait is not None:
            resp = render(request, "login.html", status=429, user=None, next=target, name=name,
                          error=ctx.ui.translate(request.state.lang, "login.too_many", seconds=wait))
            resp.headers["Retry-After"] = str(wait)
            return resp
        user = ctx.users.authenticate(name, password) if name and password else None
        if user is None:
            ctx.limiter.failed(name, ip)
            return render(request, "login.html", status=401, user=None, next=target, name=name,
                          error=ctx.ui.translate(request.state.lang, "login.failed"))
        ctx.limiter.succeeded(name, ip)
        request.session.clear()
        request.session.update({"user": user.name, "stamp": user.stamp, "csrf": new_csrf_token()})
        return RedirectResponse(target or _home(user), status_code=303)

    @post("/logout")
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/")
    def home(user: User = Depends(page_user)) -> Response:
        return RedirectResponse(_home(user), status_code=303)

    # ---- review queue
    def _my_calls(user: User) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """An operator's own calls and the disputes raised on them."""
        mine = views.visible_disputes(ctx.store, user)
        return views.my_calls(views.visible_results(ctx.store, user, ctx.config), mine, ctx.config), mine

    def _dispute_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**d, **_public_call_id(ctx, d["call_id"])} for d in to_plain(items)]

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request, user: User = Depends(page_user)) -> Response:
        lang = request.state.lang
        if user.role == "operator":  # their own calls and disputes, nobody else's
            rows, mine = _my_calls(user)
            return render(request, "my_calls.html", user=user, rows=rows,
                          disputes=views.dispute_view(mine, ctx.config, lang, _t(ctx, lang)))
        filters, bad = views.QueueFilters.parse(request.query_params)
        queue = views.build_queue(ctx.store, user, filters, ctx.options.queue_limit)
        open_disputes = views.dispute_view(views.visible_disputes(ctx.store, user, status="open"), ctx.config, lang,
                                           _t(ctx, lang))
        return render(request, "queue.html", user=user, queue=queue, filters=filters, bad_dates=bad,
                      open_disputes=open_disputes,
                      filter_query=lambda **kw: "?" + urlencode({k: v for k, v in {**filters.serialize(), **kw}.items()
                                                                 if v}))

    @app.get("/api/queue")
    def queue_api(request: Request, user: User = Depends(api_user)) -> Response:
        if user.role == "operator":
            rows, mine = _my_calls(user)
            return JSONResponse(to_plain({"rows": [{**r, **_public_call_id(ctx, r["call_id"])} for r in rows],
                                          "disputes": _dispute_json(mine)}))
        filters, _ = views.QueueFilters.parse(request.query_params)
        queue = views.build_queue(ctx.store, user, filters, ctx.options.queue_limit)
        data = queue.serialize()
        data["rows"] = [{**row, **_public_call_id(ctx, row["call_id"])} for row in data["rows"]]
        data["disputes"] = _dispute_json(views.visible_disputes(ctx.store, user, status="open"))
        return JSONResponse(views.json_safe(data))

    # ---- disputes
    @app.get("/api/disputes")
    def disputes_api(request: Request, user: User = Depends(api_user)) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in ("open", "accepted", "rejected"):
            raise HTTPException(status_code=400, detail="errors.bad_request")
        return JSONResponse(_dispute_json(views.visible_disputes(ctx.store, user, status=status)))

    @post("/calls/{call_id}/disputes")
    async def dispute_raise(request: Request, call_id: str, user: User = Depends(page_user)) -> Response:
        result = _visible_call(ctx, user, call_id)
        call_id = str(result["call_id"])
        _require(user, "dispute")
        form = await request.form()
        kind, _, target = str(form.get("target") or "").partition(":")
        known = {"score": {c.get("id") for c in result.get("competencies") or []},
                 "flag": {f.get("id") for f in result.get("flags") or []}}
        if target not in known.get(kind, set()):
            raise HTTPException(status_code=400, detail="errors.bad_request")
        if not " ".join(str(form.get("comment") or "").split()):
            flash(request, "errors.dispute_comment", "error")
            return RedirectResponse(_call_url(ctx, call_id, "disputes"), status_code=303)
        try:
            raise_dispute(ctx.store, call_id, kind, target, author=user.name, comment=str(form.get("comment")),
                          analysis_id=_form_analysis(form))
        except DisputeError as e:
            flash(request, "errors.reprocessed" if "reprocessed" in str(e.problem) else "errors.dispute_open", "error")
            return RedirectResponse(_call_url(ctx, call_id, "disputes"), status_code=303)
        flash(request, "messages.dispute_saved")
        return RedirectResponse(_call_url(ctx, call_id, "disputes"), status_code=303)

    @post("/disputes/{dispute_id}/decide")
    async def dispute_decide(request: Request, dispute_id: str, user: User = Depends(page_user)) -> Response:
        found = disputes(ctx.store, dispute_id=dispute_id)
        if not found or not user.can_see_call(found[0].get("team"), found[0].get("operator_id")):
            raise HTTPException(status_code=404, detail="errors.not_found")
        d = found[0]
        _require(user, "dispute_decision")
        form = await request.form()
        back = _safe_next(str(form.get("next") or ""), _call_url(ctx, d["call_id"], "disputes"))
        decision = str(form.get("decision") or "")
        if decision not in ("accepted", "rejected"):
            raise HTTPException(status_code=400, detail="errors.bad_request")
        comment = " ".join(str(form.get("comment") or "").split())
        value = None
        if decision == "rejected" and not comment:
            flash(request, "errors.dispute_reason", "error")
            return RedirectResponse(back, status_code=303)
        if decision == "accepted" and d["kind"] == "score":
            value = views.parse_score(form, ctx.config)
            if isinstance(value, str):
                flash(request, value, "error")
                return RedirectResponse(back, status_code=303)
        try:
            decide_dispute(ctx.store, dispute_id, decision, author=user.name, comment=comment, value=value)
        except DisputeError as e:
            flash(request, "errors.reprocessed" if "reprocessed" in str(e.problem) else "errors.dispute_decided",
                  "error")
            return RedirectResponse(back, status_code=303)
        flash(request, f"messages.dispute_{decision}")
        return RedirectResponse(back, status_code=303)

    # ---- call page
    @app.get("/calls/{call_id}", response_class=HTMLResponse)
    def call_page(request: Request, call_id: str, user: User = Depends(page_user)) -> Response:
        result = _visible_call(ctx, user, call_id)
        call_id = str(result["call_id"])
        lang = request.state.lang
        page = views.build_call_page(result, ctx.config, lang, _t(ctx, lang),
                                      library_items(ctx.store, call_id=call_id))
        levels = [(lv.level, lv.name.get(lang)) for lv in ctx.config.section("competency_map").levels]
        call_disputes = views.dispute_view(disputes(ctx.store, call_ids=[call_id]), ctx.config, lang,
                                           _t(ctx, lang))
        # the user evaluates this call in an open calibration session (opened from it or not):
        # the forms stay hidden (blind) until the session closes
        blind = qa_views.blind_session(ctx.store, user, call_id, request.query_params.get("calibration"))
        return render(request, "call.html", user=user, page=page, call=result, has_audio=audio_path(result) is not None,
                      levels=levels, call_url=_call_url(ctx, call_id), disputes=call_disputes,
                      disputed={(d["kind"], d["target"]) for d in call_disputes if d["status"] == "open"},
                      forms=[] if blind or result.get("status", "ok") != "ok"  # a failed call has no forms
                      else qa_views.call_forms(ctx.store, call_id, ctx.config, lang),
                      can_answer_forms=qa_views.can_answer_forms(user), blind=blind)

    @app.get("/api/calls/{call_id}")
    def call_api(call_id: str, user: User = Depends(api_user)) -> Response:
        result = _visible_call(ctx, user, call_id)
        # No server path, no unredacted dropped ASR text, a phone-number call id masked
        # (configs/privacy.yaml); audio is served by id.
        return JSONResponse(views.json_safe({**public_result(result, ctx.config),
                                             "key": ctx.keys.key(str(result["call_id"]))}))

    @app.get("/calls/{call_id}/audio")
    def call_audio(call_id: str, user: User = Depends(api_user)) -> Response:
        # The file is the one the store recorded for this call id; nothing from the
        # request names a path, so there is nothing to traverse.
        result = _visible_call(ctx, user, call_id)
        path = audio_path(result)
        if path is None:
            raise HTTPException(status_code=404, detail="errors.not_found")
        privacy = ctx.config.section("privacy")
        spans = spans_of(result, privacy.tags.values())
        if privacy.audio != "original" and spans:  # personal-data spans muted/beeped from the word times
            path = redacted_file(path, spans, privacy.audio, ctx.store.path / "redacted_audio")
        media = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=300"},
                            content_disposition_type="inline")

    @post("/calls/{call_id}/override")
    async def override(request: Request, call_id: str, user: User = Depends(page_user)) -> Response:
        result = _visible_call(ctx, user, call_id)
        call_id = str(result["call_id"])
        _require(user, "override")
        form = await request.form()
        known = [c.get("id") for c in result.get("competencies") or []]
        parsed = views.parse_override(form, known, ctx.config)
        if isinstance(parsed, str):
            flash(request, parsed, "error")
            return RedirectResponse(_call_url(ctx, call_id, "overrides"), status_code=303)
        cid, value, comment = parsed
        try:
            ctx.store.add_review(call_id, "score_override", author=user.name, target=cid, value=value, comment=comment,
                                 analysis_id=_form_analysis(form))
        except StoreError:
            if ctx.store.get(call_id, with_reviews=False) is None:
                raise
            flash(request, "errors.reprocessed", "error")  # the analysis changed under the person
            return RedirectResponse(_call_url(ctx, call_id, "overrides"), status_code=303)
        flash(request, "messages.override_saved")
        return RedirectResponse(_call_url(ctx, call_id, "overrides"), status_code=303)

    @post("/calls/{call_id}/flags")
    async def flag_decision(request: Request, call_id: str, user: User = Depends(page_user)) -> Response:
        result = _visible_call(ctx, user, call_id)
        call_id = str(result["call_id"])
        _require(user, "flag_decision")
        form = await request.form()
        flag_id, status = str(form.get("flag") or ""), str(form.get("decision") or "")
        if flag_id not in {f.get("id") for f in result.get("flags") or []} or status not in ("confirmed", "dismissed"):
            raise HTTPException(status_code=400, detail="errors.bad_request")
        try:
            ctx.store.add_review(call_id, "flag", author=user.name, target=flag_id, status=status,
                                 comment=str(form.get("comment") or "").strip() or None,
                                 analysis_id=_form_analysis(form))
        except StoreError:
            if ctx.store.get(call_id, with_reviews=False) is None:
                raise
            flash(request, "errors.reprocessed", "error")
            return RedirectResponse(_call_url(ctx, call_id, "flags"), status_code=303)
        flash(request, "messages.flag_saved")
        return RedirectResponse(_call_url(ctx, call_id, "flags"), status_code=303)

    @post("/calls/{call_id}/review")
    async def review(request: Request, call_id: str, user: User = Depends(page_user)) -> Response:
        call_id = str(_visible_call(ctx, user, call_id)["call_id"])
        _require(user, "review")
        form = await request.form()
        status = str(form.get("status") or "")
        if status not in ("reviewed", "needs_coaching"):
            raise HTTPException(status_code=400, detail="errors.bad_request")
        ctx.store.add_review(call_id, "review", author=user.name, status=status,
                             comment=" ".join(str(form.get("comment") or "").split())[:2000] or None)
        flash(request, "messages.review_saved")
        return RedirectResponse(_call_url(ctx, call_id, "review"), status_code=303)

    # ---- exemplary-call library
    def _library_query(request: Request, user: User) -> tuple[dict[str, str], list[Any]]:
        q = {k: (request.query_params.get(k) or "").strip() for k in ("status", "competency", "scenario", "tag", "q")}
        if q["status"] not in ("pending", "approved", "rejected"):
            # the library itself, or the nominations to decide while it is still empty
            q["status"] = "approved" if library_items(ctx.store, status="approved", teams=_teams_filter(user),
                                                      config=ctx.config) \
                else "pending"
        items = library_items(ctx.store, status=q["status"], competency=q["competency"] or None,
                              scenario=q["scenario"] or None, tag=q["tag"] or None, text=q["q"] or None,
                              teams=_teams_filter(user), config=ctx.config)
        return q, items

    @app.get("/library", response_class=HTMLResponse)
    def library_page(request: Request, user: User = Depends(page_user)) -> Response:
        _require(user, "library")
        q, items = _library_query(request, user)
        everything = library_items(ctx.store, teams=_teams_filter(user), config=ctx.config)
        counts = {s: sum(1 for i in everything if i.status == s) for s in ("pending", "approved", "rejected")}
        cmap = ctx.config.section("competency_map")
        names = {cid: c.name.get(request.state.lang) for cid, c in cmap.competencies.items()}
        return render(request, "library.html", user=user, q=q, items=items, counts=counts, facets=facets(everything),
                      names=names, tab_query=lambda s: "?" + urlencode({**{k: v for k, v in q.items() if v},
                                                                        "status": s}))

    @app.get("/api/library")
    def library_api(request: Request, user: User = Depends(api_user)) -> Response:
        _require(user, "library")
        _, items = _library_query(request, user)
        return JSONResponse(views.json_safe([{**i.serialize(), **_public_call_id(ctx, i.call_id)} for i in items]))

    @post("/library/decide")
    async def library_decide(request: Request, user: User = Depends(page_user)) -> Response:
        _require(user, "library")
        form = await request.form()
        key, competency = str(form.get("call_id") or ""), str(form.get("competency") or "")
        decision = str(form.get("decision") or "")
        call_id = str(_visible_call(ctx, user, key)["call_id"])
        if decision not in DECISIONS:
            raise HTTPException(status_code=400, detail="errors.bad_request")
        try:
            decide(ctx.store, call_id, competency or None, decision, author=user.name,
                   tags=str(form.get("tags") or ""),
                   comment=" ".join(str(form.get("comment") or "").split())[:2000] or None,
                   analysis_id=_form_analysis(form))
        except LibraryError:
            raise HTTPException(status_code=404, detail="errors.not_found") from None
        except StoreError:
            flash(request, "errors.reprocessed", "error")
            return RedirectResponse(_safe_next(str(form.get("next") or ""), "/library?status=pending"),
                                    status_code=303)
        flash(request, "messages.nomination_saved",
              status=ctx.ui.translate(request.state.lang, f"library.status_{decision}"))
        return RedirectResponse(_safe_next(str(form.get("next") or ""), "/library?status=pending"), status_code=303)

    @post("/library/export")
    async def library_export(request: Request, user: User = Depends(page_user)) -> Response:
        _require(user, "export")
        form = await request.form()
        keys = [str(k) for k in form.getlist("item")]
        if not keys:
            flash(request, "library.nothing_selected", "error")
            return RedirectResponse(_safe_next(str(form.get("next") or ""), "/library"), status_code=303)
        chosen = []
        for key in dict.fromkeys(keys):
            # an item is a call key; `key:competency` (older pages) names the call too
            call_id = ctx.keys.call_id(key)
            found = library_items(ctx.store, call_id=call_id, teams=_teams_filter(user)) if key else []
            if not found and ":" in key:
                call_id = ctx.keys.call_id(key.rpartition(":")[0])
                found = library_items(ctx.store, call_id=call_id, teams=_teams_filter(user)) if call_id else []
            if not found:
                raise HTTPException(status_code=404, detail="errors.not_found")
            chosen.extend(f for f in found if f not in chosen)
        buf = io.BytesIO()
        export_zip(ctx.store, chosen, buf, config=ctx.config)
        return Response(buf.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="callqa-library.zip"'})

    # ---- operator scorecard and team dashboard
    @app.get("/operators/{operator_id}", response_class=HTMLResponse)
    def operator_page(request: Request, operator_id: str, period: str = "",
                      user: User = Depends(page_user)) -> Response:
        visible = views.visible_results(ctx.store, user, ctx.config)
        mine = [r for r in visible if r.get("operator_id") == operator_id]
        if not mine:
            raise HTTPException(status_code=404, detail="errors.not_found")
        period = _period_or_400(period) or views.default_period(mine)
        data = views.scorecard_page(visible, operator_id, period, ctx.config, request.state.lang,
                                    views.visible_disputes(ctx.store, user, call_ids=[r["call_id"] for r in mine]))
        forms = qa_views.scorecard_forms(ctx.store, ctx.config, [c.call_id for c in data["card"].calls],
                                         request.state.lang)
        return render(request, "operator.html", user=user, operator_id=operator_id, period=period,
                      periods=views.periods_of(mine), teams=sorted({r.get("team") or "" for r in mine} - {""}),
                      forms=forms, **data)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request, team: str = "", period: str = "", user: User = Depends(page_user)) -> Response:
        _require(user, "team_view")
        visible = views.visible_results(ctx.store, user, ctx.config)
        teams = sorted({r.get("team") for r in visible if r.get("team")})
        if team and team not in teams:
            raise HTTPException(status_code=404, detail="errors.not_found")
        chosen = [r for r in visible if not team or r.get("team") == team]
        period = _period_or_400(period) or views.default_period(chosen)
        data = views.dashboard_page(chosen, period, ctx.config, request.state.lang,
                                    views.visible_disputes(ctx.store, user))
        return render(request, "dashboard.html", user=user, team=team, teams=teams, period=period,
                      periods=views.periods_of(chosen), **data)

    @app.get("/api/me")
    def me(user: User = Depends(api_user)) -> Response:
        return JSONResponse(user.serialize())

    qa_routes(app, ctx, post)  # evaluation forms, calibration sessions, the review sample (issue 14)
    search_routes(app, ctx, post)  # search, trends, categories (issue 13)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": str(exc.problem)}, status_code=503)  # busy or damaged store


def _period_or_400(text: str) -> str | None:
    from callqa.pipeline.people.grades import parse_period

    if not text.strip():
        return None
    try:
        return parse_period(text).key
    except ValueError:
        raise HTTPException(status_code=400, detail="errors.bad_request") from None

