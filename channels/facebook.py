"""The Facebook Messenger channel: Rasa's connector, with signed webhooks and Messenger's limits.

Rasa's built-in `FacebookInput` checks only the old SHA-1 signature header, compares
it with `==` and answers 200 to a request it refuses; it also stops at the first
event of a batch, forwards the page's own echoes and attachment links to the
assistant as if a visitor had typed them, and lets Messenger refuse responses that
are over its limits. These subclasses change exactly that and keep the rest:
the parsing of text, quick replies and postbacks, sender actions, and the output
methods that Rasa calls for each kind of response.

The channel is configured from the environment (`assistant.settings`), never from
`credentials.yml`; with the variables unset it stays off and says so at start.
"""

import asyncio
import hashlib
import hmac
import json
import logging
from functools import partial
from typing import Any, Awaitable, Callable, Dict, Iterator, List

import requests
from fbmessenger import MessengerClient
from fbmessenger.sender_actions import SenderAction
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.facebook import FacebookInput, Messenger, MessengerBot
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from assistant import settings
from channels import inbound, messenger_background, messenger_limits

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SEND_TIMEOUT_SECONDS = 10
CHANNEL_OFF_MESSAGE = (
    "The Facebook Messenger channel is off: set "
    + ", ".join(settings.FACEBOOK_ENV_VARS)
    + " to turn it on (README: Connecting a Facebook Page)."
)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
VISITOR_EVENT_KINDS = frozenset({"text", "quick_reply", "postback", "attachment"})


class FittedMessengerBot(MessengerBot):
    """Sends the assistant's responses so that Messenger accepts every one of them.

    Each response is reshaped by `channels.messenger_limits`. Requests to the Graph
    API run in a worker thread (the client library is synchronous and would stop
    the server while Meta answers) and a refusal by Meta is logged, never ignored.
    """

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Sends text, split at sentence boundaries when it is too long."""
        await self._send_all(recipient_id, messenger_limits.fit_text(text))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Sends a button template, or quick replies when a template cannot hold them."""
        await self._send_all(recipient_id, messenger_limits.fit_text_with_buttons(text, buttons))

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Sends at most 13 quick replies; further options are written into the text."""
        await self._send_all(
            recipient_id, messenger_limits.fit_text_with_quick_replies(text, quick_replies)
        )

    async def send_elements(self, recipient_id: str, elements: Any, **kwargs: Any) -> None:
        """Sends generic templates of at most 10 elements with at most 3 buttons each."""
        await self._send_all(recipient_id, messenger_limits.fit_elements(list(elements)))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """Sends an image by its address."""
        await self._send_all(
            recipient_id, [{"attachment": {"type": "image", "payload": {"url": image}}}]
        )

    async def send_action(self, recipient_id: str, sender_action: str) -> None:
        """Sends a sender action ("mark_seen", "typing_on", "typing_off")."""
        await self._call_graph_api(
            f"the sender action {sender_action}",
            self.messenger_client.send_action,
            SenderAction(sender_action).to_dict(),
            recipient_id,
        )

    async def _send_all(self, recipient_id: str, messages: List[Dict[str, Any]]) -> None:
        for message in messages:
            await self._call_graph_api(
                _kind_of(message),
                self.messenger_client.send,
                message,
                recipient_id,
                "RESPONSE",
            )

    async def _call_graph_api(self, what: str, method: Callable[..., Any], *args: Any) -> None:
        try:
            answer = await asyncio.to_thread(method, *args, timeout=SEND_TIMEOUT_SECONDS)
        except (requests.RequestException, ValueError) as error:
            logger.error("Could not send %s to Messenger (%s): %s", what, type(error).__name__, error)
            return
        if isinstance(answer, dict) and answer.get("error"):
            logger.error("Messenger refused %s: %s", what, answer["error"])


def _kind_of(message: Dict[str, Any]) -> str:
    """What a message is, for the log, which never holds what a visitor wrote or was told."""
    attachment = message.get("attachment") or {}
    if attachment.get("type") == "template":
        return f"a {attachment['payload'].get('template_type', '')} template"
    if attachment:
        return f"an {attachment.get('type')} attachment"
    return f"a text message with {len(message.get('quick_replies') or [])} quick replies"


class VisitorMessenger(Messenger):
    """Handles every event of a webhook call, and only the visitors' own messages.

    Meta batches events, so each one is handled (the built-in handler stops at the
    first). The page's echoes of its own messages, reads, deliveries and reactions
    are not visitor messages and are skipped; an attachment gets a reply asking for
    text instead of its address being read as if typed; text is checked by
    `channels.inbound` before the assistant sees it.
    """

    def __init__(self, client: MessengerClient, on_new_message: OnNewMessage) -> None:
        super().__init__(client.page_access_token, on_new_message)
        self.client = client

    async def handle(self, payload: Dict, metadata: Dict[str, Any] | None) -> None:
        """Handles each messaging event of the webhook body in order."""
        for event in messaging_events(payload):
            await self.handle_event(event, metadata)

    async def handle_event(self, event: Dict[str, Any], metadata: Dict[str, Any] | None) -> None:
        """Answers one messaging event, according to its kind."""
        self.last_message = event
        kind = event_kind(event)
        if kind in ("text", "quick_reply"):
            await self.message(event, metadata)
        elif kind == "postback":
            await self.postback(event, metadata)
        elif kind == "attachment":
            await FittedMessengerBot(self.client).send_text_message(
                self.get_user_id(), inbound.NOT_TEXT_REPLY
            )
        else:
            logger.debug("Skipped a Messenger event that is not a visitor message: %s", kind)

    async def _handle_user_message(
        self, text: str, sender_id: str, metadata: Dict[str, Any] | None
    ) -> None:
        """Passes the visitor's text to the assistant, or refuses it with a clear reply."""
        out_channel = FittedMessengerBot(self.client)
        checked_message = inbound.check_message(text)
        if checked_message.refusal:
            await out_channel.send_text_message(sender_id, checked_message.refusal)
            return
        await out_channel.send_action(sender_id, sender_action="mark_seen")
        user_message = UserMessage(
            checked_message.text, out_channel, sender_id, input_channel=self.name(), metadata=metadata
        )
        await out_channel.send_action(sender_id, sender_action="typing_on")
        try:
            await self.on_new_message(user_message)
        except Exception:
            logger.exception("The assistant failed on a Messenger message.")
        finally:
            await out_channel.send_action(sender_id, sender_action="typing_off")


