"""The conversation list, one conversation's transcript, its review state and note, and deleting it.

The list opens on what waits for the therapist ("To review": new conversations
with a crisis, a booking, an unanswered question or an answer given unsure); any
filter, or `view=all`, searches every conversation instead.
"""

from typing import Any, Dict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from assistant.alert_outbox import undeliverable_alerts
from review import audit, queries
from review.constants import REVIEW_STATE_LABELS
from review.corrections import corrections_of
from review.parameters import optional_date, whole_number
from review.privacy import delete_conversation
from review.queries import ConversationFilter, Cursor, InvalidQuery
from review.review_state import NOTE_LIMIT, Review, mark_read, review_of, set_note, set_state
from review.topics import load_topics
from review.transcript import build_transcript
from review.web import error_page, in_thread, path_segment, refresh, render, see_other

bp = Blueprint("conversations")

NOTICES = {
    "deleted": "The conversation and everything stored about it (messages, booking requests) were deleted.",
    "purged": "{count} conversation(s) older than the retention period were deleted with everything stored about them.",
}
TRANSCRIPT_NOTICES = {
    "state": "The review state is saved.",
    "note": "The note is saved.",
    "corrected": "The correction is saved: the next training-data export includes it.",
    "correction_taken_back": "The correction is taken back.",
}
# The list's views: what waits for review (the default), or every conversation.
VIEWS = ("review", "all")
# Any of these without a `view` means every conversation (a filter, or an old page link).
FILTER_PARAMETERS = ("flag", "channel", "from", "to", "q", "state", "before", "after")


def notice_from(request: Request) -> str | None:
    """The message that confirms a deletion or purge (fixed texts, never echoed input)."""
    template = NOTICES.get(request.args.get("notice") or "")
    count = whole_number(request.args.get("count") or "0", "count")
    return template.format(count=count) if template else None


def view_from(request: Request) -> str:
    """`review` unless asked for `view=all` or narrowed by any filter."""
    view = request.args.get("view")
    if view is None:
        return "all" if any(request.args.get(name) for name in FILTER_PARAMETERS) else "review"
    if view not in VIEWS:
        raise InvalidQuery(f"unknown view {view!r}")
    return view


def filter_from(request: Request) -> ConversationFilter:
    """The list's filters from the query string; anything unexpected is refused."""
    return ConversationFilter(
        flag=request.args.get("flag") or None,
        channel=request.args.get("channel") or None,
        date_from=optional_date(request.args.get("from")),
        date_to=optional_date(request.args.get("to")),
        search=request.args.get("q") or None,
        state=request.args.get("state") or None,
        to_review=view_from(request) == "review",
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
    """Conversations newest first: those waiting for review, or all filtered by state, flag, channel, dates and text."""
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
        "state": selection.state or "",
        "view": "review" if selection.to_review else "all",
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
            "review": review_of(connection, conversation_id),
            "corrections": corrections_of(connection, conversation_id),
        }


def conversation_not_found(request: Request) -> HTTPResponse:
    """The page for a conversation id that is not (or no longer) in the database."""
    return error_page(request, 404, "There is no such conversation (it may have been deleted).")


@bp.get("/conversations/<conversation_id:str>", unquote=True)
async def transcript(request: Request, conversation_id: str) -> HTTPResponse:
    """Every message of one conversation with what the assistant understood; opening it makes it read."""
    await refresh(request)
    engine = request.app.ctx.engine
    if await in_thread(_summary, engine, conversation_id) is None:
        return conversation_not_found(request)
    await in_thread(mark_read, engine, conversation_id)
    found = await in_thread(_conversation, engine, conversation_id)
    if found is None:
        return conversation_not_found(request)
    await audit.record_request(request, audit.TRANSCRIPT_VIEW, conversation_id)
    return _transcript_page(request, conversation_id, found)


def _transcript_page(
    request: Request, conversation_id: str, found: Dict[str, Any], status: int = 200, problem: str | None = None
) -> HTTPResponse:
    return render(
        request,
        "transcript.html",
        status=status,
        conversation_id=conversation_id,
        notice=TRANSCRIPT_NOTICES.get(request.args.get("notice") or ""),
        problem=problem,
        note_limit=NOTE_LIMIT,
        topics=load_topics(request.app.ctx.config.domain_files),
        **found,
    )


@bp.post("/conversations/<conversation_id:str>/state", unquote=True)
async def change_state(request: Request, conversation_id: str) -> HTTPResponse:
    """Moves the conversation to another review state (new, read, needs follow-up, done)."""
    engine = request.app.ctx.engine
    state = request.form.get("state") or ""
    if state not in REVIEW_STATE_LABELS:
        return error_page(request, 400, "That review state does not exist.")
    await refresh(request)
    if await in_thread(_summary, engine, conversation_id) is None:
        return conversation_not_found(request)
    before = await in_thread(set_state, engine, conversation_id, state)
    await audit.record_request(request, audit.STATE_CHANGE, conversation_id, f"{before} -> {state}")
    return see_other(f"/conversations/{path_segment(conversation_id)}", notice="state")


@bp.post("/conversations/<conversation_id:str>/note", unquote=True)
async def edit_note(request: Request, conversation_id: str) -> HTTPResponse:
    """Saves the therapist's private note on the conversation (an empty note clears it)."""
    engine = request.app.ctx.engine
    await refresh(request)
    if await in_thread(_summary, engine, conversation_id) is None:
        return conversation_not_found(request)
    note = request.form.get("note") or ""
    try:
        await in_thread(set_note, engine, conversation_id, note)
    except InvalidQuery as problem:
        # Shown again with what she typed, so nothing of it is lost.
        found = await in_thread(_conversation, engine, conversation_id)
        if found is None:
            return conversation_not_found(request)
        found["review"] = Review(found["review"].state, note)
        return _transcript_page(request, conversation_id, found, 400, f"The note was not saved: {problem}.")
    # What the note says stays out of the log; only that it changed.
    await audit.record_request(request, audit.NOTE_EDIT, conversation_id, "saved" if note.strip() else "cleared")
    return see_other(f"/conversations/{path_segment(conversation_id)}", notice="note")


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
    await audit.record_request(request, audit.DELETION, conversation_id, audit.deletion_detail(report))
    return see_other("/conversations", notice="deleted")
