"""Signing in and out.

Every attempt is recorded before its password is looked at, and the app checks one
password at a time; a wrong password is answered only after a delay that doubles
with each failure from the same address, and after too many failures (from one
address, or from everyone) no password is looked at for a while (see
`review.sign_in_throttle`). Every outcome, refused ones included, goes to the
audit log (`review.audit`).
"""

import asyncio
from functools import partial

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from review import audit
from review.proxy import client_address
from review.security import DEVICE_COOKIE, SessionManager, verify_password
from review.sign_in_throttle import Attempt, Failure, SignInThrottle
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


def _refused(request: Request, attempt: Attempt) -> HTTPResponse:
    """The answer to an attempt whose password was not looked at."""
    seconds = int(attempt.wait) + 1
    response = _sign_in_page(request, 429, f"Too many attempts. Try again in {seconds} seconds.")
    response.headers["Retry-After"] = str(seconds)
    return response


async def _check(request: Request, client: str, device: str | None) -> tuple[Attempt, Failure | None]:
    """Records the attempt, then checks its password unless the throttle refuses it.

    Attempts queue behind one lock, so each sees every earlier result: a flood of
    guesses is checked one by one, and stops being checked when the limit is reached.

    Returns:
        The attempt, and what a wrong password earned (None when it was right or unchecked).
    """
    throttle: SignInThrottle = request.app.ctx.throttle
    check = partial(verify_password, request.app.ctx.config.password_hash(), request.form.get("password") or "")
    async with request.app.ctx.sign_in_lock:
        attempt, failure = await in_thread(throttle.attempt, client, device, check)
    if failure is not None:
        await asyncio.sleep(failure.delay)
    return attempt, failure


@bp.post("/sign-in")
async def sign_in(request: Request) -> HTTPResponse:
    """Checks the password; on success starts a new signed-in session and marks the browser."""
    config = request.app.ctx.config
    client = client_address(request, config.trusted_proxy_header)
    device = request.app.ctx.devices.read(request.cookies.get(DEVICE_COOKIE))
    attempt, failure = await _check(request, client, device)
    if not attempt.allowed:
        await _record(request, client, audit.SIGN_IN_FAILED, "refused: too many attempts")
        return _refused(request, attempt)
    if failure is not None and failure.locked:
        await _record(request, client, audit.SIGN_IN_FAILED, "wrong password; sign-in paused")
        return _sign_in_page(request, 429, "Too many attempts. Sign-in is paused for a while.")
    if failure is not None:
        await _record(request, client, audit.SIGN_IN_FAILED, "wrong password")
        return _sign_in_page(request, 401, "That password is not right.")
    await _record(request, client, audit.SIGN_IN, "known browser" if device else "new browser", audit.THERAPIST)
    sessions: SessionManager = request.app.ctx.sessions
    request.ctx.session = request.ctx.set_session = sessions.sign_in()
    _, request.ctx.set_device = request.app.ctx.devices.issue(device)
    return see_other(safe_next(request.form.get("next")))


async def _record(request: Request, client: str, action: str, detail: str, actor: str = audit.NOBODY) -> None:
    await in_thread(audit.record, request.app.ctx.engine, action, "", client, detail, actor)


@bp.post("/sign-out")
async def sign_out(request: Request) -> HTTPResponse:
    """Ends the session on the server and clears the cookie."""
    await audit.record_request(request, audit.SIGN_OUT)
    request.app.ctx.sessions.sign_out(request.ctx.session)
    request.ctx.end_session = True
    return see_other("/sign-in")
