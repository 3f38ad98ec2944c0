"""Passwords, sessions, CSRF tokens and the sign-in throttle of the review app.

One therapist signs in with one password, stored only as an argon2 hash. Her
session is a random id in a signed, HttpOnly, SameSite cookie; the server keeps
the ids of signed-in sessions, so signing out really ends a session. Every form
carries the session's CSRF token. Failed sign-ins from one address are answered
ever more slowly, and refused outright for a while after too many.
"""

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Dict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

MINIMUM_PASSWORD_LENGTH = 12
SESSION_SECONDS = 8 * 3600
SESSION_SALT = "review-session"

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
        if not cookie:
            return None
        try:
            content = self._serializer.loads(cookie, max_age=self._max_age)
        except BadSignature:
            return None
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


@dataclass
class _Attempts:
    failures: int = 0
    first_failure: float = 0.0
    blocked_until: float = 0.0


@dataclass
class SignInThrottle:
    """Slows down and then limits failed sign-ins, per client address.

    After the n-th failure within `window` seconds the client must wait
    `base_delay * 2**(n-1)` seconds (at most `max_delay`) before the next try;
    after `max_failures` it must wait `lockout` seconds. Attempts made while
    waiting are refused without looking at the password.
    """

    max_failures: int = 5
    window: float = 900.0
    base_delay: float = 0.25
    max_delay: float = 4.0
    lockout: float = 900.0
    clock: Clock = time.monotonic
    _attempts: Dict[str, _Attempts] = field(default_factory=dict)

    def wait_seconds(self, client: str) -> float:
        """Seconds the client must still wait before a sign-in attempt is looked at."""
        attempts = self._attempts.get(client)
        if attempts is None:
            return 0.0
        return max(0.0, attempts.blocked_until - self.clock())

    def record_failure(self, client: str) -> float:
        """Counts a failed attempt; returns the delay it earned."""
        now = self.clock()
        attempts = self._attempts.setdefault(client, _Attempts())
        if now - attempts.first_failure > self.window:
            attempts.failures, attempts.first_failure = 0, now
        attempts.failures += 1
        if attempts.failures >= self.max_failures:
            delay = self.lockout
        else:
            delay = min(self.max_delay, self.base_delay * 2 ** (attempts.failures - 1))
        attempts.blocked_until = now + delay
        return delay

    def record_success(self, client: str) -> None:
        """Forgets the client's failures."""
        self._attempts.pop(client, None)
