"""Checks what visitors type into the booking form; pure functions, no Rasa.

Each checker returns the cleaned value, or raises `InvalidDetail` with a reason
in plain words that the form shows when it asks again.
"""

import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 80
MAX_NAME_WORDS = 6
MAX_TIMES_LENGTH = 300
MAX_CONTACT_LENGTH = 320
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+?\(?\d[\d\s().-]{4,}\d")
NAME_PREFIXES = re.compile(
    r"^(?:hi|hello|hey)?[\s,]*(?:my name is|my name's|name is|name's|i am|i'm|im|it's|its|"
    r"this is|call me|you can call me|it is)\s+",
    re.IGNORECASE,
)


# Replies that the form may receive when it asks for a name, but that are not names.
NOT_NAMES = {"hi", "hello", "hey", "yes", "no", "ok", "okay", "thanks", "thank you", "bye", "why", "what"}


QUESTION_WORDS = {
    "what", "how", "why", "when", "where", "who", "which", "is", "are", "do", "does",
    "can", "could", "will", "would", "should", "am", "may",
}
MIN_QUESTION_WORDS = 3


def looks_like_question(text: str) -> bool:
    """True for "do you take insurance?" or "how long is a session", not "Will Smith"."""
    words = (text or "").lower().split()
    return "?" in (text or "") or (len(words) >= MIN_QUESTION_WORDS and words[0] in QUESTION_WORDS)


class InvalidDetail(ValueError):
    """A form answer that cannot be used; the message says why, for the visitor."""


@dataclass(frozen=True)
class ContactDetail:
    """How the therapist can reach the visitor."""

    value: str
    kind: str  # "email" or "phone"


def clean_name(text: str) -> str:
    """The visitor's name without "my name is" and the like."""
    name = NAME_PREFIXES.sub("", (text or "").strip()).strip(" .,!?\"'")
    if not name or not re.search(r"[^\W\d_]", name) or name.lower() in NOT_NAMES:
        raise InvalidDetail("there was no name in it")
    if len(name) > MAX_NAME_LENGTH or len(name.split()) > MAX_NAME_WORDS:
        raise InvalidDetail("that looks longer than a name")
    if "@" in name or sum(ch.isdigit() for ch in name) >= 3:
        raise InvalidDetail("that looks like contact details rather than a name")
    return name.title() if name.islower() else name


def parse_contact(text: str) -> ContactDetail:
    """Finds an email address or a phone number in what the visitor typed."""
    text = (text or "").strip()
    if not text:
        raise InvalidDetail("the message was empty")
    if len(text) > MAX_CONTACT_LENGTH:
        raise InvalidDetail("the message was too long")
    email = EMAIL.search(text)
    if email:
        local, _, domain = email.group(0).partition("@")
        return ContactDetail(f"{local}@{domain.lower()}", "email")
    if "@" in text:
        raise InvalidDetail("the email address seems incomplete")
    phone = PHONE.search(text)
    if phone:
        digits = re.sub(r"\D", "", phone.group(0))
        if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
            raise InvalidDetail(f"a phone number has {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits")
        return ContactDetail(phone.group(0).strip(), "phone")
    if any(ch.isdigit() for ch in text):
        raise InvalidDetail(f"a phone number has {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits")
    raise InvalidDetail("I couldn't find an email address or a phone number in it")


def clean_times(text: str) -> str:
    """The times that suit the visitor, as they wrote them."""
    times = " ".join((text or "").split())
    if not re.search(r"[^\W_]", times):
        raise InvalidDetail("the message had no days or times in it")
    if len(times) > MAX_TIMES_LENGTH:
        raise InvalidDetail("that is longer than I can pass on")
    return times
