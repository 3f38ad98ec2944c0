"""What the channels accept from a visitor before the assistant sees it.

Both channels refuse the same things in the same words: an empty message, one too
long to be a question, or something that is not text. Refusing here keeps such
input out of the conversation (it is never stored and never reaches the
classifier, whose tokenizer rejects empty text), and the visitor still gets a
clear answer instead of silence.
"""

from typing import Any

MAX_MESSAGE_CHARACTERS = 5000

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


def refusal_for(message: Any) -> str | None:
    """The reply that refuses a visitor's message, or None when it may go to the assistant.

    Args:
        message: what the channel received as the visitor's text (any type, since
            it comes from outside).

    Returns:
        A short explanation for the visitor, or None for acceptable text.
    """
    if not isinstance(message, str):
        return NOT_TEXT_REPLY
    if not message.strip():
        return EMPTY_MESSAGE_REPLY
    if len(message) > MAX_MESSAGE_CHARACTERS:
        return TOO_LONG_REPLY
    return None
