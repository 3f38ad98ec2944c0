"""What the booking form accepts from visitors, and why it refuses the rest."""

import pytest

from actions.booking_details import (
    InvalidDetail,
    clean_name,
    clean_times,
    looks_like_question,
    parse_contact,
)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("Jordan Lee", "Jordan Lee"),
        ("my name is Sam", "Sam"),
        ("I'm Nguyen Thi Lan", "Nguyen Thi Lan"),
        ("maria lopez", "Maria Lopez"),
        ("it's Dev.", "Dev"),
        ("José", "José"),
    ],
)
def test_a_name_is_kept_without_the_introduction(typed: str, expected: str) -> None:
    assert clean_name(typed) == expected


@pytest.mark.parametrize("typed", ["", "   ", "12345", "jo@example.com", "hi", "yes", "x" * 200])
def test_something_that_is_not_a_name_is_refused(typed: str) -> None:
    with pytest.raises(InvalidDetail):
        clean_name(typed)


@pytest.mark.parametrize(
    "typed, value, kind",
    [
        ("jordan@example.com", "jordan@example.com", "email"),
        ("my email is Jo.Smith+kap@Mail.Example.ORG", "Jo.Smith+kap@mail.example.org", "email"),
        ("555-201-3344", "555-201-3344", "phone"),
        ("call me at (415) 555 0199 please", "(415) 555 0199", "phone"),
        ("+1 212 555 0143", "+1 212 555 0143", "phone"),
    ],
)
def test_an_email_or_phone_is_found_in_the_answer(typed: str, value: str, kind: str) -> None:
    contact = parse_contact(typed)
    assert (contact.value, contact.kind) == (value, kind)


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("ana@gmail", "email address seems incomplete"),
        ("jo@", "email address seems incomplete"),
        ("555-12", "7 to 15 digits"),
        ("just email me", "couldn't find an email address or a phone number"),
        ("", "empty"),
        ("a" * 1000 + "@example.com", "too long"),
    ],
)
def test_an_invalid_contact_is_refused_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidDetail, match=reason):
        parse_contact(typed)


def test_times_are_kept_as_written_with_spaces_tidied() -> None:
    assert clean_times("  tues or thurs   after 5 ") == "tues or thurs after 5"


@pytest.mark.parametrize("typed", ["", "?!", "x" * 400])
def test_times_without_content_or_too_long_are_refused(typed: str) -> None:
    with pytest.raises(InvalidDetail):
        clean_times(typed)


@pytest.mark.parametrize("text", ["do you take insurance?", "how long is a session", "is it safe?"])
def test_questions_are_recognised(text: str) -> None:
    assert looks_like_question(text)


@pytest.mark.parametrize("text", ["Will Smith", "weekday mornings", "jordan@example.com", "Is"])
def test_answers_are_not_taken_for_questions(text: str) -> None:
    assert not looks_like_question(text)
