"""Safety: flagging conversations in which someone may be in danger, and medical questions.

A message that mentions suicide or self-harm without sounding like danger now
(history, grief, a question about risks) gets its answer followed by one gentle
line with the crisis number; medical questions get the deferral to the prescriber.
"""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.alerts import alert_therapist_in_background
from actions.booking import FORM_SLOTS
from actions.gentle_line import send_gentle_line_if_sensitive


class ActionDeferMedicalQuestion(Action):
    """Defers dosing, medication and diagnosis questions to the prescriber, never advising."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_defer_medical_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the deferral, and the gentle line when the message touched on danger."""
        dispatcher.utter_message(response="utter_medical_question")
        send_gentle_line_if_sensitive(dispatcher, tracker)
        return []


class ActionFlagCrisis(Action):
    """Marks the conversation for the therapist after the crisis resources were sent.

    Runs right after `utter_crisis_resources`, so the resources never wait on this
    action. It forgets any half-filled booking details; the rules then close an
    open booking form, since it is no time to ask for a phone number.
    """

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_flag_crisis"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sets the crisis flag and alerts the therapist (by email when configured)."""
        alert_therapist_in_background("A conversation was flagged: possible crisis", tracker.sender_id)
        dispatcher.utter_message(response="utter_crisis_follow_up")
        return [SlotSet("crisis_flag", True)] + [SlotSet(slot, None) for slot in FORM_SLOTS]
