"""The REST channel: Rasa's, with every request checked before the assistant sees it.

Rasa's `RestInput` reads `request.json` and trusts what it finds: an empty body, a
JSON array or a JSON string made it fail with a 500, a body without `sender` went
into one "default" conversation that every such client shared, `input_channel`
let a client label its messages as Messenger's, and any text went to the
classifier, however long or blank. This subclass keeps Rasa's handler (and its
`?stream=true` option) and adds, in a request middleware of the channel's own
blueprint:

- with `REST_TOKEN` set, `Authorization: Bearer <token>` or 401;
- a JSON object with a `sender` (1 to 128 printable characters), a `message` that
  is text and, if any, `metadata` that is an object, or a clear JSON 400;
- the checks of `channels.inbound`: an empty or too long message gets the same
  refusal as on the other channels, as the assistant's reply, and is neither
  processed nor stored; accepted text goes on normalised.

The Rasa server limits the body to `inbound.MAX_REQUEST_BYTES` before any of this
runs (`assistant/rasa_server.py`).
"""

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Tuple

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from assistant import settings
from channels import inbound

logger = logging.getLogger(__name__)

MAX_SENDER_CHARACTERS = 128
EXAMPLE_BODY = '{"sender": "a-conversation-id", "message": "is ketamine safe?"}'


class BadRequest(ValueError):
    """A REST body that cannot carry a visitor's message; the message says why."""


@dataclass(frozen=True)
class RestMessage:
    """A checked REST message: whose conversation, the normalised text, its metadata."""

    sender: str
    text: str
    metadata: Dict[str, Any] | None


class CheckedRestInput(RestInput):
    """Rasa's REST channel (`/webhooks/rest/webhook`) with checked requests and an optional token."""

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "CheckedRestInput":
        """Reads the token from the environment (`REST_TOKEN`); `credentials.yml` holds none."""
        token = settings.rest_token()
        logger.info("The REST channel %s.", "requires a bearer token" if token else "is open (no REST_TOKEN)")
        return cls(token)

    def __init__(self, token: str | None = None) -> None:
        """Keeps the bearer token that requests must carry, if any."""
        self.token = token

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's REST routes, with every POST checked before Rasa's handler reads it."""
        rest_blueprint = super().blueprint(on_new_message)

        # A plain function: Sanic 21.12's Blueprint.middleware takes a bound method
        # for a decorator's argument and silently registers nothing.
        async def check_request(request: Request) -> HTTPResponse | None:
            return await self._check_request(request)

        rest_blueprint.middleware(check_request, "request")
        return rest_blueprint

    async def _check_request(self, request: Request) -> HTTPResponse | None:
        """Answers a request that must not reach the assistant; None lets it through."""
        if request.method != "POST":
            return None
        if self.token and not bearer_token_is_valid(self.token, request.headers.get("Authorization")):
            logger.warning("Refused a REST request without the right bearer token.")
            return response.json(
                {"error": "This REST channel requires 'Authorization: Bearer <REST_TOKEN>'."},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            sender, message, metadata = parse_request(request.body)
        except BadRequest as error:
            logger.debug("Refused a malformed REST request: %s", error)
            return response.json({"error": str(error)}, status=400)
        checked_message = inbound.check_message(message)
        if checked_message.refusal:
            return response.json([{"recipient_id": sender, "text": checked_message.refusal}])
        request.ctx.rest_message = RestMessage(sender, checked_message.text, metadata)
        return None

    async def _extract_sender(self, req: Request) -> str:
        return req.ctx.rest_message.sender

    def _extract_message(self, req: Request) -> str:
        return req.ctx.rest_message.text

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> Dict[str, Any] | None:
        """The checked metadata of the request: an object, or None."""
        return request.ctx.rest_message.metadata


def bearer_token_is_valid(token: str, authorization: str | None) -> bool:
    """Whether an `Authorization` header carries the bearer token, compared in constant time."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def parse_request(body: bytes) -> Tuple[str, str, Dict[str, Any] | None]:
    """The sender, the message as sent and the metadata of a REST request's body.

    Raises:
        BadRequest: the body is not a JSON object with a valid sender, text and metadata.
    """
    fields = parse_body(body)
    sender = parse_sender(fields.get("sender"))
    message = fields.get("message")
    if not isinstance(message, str):
        raise BadRequest(f'"message" must be text (a JSON string), not {_json_kind(message)}.')
    return sender, message, parse_metadata(fields.get("metadata"))


def parse_body(body: bytes) -> Dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        BadRequest: the body is empty, not JSON, or JSON but not an object.
    """
    if not body.strip():
        raise BadRequest(f"The body is empty: send a JSON object such as {EXAMPLE_BODY}.")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
        raise BadRequest(f"The body is not valid JSON ({reason}): send {EXAMPLE_BODY}.") from error
    if not isinstance(parsed, dict):
        raise BadRequest(f"The body must be a JSON object, not {_json_kind(parsed)}: send {EXAMPLE_BODY}.")
    return parsed


def parse_sender(sender: Any) -> str:
    """The conversation id of a REST message.

    Required: without it Rasa would put every such message into one shared
    "default" conversation.

    Raises:
        BadRequest: it is missing, not text, blank, too long or holds invisible characters.
    """
    if sender is None:
        raise BadRequest('"sender" is required: the id of the conversation this message belongs to.')
    if not isinstance(sender, str):
        raise BadRequest(f'"sender" must be a JSON string, not {_json_kind(sender)}.')
    if not sender.strip() or len(sender) > MAX_SENDER_CHARACTERS or not sender.isprintable():
        raise BadRequest(f'"sender" must be 1 to {MAX_SENDER_CHARACTERS} printable characters.')
    return sender


def parse_metadata(metadata: Any) -> Dict[str, Any] | None:
    """The message's metadata, which Rasa stores with it: none, or a JSON object.

    Raises:
        BadRequest: it is something else.
    """
    if metadata is None or isinstance(metadata, dict):
        return metadata
    raise BadRequest(f'"metadata" must be a JSON object, not {_json_kind(metadata)}.')


def _json_kind(value: Any) -> str:
    """How JSON calls the type of a parsed value, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"
