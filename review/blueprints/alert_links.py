"""The conversation an alert email links to, by its opaque reference.

Alert emails name no conversation id (`assistant.conversation_references`): the
link carries a reference only the assistant's key opens. Like every page but the
sign-in, it asks a stranger to sign in first, then comes back here.
"""

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from assistant.conversation_references import ConversationReferences
from review.blueprints.conversations import conversation_not_found, transcript

bp = Blueprint("alert_links")


@bp.get("/alerts/<reference:str>")
async def alerted_conversation(request: Request, reference: str) -> HTTPResponse:
    """The transcript of the conversation an alert was about; 404 for a reference not ours."""
    conversation_id = ConversationReferences.from_secret().conversation_of(reference)
    if conversation_id is None:
        return conversation_not_found(request)
    return await transcript(request, conversation_id)