def messaging_events(payload: Any) -> Iterator[Dict[str, Any]]:
    """The messaging events of a Page webhook body; anything else in it is skipped."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        return
    for entry in payload.get("entry") or []:
        if isinstance(entry, dict):
            for event in entry.get("messaging") or []:
                if isinstance(event, dict):
                    yield event


def event_kind(event: Dict[str, Any]) -> str:
    """What a messaging event is, so that only visitors' own messages are answered.

    Returns:
        "text", "quick_reply", "postback", "attachment", "echo" (the page's own
        message), or "other" (reads, deliveries, reactions, anything unknown).
    """
    sender = event.get("sender")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), str) or not sender["id"]:
        return "other"
    message, postback = event.get("message"), event.get("postback")
    if isinstance(message, dict):
        if message.get("is_echo"):
            return "echo"
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict) and isinstance(quick_reply.get("payload"), str):
            return "quick_reply"
        if isinstance(message.get("text"), str):
            return "text"
        if message.get("attachments"):
            return "attachment"
    if isinstance(postback, dict) and isinstance(postback.get("payload"), str):
        return "postback"
    return "other"


def signature_is_valid(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body with the app secret.

    Compared in constant time, so that the answer time tells an attacker nothing
    about how much of a forged signature was right.
    """
    if not app_secret or not header:
        return False
    method, _, given = header.strip().partition("=")
    if method.lower() != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8", "replace"))


