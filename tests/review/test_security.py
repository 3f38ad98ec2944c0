"""Passwords, session cookies, CSRF tokens and the sign-in throttle, one by one."""

import pytest

from review.security import (
    MINIMUM_PASSWORD_LENGTH,
    SessionManager,
    SignInThrottle,
    csrf_token_matches,
    hash_password,
    password_problem,
    verify_password,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_password_is_stored_as_an_argon2id_hash_that_only_it_matches() -> None:
    hashed = hash_password("correct horse battery staple")

    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapler")
    assert hash_password("correct horse battery staple") != hashed  # salted


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
def test_a_missing_or_broken_hash_matches_nothing(stored) -> None:
    assert verify_password(stored, "anything") is False


def test_weak_passwords_are_refused() -> None:
    assert password_problem("short")
    assert password_problem("a" * MINIMUM_PASSWORD_LENGTH)
    assert password_problem("a long test password 4 the review") is None


def test_a_session_cookie_reads_back_as_the_same_session(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    session = sessions.sign_in()

    read = sessions.read(sessions.cookie_value(session))
    assert (read.session_id, read.csrf_token, read.signed_in) == (session.session_id, session.csrf_token, True)


def test_a_cookie_signed_with_another_key_or_altered_is_no_session(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    cookie = sessions.cookie_value(sessions.sign_in())

    assert SessionManager("other secret", clock=clock).read(cookie) is None
    assert sessions.read(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert sessions.read("") is None and sessions.read(None) is None


def test_a_session_that_was_never_signed_in_is_anonymous(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    anonymous = sessions.new_session()

    assert sessions.read(sessions.cookie_value(anonymous)).signed_in is False


def test_signing_out_ends_the_session_even_if_the_browser_keeps_the_cookie(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    session = sessions.sign_in()
    cookie = sessions.cookie_value(session)

    sessions.sign_out(session)

    assert sessions.read(cookie).signed_in is False


def test_a_signed_in_session_ends_after_its_maximum_age(clock: FakeClock) -> None:
    sessions = SessionManager("secret", max_age=60, clock=clock)
    session = sessions.sign_in()
    cookie = sessions.cookie_value(session)

    clock.now += 61

    read = sessions.read(cookie)
    assert read is None or read.signed_in is False


def test_signing_in_gives_a_new_session_id_so_a_planted_one_is_useless(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    planted = sessions.new_session()
    signed_in = sessions.sign_in()

    assert signed_in.session_id != planted.session_id
    assert sessions.read(sessions.cookie_value(planted)).signed_in is False


def test_a_csrf_token_must_be_the_sessions_own(clock: FakeClock) -> None:
    sessions = SessionManager("secret", clock=clock)
    session, other = sessions.new_session(), sessions.new_session()

    assert csrf_token_matches(session, session.csrf_token)
    assert not csrf_token_matches(session, other.csrf_token)
    assert not csrf_token_matches(session, "")
    assert not csrf_token_matches(session, None)
    assert not csrf_token_matches(None, session.csrf_token)


def test_each_failed_sign_in_doubles_the_wait(clock: FakeClock) -> None:
    throttle = SignInThrottle(max_failures=10, base_delay=0.5, max_delay=100, clock=clock)

    delays = [throttle.record_failure("1.2.3.4") for _ in range(4)]

    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert throttle.wait_seconds("1.2.3.4") == 4.0
    assert throttle.wait_seconds("5.6.7.8") == 0.0


def test_the_wait_is_capped(clock: FakeClock) -> None:
    throttle = SignInThrottle(max_failures=50, base_delay=1, max_delay=3, clock=clock)
    assert max(throttle.record_failure("a") for _ in range(10)) == 3


def test_too_many_failures_lock_the_address_out(clock: FakeClock) -> None:
    throttle = SignInThrottle(max_failures=3, lockout=600, clock=clock)
    for _ in range(3):
        delay = throttle.record_failure("a")

    assert delay == 600
    clock.now += 599
    assert throttle.wait_seconds("a") > 0
    clock.now += 2
    assert throttle.wait_seconds("a") == 0


def test_a_success_forgets_the_failures(clock: FakeClock) -> None:
    throttle = SignInThrottle(base_delay=1, clock=clock)
    throttle.record_failure("a")
    throttle.record_failure("a")

    throttle.record_success("a")

    assert throttle.wait_seconds("a") == 0
    assert throttle.record_failure("a") == 1


def test_failures_older_than_the_window_are_forgotten(clock: FakeClock) -> None:
    throttle = SignInThrottle(base_delay=1, window=900, clock=clock)
    throttle.record_failure("a")
    throttle.record_failure("a")

    clock.now += 901

    assert throttle.record_failure("a") == 1
