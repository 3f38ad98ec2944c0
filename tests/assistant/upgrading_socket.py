"""A chat socket that connects as a browser's socket.io client does: long-polling first, then the WebSocket upgrade.

Every step of that handshake names the engine.io session, which lives in the memory
of the one Rasa replica that opened it: a request that reaches another replica is
refused ("Invalid session"). So a visitor who gets through the handshake and has
every message answered was kept on one replica the whole time.

Spoken here in engine.io 4's own frames over aiohttp, because python-engineio's
WebSocket client needs a newer aiohttp than Rasa 3.6 allows
(`tests/channels/chat_socket.py` stays on long-polling for that reason).
"""

import asyncio
import json
import time
import uuid
from typing import Any, Dict, List, Tuple

import aiohttp

SOCKET_PATH = "/socket.io/"
ENGINE_OPEN, ENGINE_PING, ENGINE_PONG, ENGINE_MESSAGE, ENGINE_UPGRADE, ENGINE_NOOP = "0", "2", "3", "4", "5", "6"
SOCKET_CONNECT, SOCKET_EVENT = "0", "2"
RECORD_SEPARATOR = "\x1e"
QUIET_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 60.0


class HandshakeRefused(RuntimeError):
    """A step of the engine.io handshake was refused (by a replica that does not hold the session)."""


class UpgradingChatSocket:
    """One visitor's tab, from a page origin and a loopback source address of its own."""

    def __init__(self, server_url: str, origin: str, source_address: str = "127.0.0.1") -> None:
        """Remembers where to connect; nothing is opened until `open`."""
        self.server_url = server_url.rstrip("/")
        self.origin = origin
        self.source_address = source_address
        self.engine_sid: str | None = None
        self.session_id: str | None = None
        self.session_token: str | None = None
        self.http: aiohttp.ClientSession | None = None
        self.websocket: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> "UpgradingChatSocket":
        connector = aiohttp.TCPConnector(local_addr=(self.source_address, 0), force_close=True)
        self.http = aiohttp.ClientSession(
            connector=connector,
            headers={"Origin": self.origin},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        )
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self.websocket is not None:
            await self.websocket.close()
        if self.http is not None:
            await self.http.close()

    async def open_polling(self, server_url: str | None = None) -> str:
        """The engine.io handshake over long-polling, and the socket.io connect; returns the engine.io sid."""
        frames = await self._poll(server_url)
        kind, opened = frames[0][:1], json.loads(frames[0][1:])
        if kind != ENGINE_OPEN or "websocket" not in opened.get("upgrades", []):
            raise HandshakeRefused(f"unexpected opening frame {frames[0][:40]!r}")
        self.engine_sid = opened["sid"]
        await self._post(ENGINE_MESSAGE + SOCKET_CONNECT)
        connected = await self._poll()
        if not any(frame.startswith(ENGINE_MESSAGE + SOCKET_CONNECT) for frame in connected):
            raise HandshakeRefused(f"no socket.io connect confirmation: {connected!r}")
        return self.engine_sid

    async def upgrade(self) -> None:
        """Moves the session from long-polling to a WebSocket, as browsers do once polling works."""
        assert self.http is not None and self.engine_sid is not None
        url = self._url("websocket", ws=True)
        try:
            self.websocket = await self.http.ws_connect(url, timeout=REQUEST_TIMEOUT_SECONDS)
        except aiohttp.WSServerHandshakeError as refused:
            raise HandshakeRefused(f"WebSocket upgrade refused ({refused.status})") from refused
        await self.websocket.send_str(ENGINE_PING + "probe")
        answer = await self._receive(REQUEST_TIMEOUT_SECONDS)
        if answer != ENGINE_PONG + "probe":
            raise HandshakeRefused(f"the upgrade probe was answered with {answer!r}")
        await self.websocket.send_str(ENGINE_UPGRADE)

    async def request_session(self) -> str:
        """Asks the assistant for a conversation; keeps its id and signed token for `say`."""
        await self._emit("session_request", {})
        name, confirmation = await self._next_event(REQUEST_TIMEOUT_SECONDS)
        if name != "session_confirm":
            raise HandshakeRefused(f"expected session_confirm, got {name}")
        self.session_id, self.session_token = confirmation["session_id"], confirmation["session_token"]
        return self.session_id

    async def say(self, text: str, first_within: float = 120.0) -> List[Dict[str, Any]]:
        """Sends a visitor message over the WebSocket and returns the replies until the assistant falls quiet."""
        await self._emit(
            "user_uttered", {"message": text, "session_id": self.session_id, "session_token": self.session_token}
        )
        replies: List[Dict[str, Any]] = []
        deadline = time.monotonic() + first_within
        while True:
            wait = max(0.01, deadline - time.monotonic()) if not replies else QUIET_SECONDS
            try:
                name, data = await self._next_event(wait)
            except asyncio.TimeoutError:
                return replies
            if name == "bot_uttered":
                replies.append(data)

    async def _emit(self, event: str, data: Any) -> None:
        assert self.websocket is not None, "upgrade first"
        await self.websocket.send_str(ENGINE_MESSAGE + SOCKET_EVENT + json.dumps([event, data]))

    async def _next_event(self, timeout: float) -> Tuple[str, Any]:
        """The next socket.io event; the server's pings are answered on the way."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self._receive(max(0.01, deadline - time.monotonic()))
            if frame == ENGINE_PING:
                await self.websocket.send_str(ENGINE_PONG)
            elif frame.startswith(ENGINE_MESSAGE + SOCKET_EVENT):
                name, *arguments = json.loads(frame[2:])
                return name, arguments[0] if arguments else None

    async def _receive(self, timeout: float) -> str:
        assert self.websocket is not None
        message = await asyncio.wait_for(self.websocket.receive(), timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise HandshakeRefused(f"the WebSocket closed ({message.type.name})")
        return str(message.data)

    async def _poll(self, server_url: str | None = None) -> List[str]:
        assert self.http is not None
        async with self.http.get(self._url("polling", server_url=server_url)) as response:
            body = await response.text()
            if response.status != 200:
                raise HandshakeRefused(f"polling refused ({response.status}): {body[:80]}")
        return [frame for frame in body.split(RECORD_SEPARATOR) if frame != ENGINE_NOOP]

    async def _post(self, frame: str) -> None:
        assert self.http is not None
        async with self.http.post(self._url("polling"), data=frame.encode()) as response:
            body = await response.text()
            if response.status != 200:
                raise HandshakeRefused(f"polling refused ({response.status}): {body[:80]}")

    def _url(self, transport: str, ws: bool = False, server_url: str | None = None) -> str:
        base = (server_url or self.server_url).rstrip("/")
        if ws:
            base = base.replace("http://", "ws://", 1)
        query = f"EIO=4&transport={transport}&t={uuid.uuid4().hex[:8]}"
        if self.engine_sid:
            query += f"&sid={self.engine_sid}"
        return f"{base}{SOCKET_PATH}?{query}"
