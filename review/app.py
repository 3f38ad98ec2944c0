"""The therapist's review app: `create_app(config)` builds it.

Listeners open the database engine when the server starts and close it when it
stops, keeping it on `app.ctx`. Middleware signs every request in or out before
any view runs: a request carrying a NUL character is refused, pages are refused
to anyone not signed in unless they are listed in `PUBLIC_PATHS`, and every POST
must carry its session's CSRF token. For the signed-in therapist, every page's
navigation then gets the review counts (what waits for her). Views are grouped by resource in
`review/blueprints/`.
"""

import asyncio
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, redirect

from assistant.database import dispose_engine, engine_for
from review.blueprints import (
    alert_links,
    audit_log,
    auth,
    bookings,
    conversations,
    corrections,
    exports,
    insights,
    unanswered,
)
from review.config import ReviewConfig
from review.parameters import carries_nul
from review.proxy import served_over_https
from review.review_state import ReviewCounts, review_counts
from review.security import DEVICE_COOKIE, DeviceCookies, SessionManager, csrf_token_matches
from review.sign_in_throttle import SignInThrottle, ensure_table
from review.summaries import ensure_tables, refresh_summaries
from review.web import error_page, in_thread, refresh, see_other, template_environment

SESSION_COOKIE = "review_session"
MALFORMED_REQUEST = "That address holds a character no page of this app accepts."
# Served over HTTPS, the browser must never fall back to plain HTTP for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
PUBLIC_PATHS = frozenset({"/sign-in", "/health"})
STATIC_PREFIX = "/static/"
STATIC_FOLDER = Path(__file__).parent / "static"
FORGED_FORM = "This form has expired or did not come from this app. Reload the page and try again."
SECURITY_HEADERS = {
    # No script, no inline style, nothing from elsewhere: a visitor's message that
    # slipped past escaping still could not run.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(config: ReviewConfig, name: str = "review") -> Sanic:
    """Builds the review app for one database and one therapist's password."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.ctx.config = config
    app.ctx.sessions = SessionManager(config.secret_key)
    app.ctx.devices = DeviceCookies(config.secret_key)
    app.ctx.templates = template_environment()
    app.static(STATIC_PREFIX.rstrip("/"), str(STATIC_FOLDER), name="static")
    blueprints = (
        auth.bp, conversations.bp, corrections.bp, alert_links.bp, bookings.bp, unanswered.bp, exports.bp,
        audit_log.bp, insights.bp,
    )
    for blueprint in blueprints:
        app.blueprint(blueprint)
    app.add_route(health, "/health", methods=["GET"])
    app.add_route(home, "/", methods=["GET"])
    app.register_listener(open_database, "before_server_start")
    app.register_listener(close_database, "after_server_stop")
    app.register_middleware(refuse_nul, "request")
    app.register_middleware(check_session, "request")
    app.register_middleware(load_review_counts, "request")
    app.register_middleware(finish_response, "response")
    return app


async def open_database(app: Sanic, _loop: Any) -> None:
    """Opens the engine, makes the review app's tables and catches up with the events.

    Where the event broker's consumer keeps the summaries (`make cluster`), it
    catches up instead: following the ids of several writers could skip events.
    """
    app.ctx.engine = engine_for(app.ctx.config.database_url)
    app.ctx.refresh_lock = asyncio.Lock()
    app.ctx.sign_in_lock = asyncio.Lock()
    app.ctx.throttle = SignInThrottle(app.ctx.engine, app.ctx.config.sign_in_policy)
    await asyncio.to_thread(ensure_tables, app.ctx.engine)
    await asyncio.to_thread(ensure_table, app.ctx.engine)
    await asyncio.to_thread(app.ctx.throttle.prune)
    if not app.ctx.config.summaries_from_broker:
        await asyncio.to_thread(refresh_summaries, app.ctx.engine)


async def close_database(app: Sanic, _loop: Any) -> None:
    """Closes the engine's pooled connections."""
    dispose_engine(app.ctx.config.database_url)


async def health(request: Request) -> HTTPResponse:
    """For the launcher: the app answers. Says nothing else."""
    return json({"status": "ok"})


async def home(request: Request) -> HTTPResponse:
    """The conversation list is the home page."""
    return redirect("/conversations", status=303)


def is_public(path: str) -> bool:
    """Pages anyone may open: signing in, the health check and the style sheet."""
    return path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX)


async def refuse_nul(request: Request) -> HTTPResponse | None:
    """Refuses a NUL character anywhere in the request before a view or the database sees it."""
    if carries_nul(request):
        request.ctx.session = None
        return error_page(request, 400, MALFORMED_REQUEST)
    return None


async def check_session(request: Request) -> HTTPResponse | None:
    """Reads the session cookie, refuses strangers and checks every form's CSRF token."""
    sessions: SessionManager = request.app.ctx.sessions
    request.ctx.session = sessions.read(request.cookies.get(SESSION_COOKIE))
    request.ctx.set_session = None
    request.ctx.end_session = False
    if not is_public(request.path) and not (request.ctx.session and request.ctx.session.signed_in):
        next_path = request.path + (f"?{request.query_string}" if request.query_string else "")
        return see_other("/sign-in", next=next_path)
    if request.method == "POST" and not csrf_token_matches(request.ctx.session, request.form.get("csrf_token")):
        return error_page(request, 403, FORGED_FORM)
    return None


async def load_review_counts(request: Request) -> None:
    """The counts every page's navigation shows the therapist, after bringing the summaries up to date."""
    request.ctx.review_counts = None
    if request.method != "GET" or is_public(request.path):
        return
    await refresh(request)
    request.ctx.review_counts = await in_thread(_review_counts, request.app.ctx.engine)


def _review_counts(engine: Any) -> ReviewCounts:
    with engine.connect() as connection:
        return review_counts(connection)


async def finish_response(request: Request, response: HTTPResponse) -> None:
    """Adds the security headers, and sets or clears the session and device cookies."""
    config: ReviewConfig = request.app.ctx.config
    https = served_over_https(request, config.base_url, config.trusted_proxy_header)
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    _set_device_cookie(request, response, https)
    session = getattr(request.ctx, "set_session", None)
    if session is not None:
        sessions: SessionManager = request.app.ctx.sessions
        response.cookies[SESSION_COOKIE] = sessions.cookie_value(session)
        cookie = response.cookies[SESSION_COOKIE]
        cookie["httponly"] = True
        cookie["samesite"] = "Lax"
        cookie["max-age"] = sessions.max_age
        if https:
            cookie["secure"] = True
    elif getattr(request.ctx, "end_session", False):
        del response.cookies[SESSION_COOKIE]


def _set_device_cookie(request: Request, response: HTTPResponse, https: bool) -> None:
    """Marks the browser after a successful sign-in (see `review.security.DeviceCookies`)."""
    value = getattr(request.ctx, "set_device", None)
    if value is None:
        return
    response.cookies[DEVICE_COOKIE] = value
    cookie = response.cookies[DEVICE_COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/sign-in"
    cookie["max-age"] = request.app.ctx.devices.max_age
    if https:
        cookie["secure"] = True
