""""Wrong answer" on a transcript: the therapist gives a visitor message its right topic.

A plain form (no script): the message's event id and a topic chosen by its
title. Each correction and each taking back is written to the audit log, with
the topics' labels and never the message's text.
"""

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from review import audit
from review.blueprints.conversations import conversation_not_found
from review.corrections import Correction, correct_answer, take_back
from review.parameters import MAX_ID, whole_number
from review.queries import InvalidQuery
from review.topics import load_topics
from review.web import error_page, in_thread, path_segment, see_other

bp = Blueprint("corrections")


def _correct(engine: Any, conversation_id: str, event_id: int, topic: str) -> Correction | None:
    with engine.begin() as connection:
        return correct_answer(connection, conversation_id, event_id, topic)


def _take_back(engine: Any, conversation_id: str, event_id: int) -> bool:
    with engine.begin() as connection:
        return take_back(connection, conversation_id, event_id)


def _event_id(request: Request) -> int:
    return whole_number(request.form.get("event_id") or "", "message", minimum=1, maximum=MAX_ID)


@bp.post("/conversations/<conversation_id:str>/corrections", unquote=True)
async def correct(request: Request, conversation_id: str) -> HTTPResponse:
    """Stores the topic a visitor message should have been answered with."""
    topic = (request.form.get("topic") or "").strip()
    if not load_topics(request.app.ctx.config.domain_files).offered(topic):
        return error_page(request, 400, "Choose one of the assistant's topics, or “a new question”.")
    try:
        event_id = _event_id(request)
    except InvalidQuery:
        return error_page(request, 400, "That form names no message of this conversation.")
    correction = await in_thread(_correct, request.app.ctx.engine, conversation_id, event_id, topic)
    if correction is None:
        return conversation_not_found(request)
    detail = f"message {event_id}: {correction.answered_with or '-'} -> {topic}"
    await audit.record_request(request, audit.CORRECTION, conversation_id, detail)
    return see_other(f"/conversations/{path_segment(conversation_id)}", notice="corrected")


@bp.post("/conversations/<conversation_id:str>/corrections/delete", unquote=True)
async def take_back_correction(request: Request, conversation_id: str) -> HTTPResponse:
    """Takes a correction back: the message keeps the answer it was given."""
    try:
        event_id = _event_id(request)
    except InvalidQuery:
        return error_page(request, 400, "That form names no message of this conversation.")
    if not await in_thread(_take_back, request.app.ctx.engine, conversation_id, event_id):
        return error_page(request, 404, "That message has no correction to take back.")
    await audit.record_request(request, audit.CORRECTION, conversation_id, f"message {event_id}: taken back")
    return see_other(f"/conversations/{path_segment(conversation_id)}", notice="correction_taken_back")
