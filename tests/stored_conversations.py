"""Conversations stored as the Rasa server stores them, and what the database keeps about one.

For the tests of the visitor's deletion. Conversations are written by the
project's tracker store (Rasa's SQL store) from Rasa's own events, turn by turn,
as the Rasa server writes them at the end of each turn. `rows_of` counts, table
by table, what is kept about one conversation: every table that keeps rows by
conversation id (found from the tables' own definitions, so a table added later
is checked too), Rasa's events by sender, and the alert outbox by the
conversation's link.
"""

import json
from typing import Dict, List, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import Engine

from assistant import database
from assistant.alert_outbox import alert_outbox
from assistant.conversation_references import ConversationReferences
from review import tables


def visitor_turn(text: str, intent: str, action: str, reply: str, channel: str) -> List[Event]:
    """One turn: the visitor's message as NLU parsed it, the action, its reply, listening again."""
    parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.91}, "entities": []}
    return [
        UserUttered(text, intent=parse_data["intent"], parse_data=parse_data, input_channel=channel),
        ActionExecuted(action),
        BotUttered(reply, metadata={"utter_action": f"utter_{intent}"}),
        ActionExecuted("action_listen"),
    ]


async def hold_conversation(store: TrackerStore, sender: str, channel: str, turns: List[Tuple]) -> None:
    """Stores a conversation the way the Rasa server does: the session start, then each turn."""
    tracker = DialogueStateTracker(sender, [])
    opening = [
        ActionExecuted("action_session_start"),
        BotUttered("Hi, I'm the automated assistant of the practice."),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]
    tracker.update_with_events(opening, None)
    await store.save(tracker)
    for turn in turns:
        tracker = await store.retrieve(sender)
        tracker.update_with_events(visitor_turn(*turn, channel=channel), None)
        await store.save(tracker)


# The tables the deletion tests fill for a conversation before deleting it.
FILLED_TABLES = (
    "events", "conversation_summaries", "unanswered_messages", "visitor_messages", "conversation_reviews",
    "answer_corrections", "booking_requests", "alert_outbox",
)


def conversation_tables() -> List[sa.Table]:
    """Every table of the practice's database that keeps rows by conversation id."""
    found = []
    for metadata in (tables.metadata, database.metadata):
        found += [table for table in metadata.tables.values() if "conversation_id" in table.c]
    return found


def rows_of(engine: Engine, conversation_id: str) -> Dict[str, int]:
    """How many rows each table holds about the conversation."""
    counts: Dict[str, int] = {}
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
        counts["events"] = connection.execute(
            sa.select(sa.func.count()).where(tables.events.c.sender_id == conversation_id)
        ).scalar()
        for table in conversation_tables():
            if table.name in present:
                counts[table.name] = connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.conversation_id == conversation_id)
                ).scalar()
        if alert_outbox.name in present:
            # By the link's reference alone: the servers' review address is not this process's.
            reference = ConversationReferences.from_secret().reference_for(conversation_id)
            counts["alert_outbox"] = connection.execute(
                sa.select(sa.func.count())
                .select_from(alert_outbox)
                .where(alert_outbox.c.body.contains(f"/alerts/{reference}"))
            ).scalar()
    return counts


def everything_stored(engine: Engine) -> str:
    """The text of every row of every table, to look for a conversation's words anywhere."""
    with engine.connect() as connection:
        names = sa.inspect(connection).get_table_names()
        return json.dumps(
            [[list(row) for row in connection.execute(sa.text(f'SELECT * FROM "{name}"'))] for name in names],
            default=str,
        )
