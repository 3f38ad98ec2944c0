"""Emails the therapist through SMTP when it is configured; logs the alert either way.

Alerts carry a link to the conversation, never its content: an email is not a safe
place for health information.
"""

import logging
import smtplib
import ssl
from email.message import EmailMessage

from assistant.settings import SmtpSettings

logger = logging.getLogger(__name__)


def notify_therapist(smtp: SmtpSettings | None, subject: str, body: str) -> bool:
    """Sends an alert email; returns True when it was handed to the SMTP server.

    Failures are logged and swallowed: a mail server being down must never stop
    the assistant from answering the visitor.
    """
    logger.info("Therapist alert: %s", subject)
    if smtp is None:
        logger.info("SMTP is not configured; the alert was only logged.")
        return False
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.sender
    message["To"] = smtp.recipient
    message.set_content(body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        logger.error("Could not email the therapist (%s): %s", smtp.host, error)
        return False
    return True
