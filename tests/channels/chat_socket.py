"""A socket.io client that speaks to the assistant as the website widget does."""

import asyncio
import contextlib
from typing import Any, Dict, List

import socketio

QUIET_SECONDS = 1.0
# The first turn after start warms the models: generous on a loaded 2-core machine.
ANSWER_TIMEOUT_SECONDS = 90.0


class ChatSocket:
    """One browser tab: a socket from a page origin, in one session of the assistant."""

    def __init__(self, server_url: str, origin: str) -> None:
        self.server_url = server_url
        self.origin = origin
        self.session_id: str | None = None
        self.session_token: str | None = None
        self.client = socketio.AsyncClient(reconnection=False)
        self._replies: asyncio.Queue = asyncio.Queue()
        self._confirmed: asyncio.Queue = asyncio.Queue()
        self.client.on("bot_uttered", self._replies.put)
        self.client.on("session_confirm", self._confirmed.put)

    async def open(self, **session_request: Any) -> str:
        """Connects and asks for a session: a new one, unless `session_token` proves one.

        The server confirms with the conversation's id and signed token, kept for `say`;
        `session_request` may hold anything a client could send (an id of its choosing).

        Long-polling only: python-engineio's websocket client needs a newer aiohttp
        than Rasa 3.6 allows. The browser tests use the websocket, as visitors do.
        """
        await self.client.connect(self.server_url, headers={"Origin": self.origin}, transports=["polling"])
        await self.client.emit("session_request", session_request)
        confirmation = await asyncio.wait_for(self._confirmed.get(), ANSWER_TIMEOUT_SECONDS)
        self.session_id, self.session_token = confirmation["session_id"], confirmation["session_token"]
        return self.session_id

    async def close(self) -> None:
        """Disconnects, as closing the tab does.

        Without waiting for the pending long-poll request, which the server would
        hold until its next ping (25 seconds).
        """
        read_loop = self.client.eio.read_loop_task
        await self.client.eio.disconnect(abort=True)
        if read_loop is not None and not read_loop.done():
            read_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read_loop

    async def say(self, text: Any, **extra: Any) -> List[Dict[str, Any]]:
        """Sends a visitor message with the session's token and returns the assistant's replies."""
        message = {"message": text, "session_id": self.session_id, "session_token": self.session_token}
        return await self.emit("user_uttered", {**message, **extra})

    async def emit(self, event: str, data: Any) -> List[Dict[str, Any]]:
        """Emits any event and returns what comes back until the assistant falls quiet."""
        await self.client.emit(event, data)
        return await self.replies()

    async def replies(self, first_within: float = ANSWER_TIMEOUT_SECONDS) -> List[Dict[str, Any]]:
        """The replies that arrive, the first within `first_within` seconds; [] if none."""
        received: List[Dict[str, Any]] = []
        timeout = first_within
        while True:
            try:
                received.append(await asyncio.wait_for(self._replies.get(), timeout))
            except asyncio.TimeoutError:
                return received
            timeout = QUIET_SECONDS


def texts(replies: List[Dict[str, Any]]) -> str:
    """The replies' text, one per line."""
    return "\n".join(str(reply.get("text", "")) for reply in replies)
