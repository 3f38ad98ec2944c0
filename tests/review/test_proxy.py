"""HSTS and Secure cookies whenever the review app is served over HTTPS, and only the trusted proxy believed.

The app runs on plain HTTP on loopback, as behind a reverse proxy that terminates
TLS: it learns that the therapist uses HTTPS from `REVIEW_BASE_URL`, or from the
proxy's `X-Forwarded-Proto` when `REVIEW_TRUSTED_PROXY_HEADER` says there is one.
"""

from typing import Dict, Iterator

import pytest
import requests
import sqlalchemy as sa

from review import audit
from review.sign_in_throttle import sign_in_attempts
from tests.review.conftest import PASSWORD
from tests.review.servers import CSRF_FIELD, ReviewClient, RunningReviewApp, start_review_app, stop_review_app

HTTPS = {"X-Forwarded-Proto": "https"}


def _app_with(tmp_path_factory: pytest.TempPathFactory, name: str, env: Dict[str, str]) -> Iterator[RunningReviewApp]:
    """A review app on its own database with `env` added to its environment."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'review.db'}"
    app = start_review_app(database_url, PASSWORD, env)
    yield app
    stop_review_app(app)


@pytest.fixture(scope="module")
def https_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReviewApp]:
    """The app whose public address is https (REVIEW_BASE_URL)."""
    yield from _app_with(tmp_path_factory, "https", {"REVIEW_BASE_URL": "https://review.example-practice.com"})


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReviewApp]:
    """The app behind a trusted proxy, with a plain-HTTP base address."""
    yield from _app_with(tmp_path_factory, "proxied", {"REVIEW_TRUSTED_PROXY_HEADER": "X-Forwarded-For"})


def sign_in(app: RunningReviewApp, headers: Dict[str, str] | None = None) -> requests.Response:
    """Signs in as a browser on HTTPS would: it sends back even a Secure cookie (requests would not, on http)."""
    page = requests.get(app.url + "/sign-in", headers=headers, timeout=60)
    session_cookie = page.raw.headers["Set-Cookie"].split(";", 1)[0]
    token = CSRF_FIELD.search(page.text).group(1)
    return requests.post(
        app.url + "/sign-in",
        data={"csrf_token": token, "password": PASSWORD},
        headers={**(headers or {}), "Cookie": session_cookie},
        allow_redirects=False,
        timeout=60,
    )


def set_cookies(response: requests.Response) -> Dict[str, str]:
    """Each cookie the response sets, by name, with its attributes."""
    return {cookie.split("=", 1)[0]: cookie for cookie in response.raw.headers.getlist("Set-Cookie")}


def test_an_https_base_address_brings_hsts_and_secure_cookies(https_app: RunningReviewApp) -> None:
    page = requests.get(https_app.url + "/sign-in", timeout=60)
    signed_in = sign_in(https_app)

    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Secure" in page.headers["Set-Cookie"]
    assert signed_in.status_code == 303
    cookies = set_cookies(signed_in)
    assert "Secure" in cookies["review_session"] and "Secure" in cookies["review_device"]
    assert "HttpOnly" in cookies["review_device"] and "Path=/sign-in" in cookies["review_device"]


def test_plain_http_has_no_hsts_and_no_secure_cookie(empty_review_app: RunningReviewApp) -> None:
    page = requests.get(empty_review_app.url + "/sign-in", headers=HTTPS, timeout=60)

    assert "Strict-Transport-Security" not in page.headers
    assert "Secure" not in page.headers["Set-Cookie"]


def test_the_trusted_proxys_https_brings_hsts_and_secure_cookies(proxied_app: RunningReviewApp) -> None:
    page = requests.get(proxied_app.url + "/sign-in", headers=HTTPS, timeout=60)
    signed_in = sign_in(proxied_app, HTTPS)

    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert signed_in.status_code == 303
    assert all("Secure" in cookie for cookie in set_cookies(signed_in).values())


def test_behind_the_proxy_plain_http_stays_plain(proxied_app: RunningReviewApp) -> None:
    page = requests.get(proxied_app.url + "/sign-in", headers={"X-Forwarded-Proto": "http"}, timeout=60)

    assert "Strict-Transport-Security" not in page.headers
    assert "Secure" not in page.headers["Set-Cookie"]


def test_a_forwarded_address_is_ignored_unless_a_proxy_is_trusted(empty_review_app: RunningReviewApp) -> None:
    client = ReviewClient(empty_review_app.url)
    token = client.csrf_token("/sign-in")
    client.post("/sign-in", {"csrf_token": token, "password": "not it"}, headers={"X-Forwarded-For": "198.51.100.7"})

    engine = sa.create_engine(empty_review_app.database_url, future=True)
    try:
        with engine.connect() as connection:
            last = connection.execute(
                sa.select(sign_in_attempts.c.client).order_by(sign_in_attempts.c.id.desc()).limit(1)
            ).scalar()
    finally:
        engine.dispose()
    assert last == "127.0.0.1"


def test_the_audit_log_records_the_address_the_trusted_proxy_saw(proxied_app: RunningReviewApp) -> None:
    signed_in = sign_in(proxied_app, {"X-Forwarded-For": "203.0.113.50, 198.51.100.23"})

    engine = sa.create_engine(proxied_app.database_url, future=True)
    try:
        with engine.connect() as connection:
            last = audit.entries(connection, audit.SIGN_IN)[-1]
    finally:
        engine.dispose()
    assert signed_in.status_code == 303 and last["address"] == "198.51.100.23"
