"""Conversation references: opaque in a link, opened only with the assistant's key."""

import secrets

import pytest

from assistant.conversation_references import ConversationReferences


@pytest.fixture
def references() -> ConversationReferences:
    """References under a fresh key."""
    return ConversationReferences(secrets.token_bytes(64))


@pytest.mark.parametrize("conversation_id", ["0f3a9c2e" * 4, "2460913874512345", "test-abc/def?x=1 é"])
def test_a_reference_names_nothing_and_opens_to_its_conversation(
    references: ConversationReferences, conversation_id: str
) -> None:
    reference = references.reference_for(conversation_id)
    assert conversation_id not in reference and "abc" not in reference
    assert all(character.isalnum() or character in "-_" for character in reference)
    assert references.conversation_of(reference) == conversation_id


def test_every_alert_about_one_conversation_carries_the_same_link(references: ConversationReferences) -> None:
    assert references.reference_for("visitor-1") == references.reference_for("visitor-1")
    assert references.reference_for("visitor-1") != references.reference_for("visitor-2")


def test_another_key_cannot_open_a_reference(references: ConversationReferences) -> None:
    reference = references.reference_for("visitor-1")
    assert ConversationReferences(secrets.token_bytes(64)).conversation_of(reference) is None


@pytest.mark.parametrize("reference", ["", "!!", "a", "A" * 64, "x" * 5000, None, 42])
def test_anything_not_made_by_the_key_opens_nothing(references: ConversationReferences, reference: object) -> None:
    assert references.conversation_of(reference) is None


def test_an_altered_reference_opens_nothing_even_in_base64_s_unused_bits() -> None:
    """Over many keys: the last character's unused bits once let about one key in four open an altered link."""
    for _ in range(30):
        references = ConversationReferences(secrets.token_bytes(64))
        reference = references.reference_for("visitor-1")
        for position, character in enumerate(reference):
            altered = reference[:position] + ("B" if character != "B" else "C") + reference[position + 1 :]
            assert references.conversation_of(altered) is None, position


def test_processes_sharing_the_key_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERSATION_REFERENCE_KEY", secrets.token_urlsafe(32))
    reference = ConversationReferences.from_secret().reference_for("visitor-1")
    assert ConversationReferences.from_secret().conversation_of(reference) == "visitor-1"
