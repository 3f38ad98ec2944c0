"""The tables the review app reads and the small ones it keeps beside them.

Rasa's tracker store owns `events` and `assistant.database` owns `booking_requests`;
both are only read here (and rows deleted for privacy). The review app adds
derived tables that it can rebuild from `events` at any time: a one-row summary
per conversation, the high-water mark of the events already summarised, and the
messages that went unanswered together with the intent the therapist gave them.
They exist so that the conversation list stays fast at 100,000 conversations
without scanning every event on every page.
"""

import sqlalchemy as sa

# Rasa's `SQLTrackerStore.SQLEvent`, declared for queries only: Rasa creates it.
rasa_metadata = sa.MetaData()

events = sa.Table(
    "events",
    rasa_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)

# The review app's own tables; `metadata.create_all` makes them on start.
metadata = sa.MetaData()

conversation_summaries = sa.Table(
    "conversation_summaries",
    metadata,
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False, index=True),
    sa.Column("channel", sa.String(50), index=True),
    sa.Column("first_message", sa.Text),
    sa.Column("turns", sa.Integer, nullable=False, default=0),
    sa.Column("crisis", sa.Boolean, nullable=False, default=False),
    sa.Column("booking", sa.Boolean, nullable=False, default=False),
    sa.Column("unanswered", sa.Boolean, nullable=False, default=False),
    sa.Column("medical", sa.Boolean, nullable=False, default=False),
    # What the visitor typed, lower-cased and capped, for the text search.
    sa.Column("visitor_text", sa.Text, nullable=False, default=""),
    # Newest first, with the id as tie-breaker: the keyset of the list's pages.
    sa.Index("ix_conversation_summaries_newest", "started_at", "conversation_id"),
)

# One row: the id of the last event folded into the summaries.
summary_progress = sa.Table(
    "summary_progress",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_event_id", sa.Integer, nullable=False),
)

unanswered_messages = sa.Table(
    "unanswered_messages",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("intent", sa.String(255), nullable=False),
    sa.Column("confidence", sa.Float),
    sa.Column("timestamp", sa.Float, nullable=False, index=True),
    # The intent the therapist says this message should have had (None: not yet).
    sa.Column("assigned_intent", sa.String(255), index=True),
    sa.Column("assigned_at", sa.Float),
)
