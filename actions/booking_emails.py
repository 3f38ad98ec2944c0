"""The visitor's email about their booked call, with the call as an `.ics` file.

Sent only when the visitor gave an email address and agreed to be contacted, and
only off the event loop, so a slow mail server never holds up the chat. The email
names the practice, the therapist and the time, nothing else. Its outcome (sent,
not sent and why) is stored on the booking request for the review app.
"""

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Dict

from actions.calendar_client import CallEvent, call_document
from actions.calendar_slots import slot_description
from assistant import settings
from assistant.database import booking_request, engine_for, update_booking_request
from assistant.mailer import SEND_ERRORS, Attachment, send_email

logger = logging.getLogger(__name__)

ERROR_TEXT_LIMIT = 250


def _aware(moment: datetime) -> datetime:
    """Times read back from SQLite lose their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def email_texts(kind: str, request: Dict[str, Any]) -> tuple:
    """The subject and body for one kind of email, from `practice.yml`."""
    profile = settings.practice_profile()
    texts = profile.consultation.get("emails") or {}
    zone = request.get("visitor_time_zone") or "UTC"
    values = {
        "first_name": (request.get("name") or "").split()[0] if request.get("name") else "",
        "therapist_name": profile.therapist_name,
        "practice_name": profile.practice_name,
        "call_time": slot_description(_aware(request["slot_start"]), zone),
    }
    return str(texts[f"{kind}_subject"]).format(**values), str(texts[kind]).format(**values)


def visitor_calendar_file(kind: str, request: Dict[str, Any]) -> Attachment:
    """The `.ics` for the visitor's own calendar: an invitation, or its cancellation."""
    profile = settings.practice_profile()
    start = _aware(request["slot_start"])
    end = _aware(request["slot_end"]) if request.get("slot_end") else start + timedelta(minutes=15)
    event = CallEvent(
        uid=request.get("calendar_event_uid") or f"consultation-{request['id']}@practice-assistant",
        start=start,
        end=end,
        summary=f"Free consultation call with {profile.therapist_name}",
        description=profile.practice_name,
        sequence=1 if kind == "cancelled" else 0,
    )
    cancelled = kind == "cancelled"
    content = call_document(event, method="CANCEL" if cancelled else "PUBLISH", cancelled=cancelled)
    return Attachment("consultation-call.ics", content, "text", "calendar")


def send_call_email(request_id: int, kind: str) -> str:
    """Sends the email now and records the outcome; returns it ("sent", or why not)."""
    engine = engine_for(settings.database_url())
    request = booking_request(engine, request_id)
    outcome = _send(request, kind) if request else "not sent: the booking was not found"
    if request:
        update_booking_request(engine, request_id, {"confirmation_email": f"{kind}: {outcome}"[:300]})
    return outcome


def _send(request: Dict[str, Any], kind: str) -> str:
    if request.get("contact_kind") != "email" or not request.get("consent"):
        return "not sent: no email address with consent"
    smtp = settings.smtp_settings()
    if smtp is None:
        return "not sent: email is not configured (SMTP_HOST)"
    subject, body = email_texts(kind, request)
    try:
        send_email(smtp, request["contact"], subject, body, [visitor_calendar_file(kind, request)])
    except SEND_ERRORS as error:
        logger.error("Could not email the visitor about booking %s: %s", request["id"], type(error).__name__)
        return f"failed: {type(error).__name__}: {str(error)[:ERROR_TEXT_LIMIT]}"
    return "sent"


def send_call_email_in_background(request_id: int, kind: str) -> asyncio.Future:
    """Sends the email without making the visitor wait; a failure is recorded, never raised."""

    def send() -> None:
        try:
            send_call_email(request_id, kind)
        except Exception:  # noqa: BLE001 - a background email must never crash the action server
            logger.exception("The %s email for booking %s failed", kind, request_id)

    return asyncio.get_running_loop().run_in_executor(None, send)


def wants_email(request: Dict[str, Any]) -> bool:
    """Whether the visitor will get an email about the call."""
    has_email = request.get("contact_kind") == "email" and bool(request.get("consent"))
    return has_email and settings.smtp_settings() is not None
