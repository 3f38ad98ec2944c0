"""What the Rasa server does itself when the action server cannot answer.

Without this, a turn that needs the action server while it is down or restarting
ends in silence: Rasa logs the failure, drops the action's events and sends
nothing. The session notice (`action_session_start`) would never be sent, and
later answers would name the practice "None". So when a custom action gets no
answer at all (the connection fails, times out, or the server answers with an
error status), the Rasa server answers in its place, in the action server's own
answer format, with the domain's responses:

- `action_session_start` is the action server's own class run here: it needs
  nothing but the practice profile, so the notice never depends on the outage.
- `action_flag_crisis` sets the crisis flag and closes a half-filled form (the
  crisis resources are a domain response the rules send first, and the review
  app also flags a conversation from its `crisis` intent alone).
- a form's validation refuses this turn's values, so the form asks the same
  question again and carries on once the action server is back.
- everything else says `utter_assistant_unavailable`: it can't answer right now,
  how to reach the practice, and that the conversation is kept.

A refusal (HTTP 400, Rasa's `ActionExecutionRejection`) is an answer, not an
outage, and is left to Rasa.
"""

import asyncio
import functools
import logging
from typing import Any, Awaitable, Callable, Dict, List

import aiohttp
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import FORM_SLOTS
from actions.practice_text import booking_link_note, direct_contact_note
from actions.session import ActionSessionStart
from assistant.settings import ProfileError, practice_profile

logger = logging.getLogger(__name__)

OUTAGE_RESPONSE = "utter_assistant_unavailable"
CRISIS_FOLLOW_UP_RESPONSE = "utter_crisis_follow_up"
SESSION_START_ACTION = "action_session_start"
FLAG_CRISIS_ACTION = "action_flag_crisis"
CRISIS_FLAG_SLOT = "crisis_flag"
VALIDATION_PREFIX = "validate_"

# An answer in the action server's format: responses to utter and events to apply.
ActionAnswer = Dict[str, List[Any]]
RunAction = Callable[[RemoteAction, OutputChannel, NaturalLanguageGenerator, DialogueStateTracker, Domain],
                     Awaitable[List[Event]]]


def action_server_gave_no_answer(error: BaseException) -> bool:
    """Whether a custom action failed for want of an answer, not because it refused.

    Rasa raises a plain `RasaException` for a refused connection, a dropped one
    and an error status, keeping aiohttp's error as its cause or context, and
    lets a timeout through as it is.
    """
    if isinstance(error, ActionExecutionRejection):
        return False
    if isinstance(error, asyncio.TimeoutError):
        return True
    cause = error.__cause__ or error.__context__
    return isinstance(error, RasaException) and isinstance(cause, (aiohttp.ClientError, asyncio.TimeoutError))


def outage_values() -> Dict[str, str]:
    """How to reach the practice, from the profile; empty when it can't be read."""
    try:
        profile = practice_profile()
    except ProfileError:
        logger.exception("The practice profile could not be read for the outage message.")
        return {"direct_contact": "", "booking_link_note": ""}
    return {"direct_contact": direct_contact_note(profile), "booking_link_note": booking_link_note(profile)}


def already_said_this_turn(tracker: DialogueStateTracker, response: str) -> bool:
    """Whether `response` was sent since the visitor's latest message (once a turn is enough)."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and event.metadata.get("utter_action") == response:
            return True
    return False


def outage_answer(tracker: DialogueStateTracker) -> ActionAnswer:
    """The short "can't answer right now" message, once per turn."""
    if already_said_this_turn(tracker, OUTAGE_RESPONSE):
        return {"responses": [], "events": []}
    return {"responses": [{"response": OUTAGE_RESPONSE, **outage_values()}], "events": []}


async def session_start_answer(tracker: DialogueStateTracker, domain: Domain) -> ActionAnswer:
    """The action server's own session start, run here: the notice and the profile slots."""
    dispatcher = CollectingDispatcher()
    sdk_tracker = Tracker.from_dict(tracker.current_state())
    events = await ActionSessionStart().run(dispatcher, sdk_tracker, domain.as_dict())
    return {"responses": dispatcher.messages, "events": events}


