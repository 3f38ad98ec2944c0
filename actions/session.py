"""Starting and restarting conversations."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, Restarted, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

from actions.practice_text import profile_slot_events, response_values
from assistant.settings import practice_profile


class ActionSessionStart(Action):
    """Opens every conversation with the notice of what this assistant is.

    Visitors must know before anything else that they are talking to an automated
    assistant, that it is not for emergencies (with the crisis lines), and that the
    conversation is stored for the practice.
    """

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the notice and starts the session."""
        profile = practice_profile()
        dispatcher.utter_message(response="utter_assistant_notice", **response_values(profile))
        return [SessionStarted(), *profile_slot_events(profile), ActionExecuted("action_listen")]


class ActionStartOver(Action):
    """Clears the conversation when the visitor asks to start over."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_start_over"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Says so, then restarts: slots and any half-filled form are forgotten."""
        dispatcher.utter_message(response="utter_started_over")
        return [Restarted()]
