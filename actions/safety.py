"""Flagging conversations in which someone may be in danger."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.alerts import alert_therapist_in_background
from actions.booking import FORM_SLOTS


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
