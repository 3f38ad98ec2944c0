"""The website chat channel: Rasa's socket.io connector, open only to the practice's pages.

Rasa's `SocketIOInput` builds its `AsyncServer` with `cors_allowed_origins=[]`,
which switches the origin check off: any website could open the socket and talk
to the assistant in a visitor's browser. This subclass sets the allowed origins
from `assistant.settings` on the server that Rasa built, so that a browser request
from any other page is refused (400, "not an accepted origin"); it answers
`session_request` itself, because Rasa's handler never joins the session's room
with python-socketio 5; and it checks each visitor message before the assistant
sees it: it must belong to the session its socket asked for, and pass
`channels.inbound`. The rest (the message handler, the output channel) is Rasa's.
"""

import json
import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Tuple

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from assistant import settings
from channels import inbound

logger = logging.getLogger(__name__)

SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,128}")

Handler = Callable[..., Awaitable[Any]]


class OriginCheckedSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with allowed origins and checked visitor messages."""

    allowed_origins: Tuple[str, ...] = ()

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "OriginCheckedSocketIOInput":
        """Reads the event names from `credentials.yml` and the origins from the environment."""
        channel = super().from_credentials(credentials)
        channel.allowed_origins = settings.allowed_origins()
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
        """Refuses a message that is malformed, empty, too long, or not in this socket's session.

        Rasa would accept any session id in a message, so a client could write into a
        conversation it never asked for; the refusal says why, to this socket only.
        """

        async def checked(sid: str, data: Any = None, *rest: Any) -> None:
            if not isinstance(data, dict):
                await self._reply(sid, inbound.NOT_TEXT_REPLY)
                return
            if self.session_persistence and not self._has_joined(sid, data.get("session_id")):
                await self._reply(sid, inbound.NO_SESSION_REPLY)
                return
            refusal = inbound.refusal_for(data.get("message"))
            if refusal:
                await self._reply(sid, refusal)
                return
            if not _is_metadata(data.get(self.metadata_key)):
                data = {**data, self.metadata_key: {}}
            await handle_message(sid, data)

        return checked

    async def _session_request(self, sid: str, data: Any = None, *rest: Any) -> None:
        """Puts the socket in its session's room and confirms the session id.

        Replaces Rasa's handler, which calls `AsyncServer.enter_room` without
        awaiting it (RasaHQ/rasa#13027): with python-socketio 5 the socket never
        joins the room, and no reply reaches the widget. A missing or malformed id
        gets a fresh one; the socket leaves any session it was in before.
        """
        assert self.sio is not None
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not SESSION_ID_PATTERN.fullmatch(session_id):
            session_id = uuid.uuid4().hex
        if self.session_persistence:
            for room in self.sio.rooms(sid, namespace=self.namespace):
                if room not in (sid, session_id):
                    await self.sio.leave_room(sid, room, namespace=self.namespace)
            await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

    def _has_joined(self, sid: str, session_id: Any) -> bool:
        """Whether this socket asked for that session: a socket speaks only in its own."""
        assert self.sio is not None
        return isinstance(session_id, str) and session_id in self.sio.rooms(sid, namespace=self.namespace)

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
