"""Reads what the assistant stored of a conversation, to prove a channel left it alone."""

from typing import List, Tuple

import sqlalchemy as sa

from assistant.database import engine_for


def stored_events(database_url: str, sender: str) -> List[Tuple[str, str]]:
    """The (type, data) of every event stored for one conversation, oldest first."""
    with engine_for(database_url).connect() as connection:
        rows = connection.execute(
            sa.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        )
        return [(row[0], row[1]) for row in rows]
