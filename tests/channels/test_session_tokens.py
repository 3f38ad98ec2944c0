"""Session tokens: only the server's key makes one, and a token proves exactly its own id."""

import secrets

import pytest

from channels.session_tokens import SessionTokens


@pytest.fixture
def tokens() -> SessionTokens:
    """Tokens signed with a fresh key."""
    return SessionTokens(secrets.token_bytes(32))


def test_an_issued_token_proves_its_conversation(tokens: SessionTokens) -> None:
    session_id, token = tokens.issue()
    assert len(session_id) == 32 and token.startswith(session_id + ".")
    assert tokens.session_of(token) == session_id


def test_every_conversation_gets_a_new_random_id(tokens: SessionTokens) -> None:
    assert len({tokens.issue()[0] for _ in range(1000)}) == 1000


def test_a_token_signed_with_another_key_proves_nothing(tokens: SessionTokens) -> None:
    _, foreign = SessionTokens(secrets.token_bytes(32)).issue()
    assert tokens.session_of(foreign) is None


def test_a_signature_moved_to_another_id_proves_nothing(tokens: SessionTokens) -> None:
    own_id, own_token = tokens.issue()
    victim_id, _ = tokens.issue()
    assert tokens.session_of(own_token.replace(own_id, victim_id)) is None


@pytest.mark.parametrize(
    "forged", [None, 42, b"bytes", "", "abc", "0" * 32, "0" * 32 + ".", "x" * 10_000, ["a", "list"]]
)
def test_anything_else_proves_nothing(tokens: SessionTokens, forged: object) -> None:
    assert tokens.session_of(forged) is None


def test_a_changed_character_anywhere_proves_nothing(tokens: SessionTokens) -> None:
    _, token = tokens.issue()
    for position, character in enumerate(token):
        if character == ".":
            continue
        changed = token[:position] + ("1" if character != "1" else "2") + token[position + 1 :]
        assert tokens.session_of(changed) is None, position


def test_the_same_key_after_a_restart_still_accepts_the_token(tokens: SessionTokens) -> None:
    session_id, token = tokens.issue()
    assert SessionTokens(tokens.key).session_of(token) == session_id


def test_processes_that_share_the_signing_key_accept_each_others_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_SIGNING_KEY", secrets.token_urlsafe(32))
    session_id, token = SessionTokens.from_secret().issue()
    assert SessionTokens.from_secret().session_of(token) == session_id
    monkeypatch.setenv("SESSION_SIGNING_KEY", secrets.token_urlsafe(32))
    assert SessionTokens.from_secret().session_of(token) is None
