"""What every blueprint of the review app uses: templates, the database, redirects.

SQLAlchemy's engine is synchronous, so database work runs in a worker thread and
the server keeps answering while it waits.
"""

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Request
from sanic.response import HTTPResponse, html, redirect

from review.constants import FLAG_LABELS, FLAGS, REVIEW_STATE_LABELS
from review.summaries import refresh_summaries

TEMPLATES = Path(__file__).parent / "templates"
T = TypeVar("T")


def template_environment() -> Environment:
    """Jinja2 with autoescaping on: every visitor's text is shown as text, never as HTML."""
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = local_time
    environment.filters["segment"] = path_segment
    environment.globals.update(
        FLAGS=FLAGS, FLAG_LABELS=FLAG_LABELS, REVIEW_STATE_LABELS=REVIEW_STATE_LABELS, query=urlencode
    )
    return environment


def path_segment(value: str) -> str:
    """A conversation id quoted for one URL path segment (a "/" in it included)."""
    return quote(str(value), safe="")


def local_time(value: float | datetime | None, with_seconds: bool = False) -> str:
    """A stored time (epoch seconds, or a UTC datetime) in the server's time zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTTPResponse:
    """A page, with the session's CSRF token for its forms."""
    session = request.ctx.session
    page = request.app.ctx.templates.get_template(template).render(
        csrf_token=session.csrf_token if session else "",
        signed_in=bool(session and session.signed_in),
        path=request.path,
        review_counts=getattr(request.ctx, "review_counts", None),
        **context,
    )
    return html(page, status=status)


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Runs blocking database work in a worker thread."""
    return await asyncio.to_thread(function, *args)


async def refresh(request: Request) -> None:
    """Brings the conversation summaries up to date with the tracker store.

    One refresh at a time per app: concurrent requests wait for it rather than
    queueing duplicate work on the database lock. Where the event broker's
    consumer keeps the summaries (`ReviewConfig.summaries_from_broker`), a page
    shows what it has written and follows no ids.
    """
    if request.app.ctx.config.summaries_from_broker:
        return
    async with request.app.ctx.refresh_lock:
        await in_thread(refresh_summaries, request.app.ctx.engine)


def see_other(path: str, **params: str) -> HTTPResponse:
    """A 303 redirect after a form, so reloading the page does not post it again."""
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return redirect(f"{path}?{query}" if query else path, status=303)


def error_page(request: Request, status: int, message: str) -> HTTPResponse:
    """A plain error page in the app's layout."""
    return render(request, "error.html", status=status, message=message)
