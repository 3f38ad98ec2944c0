"""Passwords, sessions, CSRF tokens and the sign-in throttle of the review app.

One therapist signs in with one password, stored only as an argon2 hash. Her
session is a random id in a signed, HttpOnly, SameSite cookie; the server keeps
the ids of signed-in sessions, so signing out really ends a session. Every form
carries the session's CSRF token. A browser in which she signed in gets a device
cookie, which the sign-in throttle (`review.sign_in_throttle`) tells from a stranger.
"""

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Dict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

MINIMUM_PASSWORD_LENGTH = 12
SESSION_SECONDS = 8 * 3600
SESSION_SALT = "review-session"
DEVICE_SECONDS = 90 * 86400
DEVICE_SALT = "review-device"
DEVICE_COOKIE = "review_device"

Clock = Callable[[], float]

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of the password, with a fresh salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash; False, never an error, for a bad hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is too weak, or None when it will do."""
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        return f"use at least {MINIMUM_PASSWORD_LENGTH} characters"
    if len(set(password)) < 5:
        return "use more different characters"
    return None


def signed_content(serializer: URLSafeTimedSerializer, cookie: str | None, max_age: int) -> object | None:
    """What a signed cookie carries, or None when it is missing, forged or older than `max_age`."""
    if not cookie:
        return None
    try:
        return serializer.loads(cookie, max_age=max_age)
    except BadSignature:
        return None


@dataclass
class Session:
    """A browser's session: its CSRF token, and whether the therapist signed in with it."""

    session_id: str
    csrf_token: str
    signed_in: bool = False


class SessionManager:
    """Issues and checks session cookies, and remembers which sessions are signed in."""

    def __init__(self, secret_key: str, max_age: int = SESSION_SECONDS, clock: Clock = time.time) -> None:
        """Signs cookies with `secret_key`; sessions last `max_age` seconds at most."""
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SESSION_SALT)
        self._max_age = max_age
        self._clock = clock
        self._signed_in: Dict[str, float] = {}

    @property
    def max_age(self) -> int:
        """How long a cookie is honoured, in seconds."""
        return self._max_age

    def new_session(self) -> Session:
        """A fresh anonymous session (a new id and a new CSRF token)."""
        return Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    def cookie_value(self, session: Session) -> str:
        """The signed cookie value that carries the session."""
        return self._serializer.dumps({"sid": session.session_id, "csrf": session.csrf_token})

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None if it is missing, forged or expired."""
        content = signed_content(self._serializer, cookie, self._max_age)
        if not isinstance(content, dict) or not content.get("sid") or not content.get("csrf"):
            return None
        session_id = str(content["sid"])
        expires = self._signed_in.get(session_id)
        signed_in = expires is not None and expires > self._clock()
        if expires is not None and not signed_in:
            del self._signed_in[session_id]
        return Session(session_id, str(content["csrf"]), signed_in)

    def sign_in(self) -> Session:
        """A new signed-in session; a new id, so a session planted before sign-in is useless."""
        now = self._clock()
        for expired in [sid for sid, expires in self._signed_in.items() if expires <= now]:
            del self._signed_in[expired]
        session = self.new_session()
        session.signed_in = True
        self._signed_in[session.session_id] = now + self._max_age
        return session

    def sign_out(self, session: Session) -> None:
        """Ends the session on the server, whatever the browser keeps."""
        self._signed_in.pop(session.session_id, None)


def csrf_token_matches(session: Session | None, submitted: str | None) -> bool:
    """Whether a form's token is its session's (compared in constant time)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


class DeviceCookies:
    """Marks the browsers in which the therapist has signed in with the right password.

    The mark is a random id signed with the app's key: it cannot be made without
    signing in, and it grants nothing by itself (the password is still checked). It
    lets the sign-in throttle keep her browser out of the locks an attacker triggers.
    """

    def __init__(self, secret_key: str, max_age: int = DEVICE_SECONDS) -> None:
        """Signs device ids with `secret_key`; a mark lasts `max_age` seconds."""
        self._serializer = URLSafeTimedSerializer(secret_key, salt=DEVICE_SALT)
        self._max_age = max_age

    @property
    def max_age(self) -> int:
        """How long a device cookie is honoured, in seconds."""
        return self._max_age

    def issue(self, device_id: str | None = None) -> tuple[str, str]:
        """A (device id, cookie value) pair; the same id is re-signed when given, so the mark lasts."""
        device_id = device_id or secrets.token_urlsafe(24)
        return device_id, self._serializer.dumps(device_id)

    def read(self, cookie: str | None) -> str | None:
        """The device id in a cookie, or None if it is missing, forged or expired."""
        device_id = signed_content(self._serializer, cookie, self._max_age)
        return device_id if isinstance(device_id, str) and 0 < len(device_id) <= 64 else None
