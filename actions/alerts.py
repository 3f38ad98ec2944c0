"""Alerts to the therapist about a conversation that needs her attention."""

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from assistant import settings
from assistant.alert_outbox import enqueue_alert
from assistant.alert_worker import running_worker
from assistant.conversation_references import ConversationReferences
from assistant.database import engine_for
from assistant.mailer import SEND_ERRORS, send_email
from assistant.settings import SmtpSettings

logger = logging.getLogger(__name__)


def conversation_link(conversation_id: str) -> str:
    """Where the therapist reads a conversation in the review app.

    By an opaque reference, never the id: the email crosses mail servers the
    practice does not run, and the review app opens it only after sign-in.
    """
    reference = ConversationReferences.from_secret().reference_for(conversation_id)
    return f"{settings.review_base_url()}/alerts/{reference}"


def alert_therapist_in_background(subject: str, conversation_id: str) -> None:
    """Emails the therapist without making the visitor wait for the mail server.

    The alert is written to the outbox in this turn (a few milliseconds) and the
    action server's worker emails it, retrying until SMTP accepts it, so a mail
    server that is down delays the alert but never loses it. Without SMTP
    settings the alert is only logged, as documented. The email holds only a
    link: conversations are health information.
    """
    body = (
        f"{subject}.\n\nRead the conversation (sign-in required):\n"
        f"{conversation_link(conversation_id)}\n"
    )
    logger.info("Therapist alert: %s", subject)
    smtp = settings.smtp_settings()
    if smtp is None:
        logger.info("SMTP is not configured; the alert was only logged.")
        return
    engine = engine_for(settings.database_url())
    try:
        enqueue_alert(engine, subject, body, smtp.recipient)
    except SQLAlchemyError:
        # The outbox is unreachable: one direct try is better than none.
        logger.exception("The alert could not be written to the outbox; emailing it once directly.")
        asyncio.get_running_loop().run_in_executor(None, send_once, smtp, subject, body)
        return
    running_worker(engine).wake()


def send_once(smtp: SmtpSettings, subject: str, body: str) -> None:
    """Emails an alert without the outbox; a failure is logged, never raised."""
    try:
        send_email(smtp, smtp.recipient, subject, body)
    except SEND_ERRORS as error:
        logger.error("Could not email the therapist (%s): %s", smtp.host, error)
