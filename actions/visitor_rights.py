"""The visitor's own rights in the chat: deleting the conversation, and a copy of it by email.

Deleting asks first (a rule says `utter_confirm_delete_conversation`); on "yes"
`action_delete_conversation` deletes everything stored about the conversation
and confirms it with a `Restarted` event, which tells the tracker store not to
write the deleted turn back (`assistant.conversation_erasure`). The visitor's
next message starts a new conversation, with the notice.
"""

import asyncio
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, Restarted
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_calendar import CalendarNotUsed, delete_call, record
from actions.conversation_copy import booking_email, send_copy
from actions.practice_text import response_values
from actions.visitor_erasure import CANCELLED, booked_calls, erase_conversation
from assistant import settings
from assistant.database import engine_for
from assistant.mailer import SEND_ERRORS

logger = logging.getLogger(__name__)

# The website chat widget clears the conversation it shows when it gets this.
WIDGET_CHANNEL = "socketio"
WIDGET_DELETED_SIGNAL = {"data": {"conversation_deleted": True}}
# A visitor may ask for a few copies in one session, not flood an inbox with them.
MAX_COPIES_A_SESSION = 3
COPY_SENT_RESPONSE = "utter_transcript_sent"


class ActionDeleteConversation(Action):
    """Deletes the visitor's conversation once they have confirmed it."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_delete_conversation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Deletes, then says so plainly; says so just as plainly when it could not."""
        values = response_values(settings.practice_profile())
        channel = tracker.get_latest_input_channel()

        def erase() -> None:
            erase_conversation(engine_for(settings.database_url()), tracker.sender_id, channel)

        try:
            await cancel_booked_calls(tracker.sender_id)
            await asyncio.get_running_loop().run_in_executor(None, erase)
        except Exception:  # noqa: BLE001 - any failure must reach the visitor, who then still has a conversation
            logger.exception("A visitor's conversation could not be deleted")
            dispatcher.utter_message(response="utter_conversation_not_deleted", **values)
            return []
        dispatcher.utter_message(response="utter_conversation_deleted", **values)
        if channel == WIDGET_CHANNEL:
            dispatcher.utter_message(json_message=WIDGET_DELETED_SIGNAL)
        # Restarted marks the deletion for the tracker store; without the follow-up
        # Rasa would start a new session at once, stored under the same id.
        return [Restarted(), FollowupAction("action_listen")]


async def cancel_booked_calls(conversation_id: str) -> None:
    """Takes the conversation's booked calls out of the therapist's calendar.

    Raises:
        CalendarUnavailable: the calendar could not be reached; the deletion must wait.
    """
    loop = asyncio.get_running_loop()
    calls = await loop.run_in_executor(None, lambda: booked_calls(engine_for(settings.database_url()), conversation_id))
    for call in calls:
        try:
            await delete_call(call["calendar_event_url"])
        except CalendarNotUsed:
            # The practice stopped using the calendar: the event is hers to remove.
            logger.warning("Booking %s: the calendar is no longer configured; its event was left.", call["id"])
            continue
        # Recorded at once, so a deletion that fails next leaves a true record.
        await loop.run_in_executor(None, record, call["id"], {"calendar_status": CANCELLED})


def copies_sent(tracker: Tracker) -> int:
    """How many copies this session has sent already."""
    return sum(
        1
        for event in tracker.events
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == COPY_SENT_RESPONSE
    )


class ActionSendTranscript(Action):
    """Emails the visitor a copy of the conversation, to the address of their booking only."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_send_transcript"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the copy, or says why not: no booking email, no email set up, too many, a failure."""
        values = response_values(settings.practice_profile())
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(None, engine_for, settings.database_url())
            recipient = await loop.run_in_executor(None, booking_email, engine, tracker.sender_id)
        except Exception:  # noqa: BLE001 - told to the visitor below
            logger.exception("The booking email of a conversation could not be read")
            dispatcher.utter_message(response="utter_transcript_failed", **values)
            return []
        smtp = settings.smtp_settings()
        if recipient is None:
            dispatcher.utter_message(response="utter_transcript_no_email", **values)
        elif smtp is None:
            dispatcher.utter_message(response="utter_transcript_email_off", **values)
        elif copies_sent(tracker) >= MAX_COPIES_A_SESSION:
            dispatcher.utter_message(response="utter_transcript_limit", **values)
        else:
            await self._send(dispatcher, values, smtp, engine, tracker.sender_id, recipient)
        return []

    @staticmethod
    async def _send(
        dispatcher: CollectingDispatcher,
        values: Dict[str, str],
        smtp: settings.SmtpSettings,
        engine: Any,
        conversation_id: str,
        recipient: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, send_copy, smtp, engine, conversation_id, recipient, values["practice_name"]
            )
        except SEND_ERRORS as error:
            # The server's reply may name the address; the error's kind is enough for the log.
            logger.error("A conversation copy could not be emailed: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_transcript_failed", **values)
            return
        except Exception:  # noqa: BLE001 - a database failure while reading the conversation
            logger.exception("A conversation copy could not be prepared")
            dispatcher.utter_message(response="utter_transcript_failed", **values)
            return
        dispatcher.utter_message(response=COPY_SENT_RESPONSE, email=recipient, **values)
