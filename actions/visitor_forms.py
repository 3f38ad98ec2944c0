"""What the booking form and the move/cancel form share when they ask the visitor for details.

Both ask for a contact and refuse one the same way, and both take the time zone the
chat widget reports; keeping that here means a change to either reaches both forms.
"""

from abc import ABC, abstractmethod
from typing import Any, Dict, List

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.booking_calendar import time_zone_slot_from_browser
from actions.booking_details import InvalidDetail, parse_contact
from actions.practice_text import response_values
from assistant import settings


def refuse_answer(
    dispatcher: CollectingDispatcher, slot: str, error: InvalidDetail, detail: str | None = None
) -> Dict[str, Any]:
    """Says why an answer was refused; the form then asks for it again.

    Args:
        dispatcher: Where the refusal is said.
        slot: The slot that stays empty.
        error: The reason, in the visitor's words.
        detail: The detail the slot holds, when its name differs (`manage_contact` holds a contact),
            so both forms refuse it with the same `utter_invalid_<detail>`.
    """
    dispatcher.utter_message(
        response=f"utter_invalid_{detail or slot}",
        reason=str(error),
        **response_values(settings.practice_profile()),
    )
    return {slot: None}


def contact_answer(dispatcher: CollectingDispatcher, slot: str, value: Any) -> Dict[str, Any]:
    """Keeps the email address or phone number found in the answer, or says why there is none."""
    try:
        return {slot: parse_contact(str(value or "")).value}
    except InvalidDetail as error:
        return refuse_answer(dispatcher, slot, error, detail="contact")


class VisitorDetailsForm(FormValidationAction, ABC):
    """Base of the forms that ask the visitor for details; an ABC, so rasa-sdk does not register it.

    A form says which slots to ask in `slots_to_ask` (from the slots the domain maps and the
    conversation so far) and names itself in `name`; the time zone the chat widget reports
    with each message is taken here, so neither form asks for it when the browser told it.
    """

    @abstractmethod
    def slots_to_ask(self, domain_slots: List[str], tracker: Tracker) -> List[str]:
        """The slots still to fill, in order; rasa-sdk's `required_slots` asks for them."""

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        """The form's choice of slots (`slots_to_ask`); neither form needs the dispatcher or domain for it."""
        return self.slots_to_ask(domain_slots, tracker)

    async def extract_visitor_time_zone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Takes the time zone the chat widget reports with each message, so it is not asked."""
        return time_zone_slot_from_browser(tracker)
