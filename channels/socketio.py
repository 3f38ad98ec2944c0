"""The website chat channel: Rasa's socket.io connector, open only to the practice's pages.

Rasa's `SocketIOInput` builds its `AsyncServer` with `cors_allowed_origins=[]`,
which switches the origin check off: any website could open the socket and talk
to the assistant in a visitor's browser. This subclass sets the allowed origins
from `assistant.settings` on the server that Rasa built, so that a browser request
from any other page is refused (400, "not an accepted origin"); it answers
`session_request` itself, because Rasa's handler never joins the session's room
with python-socketio 5 and lets the client choose its id: here the server issues
every conversation id with a signed token (`channels.session_tokens`), and only
that token, never a bare id, resumes a conversation. It checks each visitor
message before the assistant sees it: it must carry its session's token, from a
socket in that session, and pass `channels.inbound`. The rest (the message
handler, the output channel) is Rasa's.
"""

import json
import logging
from typing import Any, Awaitable, Callable, Dict, Tuple

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from assistant import settings
from channels import inbound
from channels.session_tokens import SessionTokens

logger = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


class OriginCheckedSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with allowed origins and checked visitor messages."""

    allowed_origins: Tuple[str, ...] = ()
    session_tokens: SessionTokens | None = None

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "OriginCheckedSocketIOInput":
        """Reads the event names from `credentials.yml` and the origins from the environment."""
        channel = super().from_credentials(credentials)
        channel.allowed_origins = settings.allowed_origins()
        channel.session_tokens = SessionTokens.from_secret()
        logger.info("The website chat accepts pages from: %s", ", ".join(channel.allowed_origins))
        return channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's blueprint, with the origin check on and the handlers wrapped."""
        socket_blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None, "SocketIOInput.blueprint builds the server"
        # An empty list switches engine.io's check off; a tuple would not be recognised.
        sio.eio.cors_allowed_origins = list(self.allowed_origins)
        handlers = sio.handlers[self.namespace or "/"]
        sio.on("session_request", handler=self._session_request, namespace=self.namespace)
        sio.on(
            self.user_message_evt,
            handler=self._checked_visitor_message(handlers[self.user_message_evt]),
            namespace=self.namespace,
        )
        return socket_blueprint

    def _checked_visitor_message(self, handle_message: Handler) -> Handler:
        """Refuses a message that is malformed, empty, too long, or without its session's token.

        Rasa would accept any session id in a message, so a client could write into a
        conversation it never asked for. Here the conversation is the one inside the
        message's signed token (whatever `session_id` says), and this socket must have
        resumed it; the refusal says why, to this socket only, and nothing is processed.
        """

        async def checked(sid: str, data: Any = None, *rest: Any) -> None:
            if not isinstance(data, dict):
                await self._reply(sid, inbound.NOT_TEXT_REPLY)
                return
            if self.session_persistence:
                session_id = self._proven_session(sid, data.get("session_token"))
                if session_id is None:
                    await self._reply(sid, inbound.NO_SESSION_REPLY)
                    return
                data = {**data, "session_id": session_id}
            checked_message = inbound.check_message(data.get("message"))
            if checked_message.refusal:
                await self._reply(sid, checked_message.refusal)
                return
            data = {**data, "message": checked_message.text}
            if not _is_metadata(data.get(self.metadata_key)):
                data = {**data, self.metadata_key: {}}
            await handle_message(sid, data)

        return checked

    async def _session_request(self, sid: str, data: Any = None, *rest: Any) -> None:
        """Puts the socket in its session's room and confirms the session id and token.

        Replaces Rasa's handler, which calls `AsyncServer.enter_room` without
        awaiting it (RasaHQ/rasa#13027): with python-socketio 5 the socket never
        joins the room, and no reply reaches the widget. Rasa's handler would also
        put the socket in any room the client names. Here only a token this server
        signed resumes its conversation; anything else (no token, a bare or invented
        id, a forged token) gets a new conversation, never someone else's. The
        socket leaves any session it was in before.
        """
        assert self.sio is not None and self.session_tokens is not None
        session_token = data.get("session_token") if isinstance(data, dict) else None
        session_id = self.session_tokens.session_of(session_token)
        if session_id is None:
            session_id, session_token = self.session_tokens.issue()
        if self.session_persistence:
            for room in self.sio.rooms(sid, namespace=self.namespace):
                if room not in (sid, session_id):
                    await self.sio.leave_room(sid, room, namespace=self.namespace)
            await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        confirmation = {"session_id": session_id, "session_token": session_token}
        await self.sio.emit("session_confirm", confirmation, room=sid, namespace=self.namespace)

    def _proven_session(self, sid: str, session_token: Any) -> str | None:
        """The session a message's token proves, if this socket resumed it; else None.

        The token proves the conversation was issued to this visitor; the room check
        keeps a socket speaking only where it listens, so replies reach the writer.
        """
        assert self.sio is not None and self.session_tokens is not None
        session_id = self.session_tokens.session_of(session_token)
        if session_id is None or session_id not in self.sio.rooms(sid, namespace=self.namespace):
            return None
        return session_id

    async def _reply(self, sid: str, text: str) -> None:
        assert self.sio is not None
        await self.sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=self.namespace)


def _is_metadata(value: Any) -> bool:
    """Whether Rasa can read this as message metadata: none, a mapping, or one in JSON."""
    if value is None or isinstance(value, dict):
        return True
    if not isinstance(value, str):
        return False
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False
