"""Passwords, session cookies, device cookies and CSRF tokens, one by one."""

import pytest

from review.security import (
    MINIMUM_PASSWORD_LENGTH,
    DeviceCookies,
    SessionManager,
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


def test_a_device_cookie_reads_back_only_with_its_key() -> None:
    devices = DeviceCookies("secret")
    device_id, cookie = devices.issue()

    assert devices.read(cookie) == device_id
    assert devices.issue(device_id)[0] == device_id
    assert DeviceCookies("other secret").read(cookie) is None
    assert devices.read(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert devices.read(None) is None and devices.read("") is None
