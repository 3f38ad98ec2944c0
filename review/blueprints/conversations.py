"""The conversation list, one conversation's transcript, and deleting it."""

from typing import Any, Dict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from assistant.alert_outbox import undeliverable_alerts
from review import queries
from review.parameters import optional_date, whole_number
from review.privacy import delete_conversation
from review.queries import ConversationFilter, Cursor, InvalidQuery
from review.transcript import build_transcript
from review.web import error_page, in_thread, refresh, render, see_other

bp = Blueprint("conversations")

NOTICES = {
    "deleted": "The conversation and everything stored about it (messages, booking requests) were deleted.",
    "purged": "{count} conversation(s) older than the retention period were deleted with everything stored about them.",
}


def notice_from(request: Request) -> str | None:
    """The message that confirms a deletion or purge (fixed texts, never echoed input)."""
    template = NOTICES.get(request.args.get("notice") or "")
    count = whole_number(request.args.get("count") or "0", "count")
    return template.format(count=count) if template else None


def filter_from(request: Request) -> ConversationFilter:
    """The list's filters from the query string; anything unexpected is refused."""
    return ConversationFilter(
        flag=request.args.get("flag") or None,
        channel=request.args.get("channel") or None,
        date_from=optional_date(request.args.get("from")),
        date_to=optional_date(request.args.get("to")),
        search=request.args.get("q") or None,
    )


def _list(engine: Any, selection: ConversationFilter, before: Cursor | None, after: Cursor | None) -> Dict[str, Any]:
    with engine.connect() as connection:
        found = {
            "page": queries.list_conversations(connection, selection, before=before, after=after),
            "total": queries.count_conversations(connection, selection),
            "channels": queries.channels(connection),
        }
    # Alerts that keep failing are shown here, on the home page, so none goes unnoticed.
    return {**found, "undeliverable_alerts": undeliverable_alerts(engine)}


@bp.get("/conversations")
async def conversation_list(request: Request) -> HTTPResponse:
    """Conversations newest first, filtered by flag, channel, dates and text."""
    try:
        selection = filter_from(request)
        before = Cursor.decode(request.args["before"][0]) if "before" in request.args else None
        after = Cursor.decode(request.args["after"][0]) if "after" in request.args else None
        notice = notice_from(request)
    except InvalidQuery as problem:
        return error_page(request, 400, f"That filter cannot be used: {problem}.")
    await refresh(request)
    found = await in_thread(_list, request.app.ctx.engine, selection, before, after)
    filters = {
        "flag": selection.flag or "",
        "channel": selection.channel or "",
        "from": request.args.get("from") or "",
        "to": request.args.get("to") or "",
        "q": selection.search or "",
    }
    return render(
        request,
        "conversations.html",
        filters=filters,
        link_filters={key: value for key, value in filters.items() if value},
        notice=notice,
        **found,
    )


def _conversation(engine: Any, conversation_id: str) -> Dict[str, Any] | None:
    with engine.connect() as connection:
        summary = queries.conversation_summary(connection, conversation_id)
        if summary is None:
            return None
        return {
            "summary": summary,
            "entries": build_transcript(queries.conversation_events(connection, conversation_id)),
            "booking_requests": queries.booking_requests_of(connection, [conversation_id])[conversation_id],
        }


def conversation_not_found(request: Request) -> HTTPResponse:
    """The page for a conversation id that is not (or no longer) in the database."""
    return error_page(request, 404, "There is no such conversation (it may have been deleted).")


@bp.get("/conversations/<conversation_id:str>", unquote=True)
async def transcript(request: Request, conversation_id: str) -> HTTPResponse:
    """Every message of one conversation with what the assistant understood."""
    await refresh(request)
    found = await in_thread(_conversation, request.app.ctx.engine, conversation_id)
    if found is None:
        return conversation_not_found(request)
    return render(request, "transcript.html", conversation_id=conversation_id, **found)


@bp.get("/conversations/<conversation_id:str>/delete", unquote=True)
async def confirm_delete(request: Request, conversation_id: str) -> HTTPResponse:
    """Asks before deleting: a deletion cannot be undone."""
    await refresh(request)
    summary = await in_thread(_summary, request.app.ctx.engine, conversation_id)
    if summary is None:
        return conversation_not_found(request)
    return render(request, "confirm_delete.html", conversation_id=conversation_id, summary=summary)


def _summary(engine: Any, conversation_id: str) -> Dict[str, Any] | None:
    with engine.connect() as connection:
        return queries.conversation_summary(connection, conversation_id)


@bp.post("/conversations/<conversation_id:str>/delete", unquote=True)
async def delete(request: Request, conversation_id: str) -> HTTPResponse:
    """Deletes the conversation with its events, booking requests and review notes."""
    report = await in_thread(delete_conversation, request.app.ctx.engine, conversation_id)
    if report.conversations == 0 and report.events == 0:
        return conversation_not_found(request)
    return see_other("/conversations", notice="deleted")