class SecureFacebookInput(FacebookInput):
    """Rasa's Facebook connector with authenticated webhooks, configured from the environment.

    - `GET /webhooks/facebook/webhook` answers Meta's verification with the
      challenge for the right verify token and 403 for any other.
    - `POST /webhooks/facebook/webhook` answers 403 and does nothing unless the
      body carries a valid `X-Hub-Signature-256`, 400 for a body that is not JSON,
      and otherwise 200 at once: the events are handled in the background, each
      message id once.
    - With the credentials unset, every route answers 503.
    """

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "SecureFacebookInput":
        """Reads the credentials from the environment; `credentials.yml` holds none."""
        facebook = settings.facebook_credentials()
        graph_api_url = settings.graph_api_base_url()
        if facebook is None:
            logger.warning(CHANNEL_OFF_MESSAGE)
            return cls(None, None, None, graph_api_url=graph_api_url)
        logger.info("The Facebook Messenger channel is on (Graph API: %s).", graph_api_url)
        return cls(
            facebook.verify_token,
            facebook.app_secret,
            facebook.page_access_token,
            graph_api_url=graph_api_url,
        )

    def __init__(
        self,
        fb_verify: str | None,
        fb_secret: str | None,
        fb_access_token: str | None,
        graph_api_url: str = settings.DEFAULT_GRAPH_API_URL,
    ) -> None:
        """Keeps the credentials and where the Graph API is."""
        super().__init__(fb_verify, fb_secret, fb_access_token)
        self.graph_api_url = graph_api_url
        self._client: MessengerClient | None = None
        self.visitor_queues = messenger_background.VisitorQueues()

    @property
    def is_on(self) -> bool:
        """Whether all three credentials are there."""
        return bool(self.fb_verify and self.fb_secret and self.fb_access_token)

    def messenger_client(self) -> MessengerClient:
        """The Graph API client, made once and kept for its connection pool.

        It sends `appsecret_proof` with every call, so that a leaked page token is
        no use without the app secret (the app's "Require App Secret" setting).
        """
        if self._client is None:
            self._client = MessengerClient(self.fb_access_token, app_secret=self.fb_secret)
            self._client.graph_url = self.graph_api_url
        return self._client

    @staticmethod
    def validate_hub_signature(
        app_secret: str, request_payload: bytes, hub_signature_header: str
    ) -> bool:
        """Checks an `X-Hub-Signature-256` value (the built-in checked only SHA-1)."""
        return signature_is_valid(app_secret, request_payload, hub_signature_header)

    def get_output_channel(self) -> OutputChannel | None:
        """The output for messages the assistant starts itself; None while off."""
        return FittedMessengerBot(self.messenger_client()) if self.is_on else None

    def _queue_visitor_events(
        self, payload: Any, metadata: Dict[str, Any] | None, on_new_message: OnNewMessage
    ) -> None:
        """Queues the visitors' events for handling after the webhook has answered.

        Meta retries a webhook that is slow to answer, so nothing here waits: each
        visitor's events are handled in order in the background, and an event whose
        message id was seen before is dropped (`channels.messenger_background`).
        Echoes, reads, deliveries and unknown kinds are skipped right away.
        """

        def handle(event: Dict[str, Any]) -> Awaitable[None]:
            messenger = VisitorMessenger(self.messenger_client(), on_new_message)
            return messenger.handle_event(event, metadata)

        for event in messaging_events(payload):
            if event_kind(event) in VISITOR_EVENT_KINDS:
                job = partial(messenger_background.handle_once, event, handle)
                self.visitor_queues.accept(messenger_background.sender_id(event), job)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The webhook routes under `/webhooks/facebook/`."""
        webhook = Blueprint("facebook_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.is_on:
                return _channel_off()
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.is_on:
                return _channel_off()
            token = request.args.get("hub.verify_token") or ""
            if request.args.get("hub.mode") == "subscribe" and hmac.compare_digest(
                token.encode("utf-8", "replace"), str(self.fb_verify).encode("utf-8")
            ):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("Refused a Messenger webhook verification with a wrong verify token.")
            return response.text("invalid verify token", status=403)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.is_on:
                return _channel_off()
            if not self.validate_hub_signature(
                str(self.fb_secret), request.body, request.headers.get(SIGNATURE_HEADER) or ""
            ):
                logger.warning("Refused a Messenger webhook call without a valid %s.", SIGNATURE_HEADER)
                return response.text("invalid signature", status=403)
            try:
                payload = json.loads(request.body)
            except ValueError:
                return response.text("the body is not JSON", status=400)
            self._queue_visitor_events(payload, self.get_metadata(request), on_new_message)
            return response.text("success")

        return webhook


def _channel_off() -> HTTPResponse:
    return response.json({"status": "off", "reason": CHANNEL_OFF_MESSAGE}, status=503)
