"""Signing in and out.

A wrong password is answered only after a delay that doubles with each failure
from the same address, and after too many failures the address must wait before
any password is looked at (see `review.security.SignInThrottle`).
"""

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from review.security import SessionManager, SignInThrottle, verify_password
from review.web import in_thread, render, see_other

bp = Blueprint("auth")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path of this app, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/conversations"
    return target


def _sign_in_page(request: Request, status: int = 200, problem: str | None = None) -> HTTPResponse:
    if request.ctx.session is None:
        request.ctx.session = request.app.ctx.sessions.new_session()
        request.ctx.set_session = request.ctx.session
    password_set = request.app.ctx.config.password_hash() is not None
    return render(
        request,
        "sign_in.html",
        status=status,
        problem=problem,
        password_set=password_set,
        next=safe_next(request.args.get("next") or request.form.get("next")),
    )


@bp.get("/sign-in")
async def sign_in_form(request: Request) -> HTTPResponse:
    """The sign-in page (the only page open to everyone)."""
    if request.ctx.session and request.ctx.session.signed_in:
        return see_other(safe_next(request.args.get("next")))
    return _sign_in_page(request)


@bp.post("/sign-in")
async def sign_in(request: Request) -> HTTPResponse:
    """Checks the password; on success starts a new signed-in session."""
    throttle: SignInThrottle = request.app.ctx.throttle
    client = request.ip or "unknown"
    wait = throttle.wait_seconds(client)
    if wait > 0:
        response = _sign_in_page(request, 429, f"Too many attempts. Try again in {int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    password = request.form.get("password") or ""
    password_hash = request.app.ctx.config.password_hash()
    if not await in_thread(verify_password, password_hash, password):
        delay = throttle.record_failure(client)
        if delay < throttle.lockout:
            await asyncio.sleep(delay)
            return _sign_in_page(request, 401, "That password is not right.")
        return _sign_in_page(request, 429, "Too many attempts. Sign-in is paused for a while.")
    throttle.record_success(client)
    sessions: SessionManager = request.app.ctx.sessions
    request.ctx.session = request.ctx.set_session = sessions.sign_in()
    return see_other(safe_next(request.form.get("next")))


@bp.post("/sign-out")
async def sign_out(request: Request) -> HTTPResponse:
    """Ends the session on the server and clears the cookie."""
    request.app.ctx.sessions.sign_out(request.ctx.session)
    request.ctx.end_session = True
    return see_other("/sign-in")
