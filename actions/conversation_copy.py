"""A copy of the conversation for the visitor, emailed to the address they gave when booking.

Only that address: the visitor proved nothing about any other one, and a copy
sent to an address typed on request would let anyone mail a stranger's chat to
themselves or flood someone's inbox. The copy is what the visitor and the
assistant said, as the review app's transcript reads it (`review.transcript`),
without the therapist's annotations (intents, confidences, form steps).

The copy goes straight to the mail server while the visitor waits, not through
the alert outbox: an outbox row keeps its body after sending, and a transcript
kept there would outlive the conversation's retention period and its deletion.
If the mail server refuses, the visitor is told at once and can ask again.
"""

from datetime import datetime, timezone
from typing import List, Sequence

from sqlalchemy.engine import Engine

from assistant.database import booking_requests_for
from assistant.mailer import send_email
from assistant.settings import SmtpSettings
from review.queries import conversation_events
from review.transcript import ASSISTANT, VISITOR, TranscriptEntry, build_transcript

EMAIL_KIND = "email"
SUBJECT = "Your conversation with {practice_name}"
INTRODUCTION = (
    "Here is the copy of your conversation with the automated assistant of "
    "{practice_name} that you asked for. Times are in UTC.\n"
    "Email is not a private channel: keep this message somewhere safe, or delete it."
)
CLOSING = (
    "You asked for this copy in the chat; it was sent only to the address you gave "
    "when booking the free consultation call. To delete the conversation from the "
    'practice\'s records, type "delete my conversation" in the chat.'
)
SPEAKERS = {VISITOR: "You", ASSISTANT: "Assistant"}


def booking_email(engine: Engine, conversation_id: str) -> str | None:
    """The email address of this conversation's newest booking request, if it gave one."""
    requests = booking_requests_for(engine, conversation_id)
    emails = [row["contact"] for row in requests if row["contact_kind"] == EMAIL_KIND]
    return emails[-1] if emails else None


def copy_lines(entries: Sequence[TranscriptEntry]) -> List[str]:
    """What each side said, oldest first; widget payloads nobody typed (`/greet`) are left out."""
    lines = []
    for entry in entries:
        if entry.kind not in SPEAKERS:
            continue
        text = entry.pressed or entry.text
        if entry.kind == VISITOR and not entry.pressed and text.startswith("/"):
            continue
        if not text.strip():
            continue
        when = datetime.fromtimestamp(entry.timestamp, tz=timezone.utc).strftime("%d %b %Y %H:%M")
        lines.append(f"{when}  {SPEAKERS[entry.kind]}: {text}")
    return lines


def copy_text(engine: Engine, conversation_id: str, practice_name: str) -> str:
    """The body of the email: the stored conversation between an introduction and a closing."""
    with engine.connect() as connection:
        entries = build_transcript(conversation_events(connection, conversation_id))
    body = "\n\n".join(copy_lines(entries))
    return f"{INTRODUCTION.format(practice_name=practice_name)}\n\n{body}\n\n{CLOSING}\n"


def send_copy(smtp: SmtpSettings, engine: Engine, conversation_id: str, recipient: str, practice_name: str) -> None:
    """Emails the copy to `recipient` through the practice's SMTP server.

    Raises:
        OSError, smtplib.SMTPException: the mail server could not be reached or refused it.
        sqlalchemy.exc.SQLAlchemyError: the conversation could not be read.
    """
    body = copy_text(engine, conversation_id, practice_name)
    send_email(smtp, recipient, SUBJECT.format(practice_name=practice_name), body)
