"""Sign-in under attack, against the real review app: floods, many addresses, other processes.

The tests share one review app on a fresh database, behind a pretend reverse proxy:
`REVIEW_TRUSTED_PROXY_HEADER` is set, so each guess can come from its own address.
Each test starts from an unlock and reads only the records made after it. The
password's hash is cheap, so that a flood of 100 guesses costs the machine little;
the throttle, not the hash, must stop it.
"""

import os
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List

import pytest
import requests
import sqlalchemy as sa
from argon2 import PasswordHasher

from assistant import settings
from review.sign_in_throttle import FAILURE, PENDING, REFUSED, SignInPolicy, SignInThrottle, sign_in_attempts
from tests.review.conftest import PASSWORD
from tests.review.servers import ReviewClient, RunningReviewApp, start_review_app, stop_review_app, wait_for

CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SLOW_HASH = PasswordHasher(time_cost=5, memory_cost=65536, parallelism=1)
POLICY = SignInPolicy()
PROXY = {"REVIEW_TRUSTED_PROXY_HEADER": "X-Forwarded-For"}


def start_app(database_url: str, password_hash: str, **env: str) -> RunningReviewApp:
    return start_review_app(database_url, PASSWORD, {"REVIEW_PASSWORD_HASH": password_hash, **env})


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReviewApp]:
    """A review app behind a trusted proxy that names each client in X-Forwarded-For."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('sign_in') / 'review.db'}"
    app = start_app(database_url, CHEAP_HASH.hash(PASSWORD), **PROXY)
    yield app
    stop_review_app(app)


def unlock(database_url: str) -> int:
    """Opens sign-in, as `python -m review unlock` does; returns the id of the last record."""
    engine = sa.create_engine(database_url, future=True)
    try:
        SignInThrottle(engine).unlock()
        with engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.max(sign_in_attempts.c.id))).scalar() or 0)
    finally:
        engine.dispose()


@pytest.fixture
def since(proxied_app: RunningReviewApp) -> int:
    """Each test starts with sign-in open and counts only the records made after this id."""
    return unlock(proxied_app.database_url)


def from_address(address: str) -> Dict[str, str]:
    return {"X-Forwarded-For": address}


def attempt(client: ReviewClient, password: str, address: str, token: str | None = None) -> requests.Response:
    """One sign-in, as the proxy passes it on from `address`."""
    token = token or client.csrf_token("/sign-in")
    return client.post("/sign-in", {"csrf_token": token, "password": password}, headers=from_address(address))


def recorded(database_url: str, since: int = 0) -> List[Dict]:
    """The attempts recorded after the record `since`."""
    engine = sa.create_engine(database_url, future=True)
    try:
        with engine.connect() as connection:
            query = sa.select(sign_in_attempts).where(sign_in_attempts.c.id > since).order_by(sign_in_attempts.c.id)
            return [dict(row._mapping) for row in connection.execute(query)]
    finally:
        engine.dispose()


def outcomes(database_url: str, since: int = 0) -> Counter:
    return Counter(row["outcome"] for row in recorded(database_url, since))


def age_attempts(database_url: str, seconds: float) -> None:
    """Moves every recorded attempt back in time, as if it had been made `seconds` earlier."""
    engine = sa.create_engine(database_url, future=True)
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(sign_in_attempts).values(at=sign_in_attempts.c.at - seconds))
    finally:
        engine.dispose()


def run_unlock(database_url: str) -> subprocess.CompletedProcess:
    """`python -m review unlock`, as the therapist would type it."""
    return subprocess.run(
        [sys.executable, "-m", "review", "unlock"],
        cwd=settings.PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_flood_of_guesses_is_checked_one_at_a_time_and_then_refused_even_the_right_password(
    proxied_app: RunningReviewApp, since: int
) -> None:
    def guess(n: int) -> requests.Response:
        return attempt(ReviewClient(proxied_app.url), f"guess number {n}", f"198.51.100.{n}")

    therapist = ReviewClient(proxied_app.url)
    therapist_token = therapist.csrf_token("/sign-in")
    with ThreadPoolExecutor(max_workers=100) as pool:
        flood = [pool.submit(guess, n) for n in range(100)]
        wait_for(lambda: outcomes(proxied_app.database_url, since)[FAILURE] >= POLICY.global_failures, timeout=60)
        during = attempt(therapist, PASSWORD, "203.0.113.5", therapist_token)
        statuses = Counter(future.result().status_code for future in flood)

    assert set(statuses) <= {401, 429}, statuses
    assert statuses[401] == POLICY.global_failures - 1  # the failure that locks is answered 429
    assert during.status_code == 429 and "Retry-After" in during.headers
    counted = outcomes(proxied_app.database_url, since)
    assert counted == Counter({FAILURE: POLICY.global_failures, REFUSED: 100 - POLICY.global_failures + 1})
    assert therapist.get("/conversations").status_code == 303

    unlocked = run_unlock(proxied_app.database_url)

    assert unlocked.returncode == 0 and "open again" in unlocked.stdout
    assert attempt(therapist, PASSWORD, "203.0.113.5").status_code == 303
    assert therapist.get("/conversations").status_code == 200


def test_a_flood_from_one_address_gets_no_more_than_its_few_checks(proxied_app: RunningReviewApp, since: int) -> None:
    def guess(n: int) -> int:
        return attempt(ReviewClient(proxied_app.url), f"guess {n}", "198.51.100.1").status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(guess, range(100)))

    checked = outcomes(proxied_app.database_url, since)[FAILURE]
    assert set(statuses) <= {401, 429} and 1 <= checked <= POLICY.max_failures
    assert statuses.count(429) >= 100 - POLICY.max_failures


def test_one_guess_each_from_many_addresses_uses_up_the_budget_for_everyone(
    proxied_app: RunningReviewApp, since: int
) -> None:
    client = ReviewClient(proxied_app.url)

    statuses = [attempt(client, f"guess number {n}", f"198.51.100.{n}").status_code for n in range(20)]
    right_from_elsewhere = attempt(client, PASSWORD, "203.0.113.5")

    budget = POLICY.global_failures
    assert statuses == [401] * (budget - 1) + [429] * (20 - budget + 1)
    assert right_from_elsewhere.status_code == 429
    clients = [row["client"] for row in recorded(proxied_app.database_url, since)]
    assert clients == [f"198.51.100.{n}" for n in range(20)] + ["203.0.113.5"]


def test_the_lock_for_everyone_ends_by_itself_when_its_failures_age(proxied_app: RunningReviewApp, since: int) -> None:
    client = ReviewClient(proxied_app.url)
    for n in range(POLICY.global_failures):
        attempt(client, f"guess number {n}", f"198.51.100.{n}")
    assert attempt(client, PASSWORD, "203.0.113.5").status_code == 429

    age_attempts(proxied_app.database_url, POLICY.global_lockout + 1)

    assert attempt(client, PASSWORD, "203.0.113.5").status_code == 303


def test_the_browser_the_therapist_signed_in_with_is_not_locked_out_by_an_attacker(
    proxied_app: RunningReviewApp, since: int
) -> None:
    therapist = ReviewClient(proxied_app.url)
    assert attempt(therapist, PASSWORD, "203.0.113.5").status_code == 303
    therapist.submit("/sign-out", {})
    attacker = ReviewClient(proxied_app.url)
    for n in range(POLICY.global_failures):
        attempt(attacker, f"guess number {n}", f"198.51.100.{n}")
    for n in range(2):  # and from her own address, shared with the attacker
        attempt(attacker, f"another guess {n}", "203.0.113.5")

    assert attempt(ReviewClient(proxied_app.url), PASSWORD, "192.0.2.1").status_code == 429
    assert attempt(ReviewClient(proxied_app.url), PASSWORD, "203.0.113.5").status_code == 429
    assert attempt(therapist, PASSWORD, "203.0.113.5").status_code == 303


def test_the_proxy_header_names_the_client_by_its_last_entry_only(proxied_app: RunningReviewApp, since: int) -> None:
    attempt(ReviewClient(proxied_app.url), "wrong password", "6.6.6.6, 198.51.100.7")

    assert [row["client"] for row in recorded(proxied_app.database_url, since)] == ["198.51.100.7"]


def test_the_records_bind_other_processes_and_outlive_the_one_that_made_them(
    proxied_app: RunningReviewApp, since: int
) -> None:
    client = ReviewClient(proxied_app.url)
    for n in range(POLICY.global_failures):
        attempt(client, f"guess number {n}", f"198.51.100.{n}")
    # A new process, started after the lock, with a slow hash: a check that lasts seconds.
    other = start_app(proxied_app.database_url, SLOW_HASH.hash(PASSWORD), **PROXY)
    try:
        assert attempt(ReviewClient(other.url), PASSWORD, "203.0.113.5").status_code == 429
        marker = unlock(proxied_app.database_url)
        slow_guess = threading.Thread(target=attempt, args=(ReviewClient(other.url), "wrong", "198.51.100.1"))
        slow_guess.start()
        wait_for(lambda: outcomes(proxied_app.database_url, marker)[PENDING] == 1, timeout=30)
        meanwhile = attempt(client, PASSWORD, "203.0.113.5")
        slow_guess.join(timeout=60)
    finally:
        stop_review_app(other)

    assert meanwhile.status_code == 429 and "Retry-After" in meanwhile.headers  # the other was still checking
    assert outcomes(proxied_app.database_url, marker) == Counter({FAILURE: 1, REFUSED: 1})
