"""Alerts to the therapist about a conversation that needs her attention."""

import asyncio
from urllib.parse import quote

from assistant import settings
from assistant.mailer import notify_therapist


def conversation_link(conversation_id: str) -> str:
    """Where the therapist reads a conversation in the review app."""
    return f"{settings.review_base_url()}/conversations/{quote(conversation_id, safe='')}"


def alert_therapist_in_background(subject: str, conversation_id: str) -> None:
    """Emails the therapist without making the visitor wait for the mail server.

    The email holds only a link: conversations are health information.
    """
    body = (
        f"{subject}.\n\nRead the conversation (sign-in required):\n"
        f"{conversation_link(conversation_id)}\n"
    )
    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, notify_therapist, settings.smtp_settings(), subject, body)
