"""What the review app needs to know, gathered once from `assistant.settings`.

`create_app` takes a `ReviewConfig` rather than reading settings itself, so a
test or a second instance can run the app against another database, password,
sign-in policy or proxy without touching the environment.
"""

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Tuple

from assistant import settings
from review.security import hash_password
from review.sign_in_throttle import SignInPolicy

PasswordHashSource = Callable[[], str | None]


@dataclass(frozen=True)
class ReviewConfig:
    """The review app's configuration."""

    database_url: str
    secret_key: str
    password_hash: PasswordHashSource
    base_url: str = "http://localhost:5006"
    domain_files: Tuple[Path, ...] = tuple(settings.domain_files())
    sign_in_policy: SignInPolicy = SignInPolicy()
    trusted_proxy_header: str | None = None
    # The event broker's consumer keeps the summaries (`make cluster`): the app
    # then never folds events itself by following their ids.
    summaries_from_broker: bool = False

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when the app's public address is HTTPS (see also `review.proxy`)."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_settings(cls) -> "ReviewConfig":
        """The configuration `make run` uses: the project's settings and environment.

        A password given in plain text (`REVIEW_PASSWORD`) is hashed here, once, and
        the plain text is not kept; otherwise the stored hash is read on every
        sign-in, so `make review-password` takes effect without a restart.
        """
        plain = settings.review_password()
        if plain:
            fixed_hash = hash_password(plain)
            password_hash: PasswordHashSource = lambda: fixed_hash  # noqa: E731
        else:
            password_hash = settings.review_password_hash
        return cls(
            database_url=settings.database_url(),
            secret_key=settings.review_secret_key() or secrets.token_urlsafe(48),
            password_hash=password_hash,
            base_url=settings.review_base_url(),
            trusted_proxy_header=settings.review_trusted_proxy_header(),
            summaries_from_broker=settings.review_summaries_from_broker(),
        )
