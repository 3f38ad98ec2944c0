"""The data page: exports of one or all conversations, and the retention purge."""

import asyncio
import re
from datetime import datetime
from typing import Any, Iterator

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from assistant import settings
from review import audit
from review.exports import csv_chunks, iter_records, json_chunks
from review.privacy import count_expired, purge_expired
from review.web import error_page, in_thread, refresh, render, see_other

bp = Blueprint("exports")

FORMATS = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


@bp.get("/data")
async def data_page(request: Request) -> HTTPResponse:
    """Exports, and how many conversations the retention period lets go."""
    retention_days = settings.practice_profile().retention_days
    from_broker = request.app.ctx.config.summaries_from_broker
    expired = await in_thread(count_expired, request.app.ctx.engine, retention_days, None, from_broker)
    return render(request, "data.html", retention_days=retention_days, expired=expired)


@bp.get("/data/export")
async def export(request: Request) -> HTTPResponse | None:
    """One conversation (`conversation=`) or all of them, as JSON or CSV, streamed."""
    export_format = request.args.get("format") or "json"
    conversation_id = request.args.get("conversation") or None
    if export_format not in FORMATS:
        return error_page(request, 400, "Exports are JSON or CSV.")
    await refresh(request)
    ids = [conversation_id] if conversation_id else None
    records = iter_records(request.app.ctx.engine, ids, with_review=True)
    chunks = json_chunks(records, single=bool(conversation_id)) if export_format == "json" else csv_chunks(records)
    name = _UNSAFE_FILENAME.sub("_", conversation_id) if conversation_id else f"all_{datetime.now():%Y%m%d}"
    file_name = f"conversation_{name}.{export_format}"
    await audit.record_request(request, audit.EXPORT, conversation_id or audit.ALL_CONVERSATIONS, file_name)
    response = await request.respond(
        content_type=FORMATS[export_format],
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )
    await _stream(response, chunks)
    return None


async def _stream(response: Any, chunks: Iterator[str]) -> None:
    """Sends the export piece by piece; the database is read in a worker thread."""
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            break
        await response.send(chunk)
    await response.eof()


@bp.post("/data/purge")
async def purge(request: Request) -> HTTPResponse:
    """Deletes every conversation whose last message is older than the retention period."""
    retention_days = settings.practice_profile().retention_days
    from_broker = request.app.ctx.config.summaries_from_broker
    report = await in_thread(purge_expired, request.app.ctx.engine, retention_days, None, from_broker)
    await audit.record_request(request, audit.PURGE, audit.purge_target(retention_days), audit.deletion_detail(report))
    return see_other("/conversations", notice="purged", count=str(report.conversations))
