"""The tables the review app reads and the small ones it keeps beside them.

Rasa's tracker store owns `events` and `assistant.database` owns `booking_requests`;
both are only read here (and rows deleted for privacy). The review app adds
derived tables that it can rebuild from `events` at any time: a one-row summary
per conversation, the high-water mark of the events already summarised, and the
messages that went unanswered together with the intent the therapist gave them.
They exist so that the conversation list stays fast at 100,000 conversations
without scanning every event on every page. Two tables are the therapist's own
and never rebuilt: her review state and note of each conversation (deleted with
it), and the audit log (kept past every deletion and purge).
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
    # A visitor message answered although the rankings were a near thing (`review.unsure`).
    sa.Column("unsure", sa.Boolean, nullable=False, default=False),
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

# The therapist's own record of a conversation: where she is with it and her private
# note. Not derived from `events` (a rebuild of the summaries keeps it); deleted and
# exported with its conversation. No row means the conversation is new.
conversation_reviews = sa.Table(
    "conversation_reviews",
    metadata,
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Who did what, when and from where (`review.audit`). Never a message's text, and
# never deleted with a conversation: it outlives the retention period on purpose.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(50), nullable=False),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("action", sa.String(50), nullable=False, index=True),
    sa.Column("target", sa.String(255), nullable=False, default=""),
    sa.Column("detail", sa.String(255), nullable=False, default=""),
)

# One row a visitor message, folded in with the summaries: what the insights
# page counts (per week, channel, topic and outcome) without reading `events`.
visitor_messages = sa.Table(
    "visitor_messages",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("channel", sa.String(50)),
    # What it was answered with: `faq/<topic>` or an intent (`review.understanding`).
    sa.Column("topic", sa.String(255)),
    # answered, unsure or unanswered (`review.understanding.OUTCOMES`).
    sa.Column("outcome", sa.String(20), nullable=False),
    # Covering indexes: a period's counts read the index alone, never the rows.
    sa.Index("ix_visitor_messages_period", "timestamp", "channel", "outcome", "topic"),
    sa.Index("ix_visitor_messages_topic", "topic", "conversation_id"),
)

# The insights page counts a period's conversations from this index alone (see
# `review.insights`); `review.summaries.ensure_tables` adds it to older databases.
conversation_summaries_insights_index = sa.Index(
    "ix_conversation_summaries_insights",
    conversation_summaries.c.started_at,
    conversation_summaries.c.channel,
    conversation_summaries.c.crisis,
    conversation_summaries.c.booking,
    conversation_summaries.c.conversation_id,
)

# The therapist's "Wrong answer": the topic a visitor message should have had.
# Deleted with its conversation; the training-data export reads it with the
# unanswered messages' assignments.
answer_corrections = sa.Table(
    "answer_corrections",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("answered_with", sa.String(255)),
    sa.Column("corrected_to", sa.String(255), nullable=False),
    sa.Column("corrected_at", sa.Float, nullable=False),
)
