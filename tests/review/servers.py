"""The review app as a real server for tests, and a browser-like client for it.

The app runs in its own process on a free loopback port (`python -m review serve`,
as `make run` starts it), against whatever database the test gives it.
"""

import re
import secrets
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import requests
import sqlalchemy as sa

from assistant import launch
from review.security import hash_password
from review.tables import events
from review.tables import metadata as review_metadata
from tests.servers import free_port

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class RunningReviewApp:
    """A started review app."""

    url: str
    database_url: str
    password: str
    process: subprocess.Popen


def start_review_app(database_url: str, password: str, extra_env: Dict[str, str] | None = None) -> RunningReviewApp:
    """Starts the review app; the caller must call `stop_review_app`."""
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "REVIEW_PASSWORD": "",
        "REVIEW_PASSWORD_HASH": hash_password(password),
        "REVIEW_SECRET_KEY": secrets.token_urlsafe(32),
        "REVIEW_BASE_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    service = launch.review_app(port)
    process = launch.start(service, env=env)
    try:
        launch.wait_until_ready(service, process, timeout=60)
    except Exception:
        launch.stop([process])
        raise
    return RunningReviewApp(f"http://127.0.0.1:{port}", database_url, password, process)


def stop_review_app(app: RunningReviewApp) -> None:
    """Stops the review app."""
    launch.stop([app.process])


class ReviewClient:
    """A browser stand-in: keeps the session cookie and fills in CSRF tokens."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.get(self.base_url + path, timeout=60, **kwargs)

    def post(self, path: str, data: Dict[str, Any], **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.post(self.base_url + path, data=data, timeout=60, **kwargs)

    def csrf_token(self, page: str = "/sign-in") -> str:
        """The CSRF token of this session, as a page's forms carry it."""
        response = self.get(page)
        match = CSRF_FIELD.search(response.text)
        assert match, f"no CSRF token on {page} ({response.status_code})"
        return match.group(1)

    def submit(self, path: str, data: Dict[str, Any], page: str = "/conversations") -> requests.Response:
        """Posts a form the way the app's own page would, with its CSRF token."""
        return self.post(path, {"csrf_token": self.csrf_token(page), **data})

    def sign_in(self, password: str, next_path: str = "/conversations") -> requests.Response:
        token = self.csrf_token("/sign-in")
        return self.post("/sign-in", {"csrf_token": token, "password": password, "next": next_path})


def signed_in_client(app: RunningReviewApp) -> ReviewClient:
    """A client whose therapist has signed in."""
    client = ReviewClient(app.url)
    response = client.sign_in(app.password)
    assert response.status_code == 303, response.text
    return client


def copy_sqlite_database(database_url: str, destination: Path) -> str:
    """Copies an SQLite database file (a real one, filled by real conversations).

    Through SQLite's backup API: the database is in WAL mode, so the newest
    events may still be in its `-wal` file, which a plain file copy would miss.
    """
    source = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
    target = sqlite3.connect(destination)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return f"sqlite:///{destination}"


def age_conversations(database_url: str, conversation_ids: list, days: float) -> None:
    """Moves real conversations back in time, as if they had happened `days` ago.

    Only their times change. The review app's own tables are dropped so that it
    summarises the copy afresh, exactly as it would have back then.
    """
    engine = sa.create_engine(database_url, future=True)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(events)
                .where(events.c.sender_id.in_(conversation_ids))
                .values(timestamp=events.c.timestamp - days * 86400)
            )
        review_metadata.drop_all(engine)
    finally:
        engine.dispose()


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    """Polls until `condition()` is truthy and returns it; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.1)
