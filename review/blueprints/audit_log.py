"""The audit log's page and its CSV export, for the signed-in therapist only.

Like every page but sign-in, both are refused to anyone not signed in
(`review.app.check_session`). Exporting the log is itself recorded.
"""

import asyncio
from datetime import datetime
from typing import Any, Dict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from review import audit
from review.parameters import optional_id
from review.queries import InvalidQuery
from review.web import error_page, in_thread, render

bp = Blueprint("audit_log")


def _page(engine: Any, older_than: int | None) -> Dict[str, Any]:
    with engine.connect() as connection:
        return {"page": audit.audit_page(connection, older_than), "total": audit.count_entries(connection)}


@bp.get("/audit")
async def audit_page(request: Request) -> HTTPResponse:
    """Who did what and when, newest first, a page at a time."""
    try:
        older_than = optional_id(request.args.get("older"), "older")
    except InvalidQuery as problem:
        return error_page(request, 400, f"That page of the audit log cannot be shown: {problem}.")
    found = await in_thread(_page, request.app.ctx.engine, older_than)
    return render(request, "audit.html", first_page=older_than is None, labels=audit.ACTION_LABELS, **found)


@bp.get("/audit.csv")
async def audit_csv(request: Request) -> None:
    """The whole log as CSV, streamed."""
    name = f"audit_log_{datetime.now():%Y%m%d}.csv"
    await audit.record_request(request, audit.EXPORT, name)
    chunks = audit.csv_chunks(request.app.ctx.engine)
    response = await request.respond(
        content_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            break
        await response.send(chunk)
    await response.eof()
