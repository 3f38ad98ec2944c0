"""Signed session tokens: the website chat's conversation ids are issued by the server.

A conversation id used to work as a key: any socket.io client could name an id,
join that visitor's conversation, read the replies and write into the booking
form. Now only the server makes conversations: it draws a random id and gives
the browser a token, the id with an HMAC-SHA256 of it under the server's key
(`SESSION_SIGNING_KEY`, from the environment or generated once into `var/`). A
browser that shows a valid token proves that the server issued that conversation
to it; an id on its own, or a token the key did not sign, proves nothing. The
token carries no expiry: the widget forgets it after the session length, and
Rasa starts a new session within the same conversation anyway.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Tuple

from assistant import local_secrets

SIGNING_KEY_NAME = "SESSION_SIGNING_KEY"

# Bound into every signature, so that a MAC made with the same key for another
# purpose can never pass as a session token.
PURPOSE = b"practice-chat conversation id\x00"

SESSION_ID_BYTES = 16
TOKEN_PATTERN = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class SessionTokens:
    """Issues conversation ids with their tokens, and reads the id back from a token."""

    key: bytes

    @classmethod
    def from_secret(cls) -> "SessionTokens":
        """Signs with the shared `SESSION_SIGNING_KEY`, so tokens survive a restart."""
        return cls(local_secrets.secret(SIGNING_KEY_NAME).encode("utf-8"))

    def issue(self) -> Tuple[str, str]:
        """A new conversation: a random id and the token that proves it.

        Returns:
            (session id, session token).
        """
        session_id = secrets.token_hex(SESSION_ID_BYTES)
        return session_id, f"{session_id}.{self._signature(session_id)}"

    def session_of(self, token: Any) -> str | None:
        """The conversation id a token proves, or None for anything the key did not sign.

        Args:
            token: what a client sent as its token (any type, since it comes from outside).

        Returns:
            The id inside a valid token; None for a missing, malformed or forged one.
        """
        if not isinstance(token, str):
            return None
        parts = TOKEN_PATTERN.fullmatch(token)
        if parts is None:
            return None
        session_id, signature = parts.groups()
        # Constant time: how long a refusal takes says nothing about the right signature.
        if not hmac.compare_digest(signature, self._signature(session_id)):
            return None
        return session_id

    def _signature(self, session_id: str) -> str:
        mac = hmac.new(self.key, PURPOSE + session_id.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