def crisis_flag_answer() -> ActionAnswer:
    """What `action_flag_crisis` records, without its email (that waits for the action server)."""
    events = [SlotSet(CRISIS_FLAG_SLOT, True)] + [SlotSet(slot, None) for slot in FORM_SLOTS]
    return {"responses": [{"response": CRISIS_FOLLOW_UP_RESPONSE}], "events": events}


def form_refusal_answer(form: str, tracker: DialogueStateTracker, domain: Domain) -> ActionAnswer:
    """A form validation that refuses this turn's values, as a validator refuses a bad value.

    The values the visitor gave this turn go back to what they were before it,
    so the form does not move on unvalidated: it stays active and asks its
    current question again, and carries on once the action server is back.
    """
    form_slots = set(domain.required_slots_for_form(form))
    events = list(tracker.events)
    latest = max((i for i, event in enumerate(events) if isinstance(event, UserUttered)), default=-1)
    before = DialogueStateTracker.from_events(tracker.sender_id, events[: latest + 1], slots=domain.slots)
    given = {
        event.key for event in events[latest + 1 :]
        if isinstance(event, SlotSet) and event.key in form_slots and event.key != REQUESTED_SLOT
    }
    restored: List[Event] = [SlotSet(name, before.get_slot(name)) for name in sorted(given)]
    answer = outage_answer(tracker)
    answer["events"] = restored
    return answer


async def stand_in_answer(action_name: str, tracker: DialogueStateTracker, domain: Domain) -> ActionAnswer:
    """The answer the Rasa server gives in place of the action server for `action_name`."""
    if action_name == SESSION_START_ACTION:
        return await session_start_answer(tracker, domain)
    if action_name == FLAG_CRISIS_ACTION:
        return crisis_flag_answer()
    form = action_name[len(VALIDATION_PREFIX):]
    if action_name.startswith(VALIDATION_PREFIX) and form in domain.form_names:
        return form_refusal_answer(form, tracker, domain)
    return outage_answer(tracker)


def answering_in_place(run: RunAction) -> RunAction:
    """Wraps `RemoteAction.run` so that an action server giving no answer is stood in for.

    Args:
        run: Rasa's own `RemoteAction.run`.

    Returns:
        The same method; when the action server gives no answer, the stand-in's
        responses are uttered through Rasa's NLG exactly as the action server's
        would be, and its events returned.
    """

    @functools.wraps(run)
    async def run_or_stand_in(
        self: RemoteAction,
        output_channel: OutputChannel,
        nlg: NaturalLanguageGenerator,
        tracker: DialogueStateTracker,
        domain: Domain,
    ) -> List[Event]:
        try:
            return await run(self, output_channel, nlg, tracker, domain)
        except Exception as error:
            if not action_server_gave_no_answer(error):
                raise
            logger.error(
                "The action server gave no answer for '%s' (%s); the Rasa server answered in its place.",
                self.name(), error,
            )
            answer = await stand_in_answer(self.name(), tracker, domain)
            uttered = await self._utter_responses(answer["responses"], output_channel, nlg, tracker)
            return [*uttered, *_as_rasa_events(answer["events"])]

    return run_or_stand_in


def _as_rasa_events(events: List[Any]) -> List[Event]:
    """Rasa's events as they are; rasa-sdk's (plain dicts) read as Rasa reads the action server's."""
    return [event if isinstance(event, Event) else Event.from_parameters(event) for event in events]


def answer_in_place_of_the_action_server() -> None:
    """Makes Rasa stand in for the action server when it gives no answer (the entry point calls this)."""
    if not getattr(RemoteAction.run, "stands_in", False):
        RemoteAction.run = answering_in_place(RemoteAction.run)
        RemoteAction.run.stands_in = True  # type: ignore[attr-defined]
