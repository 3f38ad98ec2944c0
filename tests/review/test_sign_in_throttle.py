"""The sign-in throttle's rules, on a real SQLite database with a clock the tests move."""

from pathlib import Path
from typing import List

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review.sign_in_throttle import (
    ADDRESS,
    DEVICE,
    EVERYONE,
    FAILURE,
    IN_PROGRESS,
    PENDING,
    REFUSED,
    SUCCESS,
    SignInPolicy,
    SignInThrottle,
    ensure_table,
    sign_in_attempts,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'throttle.db'}", future=True)
    ensure_table(engine)
    yield engine
    engine.dispose()


def throttle_of(engine: Engine, clock: FakeClock, **policy: float) -> SignInThrottle:
    return SignInThrottle(engine, SignInPolicy(**policy), clock=clock)


def fail(throttle: SignInThrottle, client: str, device: str | None = None):
    return throttle.attempt(client, device, lambda: False)


def outcomes(engine: Engine) -> List[str]:
    with engine.connect() as connection:
        query = sa.select(sign_in_attempts.c.outcome).order_by(sign_in_attempts.c.id)
        return list(connection.execute(query).scalars())


def test_an_attempt_is_recorded_as_pending_before_its_password_is_checked(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock)
    seen_during_check: List[List[str]] = []

    def check() -> bool:
        seen_during_check.append(outcomes(engine))
        return True

    throttle.attempt("10.0.0.1", None, check)

    assert seen_during_check == [[PENDING]]
    assert outcomes(engine) == [SUCCESS]


def test_a_check_that_raises_is_recorded_as_a_failure(engine: Engine, clock: FakeClock) -> None:
    def broken() -> bool:
        raise RuntimeError("the hash could not be read")

    with pytest.raises(RuntimeError):
        throttle_of(engine, clock).attempt("10.0.0.1", None, broken)

    assert outcomes(engine) == [FAILURE]


def test_each_failure_from_an_address_doubles_its_wait(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, max_failures=10, base_delay=0.5, max_delay=100)

    delays = []
    for _ in range(4):
        clock.now += delays[-1] if delays else 0
        delays.append(fail(throttle, "10.0.0.1")[1].delay)
    refused = throttle.begin("10.0.0.1")

    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert (refused.allowed, refused.reason, refused.wait) == (False, ADDRESS, 4.0)
    assert throttle.begin("10.0.0.2").allowed


def test_too_many_failures_lock_the_address_until_the_lockout_passes(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, max_failures=3, lockout=600, window=900)
    for _ in range(3):
        clock.now += 10  # past each failure's own short wait
        _, failure = fail(throttle, "10.0.0.1")

    assert failure.locked
    clock.now += 599
    assert not throttle.begin("10.0.0.1").allowed
    clock.now += 2
    assert throttle.begin("10.0.0.1").allowed


def test_failures_from_many_addresses_lock_sign_in_for_everyone_for_a_while(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, global_failures=10, global_lockout=900, window=900)
    results = [fail(throttle, f"10.0.1.{n}") for n in range(20)]

    checked = [attempt for attempt, failure in results if attempt.allowed]
    assert len(checked) == 10 and results[9][1].locked
    assert {attempt.reason for attempt, _ in results[10:]} == {EVERYONE}
    assert not throttle.begin("192.0.2.7").allowed
    clock.now += 901
    assert throttle.begin("192.0.2.7").allowed


def test_unlock_forgives_every_failure_so_far(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, global_failures=3, max_failures=3, base_delay=0)
    for n in range(3):
        fail(throttle, f"10.0.0.{n}")
    assert not throttle.begin("10.0.0.2").allowed

    assert throttle.unlock() == 3

    assert fail(throttle, "10.0.0.1")[0].allowed and fail(throttle, "10.0.0.2")[0].allowed


def test_an_attempt_is_refused_while_an_earlier_one_is_being_checked(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock)
    first = throttle.begin("10.0.0.1")

    second = throttle.begin("10.0.0.2")

    assert first.allowed and (second.allowed, second.reason) == (False, IN_PROGRESS)
    assert outcomes(engine) == [PENDING, REFUSED]


def test_an_attempt_left_pending_by_a_dead_process_counts_as_a_failure(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, in_progress_for=30, base_delay=10)
    throttle.begin("10.0.0.1")  # its process died before the result was recorded

    clock.now += 31

    later = throttle.begin("10.0.0.1")
    assert (later.allowed, later.failures) == (True, 1)


def test_a_success_forgets_the_failures_of_its_address(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, base_delay=1)
    fail(throttle, "10.0.0.1")
    clock.now += 2
    throttle.attempt("10.0.0.1", None, lambda: True)

    assert fail(throttle, "10.0.0.1")[1].delay == 1


def test_a_browser_that_signed_in_before_is_not_locked_out_by_others(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, global_failures=5, max_failures=5, base_delay=0)
    for n in range(20):
        fail(throttle, "10.0.0.1")  # the therapist's own shared address
        fail(throttle, f"10.0.2.{n}")

    trusted = throttle.begin("10.0.0.1", device="the therapist's laptop")
    assert (trusted.allowed, trusted.reason) == (True, DEVICE)


def test_a_device_that_keeps_failing_loses_its_exemption(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, global_failures=50, max_failures=3, base_delay=0)
    for n in range(3):
        fail(throttle, f"10.0.3.{n}", device="stolen cookie")

    refused = throttle.begin("10.0.3.9", device="stolen cookie")
    assert refused.allowed  # no longer exempt, but this address has no failures of its own
    assert refused.reason == ADDRESS


def test_old_records_are_pruned(engine: Engine, clock: FakeClock) -> None:
    throttle = throttle_of(engine, clock, keep_records_for=86400)
    fail(throttle, "10.0.0.1")
    clock.now += 86401
    fail(throttle, "10.0.0.1")

    assert throttle.prune() == 1
    assert outcomes(engine) == [FAILURE]
