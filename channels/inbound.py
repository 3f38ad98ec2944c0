"""What the channels accept from a visitor before the assistant sees it.

Every channel (REST, the website chat, Messenger) refuses the same things in the
same words: an empty message, one too long to be a question, or something that is
not text. Refusing here keeps such input out of the conversation (it is never
stored and never reaches the classifier, whose tokenizer rejects empty text), and
the visitor still gets a clear answer instead of silence.

Text that is accepted is normalised first, so that the classifier, the crisis
matcher and the stored transcript all read the same visible words: invisible
format characters (zero-width spaces and joiners, the byte-order mark, soft
hyphens, direction marks), control characters other than tabs and line breaks,
and lone surrogates are removed, the rest is put in Unicode NFC and trimmed. A
message that is only invisible characters is then empty, and is refused as such.
"""

import unicodedata
from dataclasses import dataclass
from typing import Any

import regex

MAX_MESSAGE_CHARACTERS = 5000
# Longer than this before normalising, a message cannot be a question of at most
# MAX_MESSAGE_CHARACTERS visible characters (NFD text has up to three code points a
# letter); refusing it at once keeps a huge message cheap.
MAX_RAW_CHARACTERS = 4 * MAX_MESSAGE_CHARACTERS
# The largest request body the Rasa server reads (Sanic's REQUEST_MAX_SIZE): ample for
# a 5,000-character message in any script, escaped as JSON, with its sender and metadata.
MAX_REQUEST_BYTES = 64 * 1024

# Format characters, surrogates (a decoded str holds only lone ones: JSON decoders join
# valid pairs) and control characters except tab, line feed and carriage return.
INVISIBLE_CHARACTERS = regex.compile(r"[\p{Cf}\p{Cs}[\p{Cc}--[\t\n\r]]]+", regex.VERSION1)

EMPTY_MESSAGE_REPLY = "Your message was empty. Please type your question and send it again."
TOO_LONG_REPLY = (
    f"That message is too long for me to read (more than {MAX_MESSAGE_CHARACTERS:,} characters). "
    "Could you ask your question in a shorter message?"
)
NOT_TEXT_REPLY = (
    "I can only read typed messages, so I couldn't see what you sent. "
    "Please type your question in words."
)

NO_SESSION_REPLY = (
    "This chat lost its place in the conversation. Please reload the page to carry on."
)


@dataclass(frozen=True)
class CheckedMessage:
    """A visitor's message as the assistant will read it, or the reply that refuses it."""

    text: str
    refusal: str | None = None


def check_message(message: Any) -> CheckedMessage:
    """Normalises a visitor's message and decides whether it may go to the assistant.

    The one check every channel calls, so that all of them accept and refuse alike.

    Args:
        message: what the channel received as the visitor's text (any type, since
            it comes from outside).

    Returns:
        The normalised text, or a refusal: a short explanation for the visitor.
    """
    if not isinstance(message, str):
        return CheckedMessage("", NOT_TEXT_REPLY)
    if len(message) > MAX_RAW_CHARACTERS:
        return CheckedMessage("", TOO_LONG_REPLY)
    text = normalised(message)
    if not text:
        return CheckedMessage("", EMPTY_MESSAGE_REPLY)
    if len(text) > MAX_MESSAGE_CHARACTERS:
        return CheckedMessage("", TOO_LONG_REPLY)
    return CheckedMessage(text)


def normalised(text: str) -> str:
    """The visible text of a message: invisible characters removed, NFC, trimmed.

    Invisible characters go before NFC so that a letter and its accent split by a
    zero-width character still compose; they go at all because they hide words
    from the classifier and the crisis matcher (a zero-width space inside "kill")
    and make a blank message look non-empty. Emoji joined by zero-width joiners
    show as their parts.
    """
    return unicodedata.normalize("NFC", INVISIBLE_CHARACTERS.sub("", text)).strip()


def refusal_for(message: Any) -> str | None:
    """The reply that refuses a visitor's message, or None when it may go to the assistant."""
    return check_message(message).refusal
