"""What Rasa may store of a turn in which the visitor deleted their conversation.

The action server deletes everything stored about the conversation while the turn
runs (`actions.visitor_rights`), but Rasa stores the turn only afterwards, and
its SQL tracker store writes every event of the tracker in memory that it does
not find in the database. With the rows gone it would write the whole deleted
session back. So the tracker store asks this module where the erased
conversation ends: the deleting action confirms the deletion with a `Restarted`
event, and nothing up to it (the old conversation, the visitor's "yes", the
assistant's "deleted") is stored. The conversation starts afresh at the
visitor's next message, with the notice, as any new conversation does.
"""

from typing import Iterable, Sequence

from rasa.shared.core.events import ActionExecuted, Event, Restarted, UserUttered

ERASING_ACTION = "action_delete_conversation"


def first_event_to_store(events: Iterable[Event]) -> int | None:
    """The index of the first event that may still be stored; None when nothing was erased.

    Args:
        events: the tracker's events, oldest first.

    Returns:
        None when no deletion was confirmed among `events`; otherwise the index of
        the first visitor message after the last confirmed deletion (or the number
        of events when there is none), so that everything before it is dropped.
    """
    ordered: Sequence[Event] = list(events)
    erased_up_to: int | None = None
    last_action: str | None = None
    for index, event in enumerate(ordered):
        if isinstance(event, ActionExecuted):
            last_action = event.action_name
        elif isinstance(event, Restarted) and last_action == ERASING_ACTION:
            erased_up_to = index
    if erased_up_to is None:
        return None
    for index in range(erased_up_to + 1, len(ordered)):
        if isinstance(ordered[index], UserUttered):
            return index
    return len(ordered)
