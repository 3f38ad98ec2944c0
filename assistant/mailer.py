"""Hands an email to the therapist's SMTP server.

Alerts carry a link to the conversation, never its content: an email is not a safe
place for health information. `assistant.alert_worker` retries what fails here.
"""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Sequence

from assistant.settings import SmtpSettings

SMTP_TIMEOUT_SECONDS = 10
SEND_ERRORS = (OSError, smtplib.SMTPException)


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email, such as the `.ics` of a booked call."""

    filename: str
    content: bytes
    maintype: str
    subtype: str


def send_email(
    smtp: SmtpSettings, recipient: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
) -> None:
    """Hands one email to the SMTP server.

    Raises:
        OSError, smtplib.SMTPException: the server could not be reached or refused
            the message; the alert outbox records it and tries again later.
    """
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.sender
    message["To"] = recipient
    message.set_content(body)
    for attachment in attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    with smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password)
        client.send_message(message)
