"""Exports hold everything stored (JSON) or every message (CSV), and defuse formulas."""

import csv
import io
import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review.exports import CSV_COLUMNS, csv_chunks, iter_records, json_chunks
from review.summaries import refresh_summaries
from review.tables import events
from tests.review.conftest import BOOKING_SCRIPT, Conversations


def stored_event_count(database: Engine, conversation_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(events).where(events.c.sender_id == conversation_id)
    with database.connect() as connection:
        return int(connection.execute(query).scalar())


def test_a_json_export_holds_every_stored_event_and_the_booking_request(
    database: Engine, conversations: Conversations
) -> None:
    refresh_summaries(database)
    document = json.loads("".join(json_chunks(iter_records(database, [conversations.booking]), single=True)))

    assert document["conversation_id"] == conversations.booking
    assert len(document["events"]) == stored_event_count(database, conversations.booking)
    assert [event["text"] for event in document["events"] if event["event"] == "user"] == list(BOOKING_SCRIPT)
    [request] = document["booking_requests"]
    assert (request["name"], request["contact"], request["consent"]) == ("Jordan Lee", "jordan@example.com", True)
    assert document["summary"]["booking"] is True and "visitor_text" not in document["summary"]


def test_an_export_of_all_conversations_is_one_json_array_with_each_of_them(
    database: Engine, conversations: Conversations
) -> None:
    refresh_summaries(database)
    documents = json.loads("".join(json_chunks(iter_records(database))))

    exported = [document["conversation_id"] for document in documents]
    assert set(conversations.all()) <= set(exported)
    assert len(exported) == len(set(exported))


def test_a_csv_export_has_one_row_a_message_in_order(database: Engine, conversations: Conversations) -> None:
    rows = list(csv.DictReader(io.StringIO("".join(csv_chunks(iter_records(database, [conversations.booking]))))))

    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["text"] for row in rows if row["speaker"] == "visitor"] == list(BOOKING_SCRIPT)
    assert {row["conversation_id"] for row in rows} == {conversations.booking}
    assert any(row["button_pressed"] for row in rows)


def test_a_formula_typed_by_a_visitor_is_exported_as_text(database: Engine, conversations: Conversations) -> None:
    rows = list(csv.DictReader(io.StringIO("".join(csv_chunks(iter_records(database, [conversations.spreadsheet]))))))

    [message] = [row for row in rows if row["speaker"] == "visitor"]
    assert message["text"] == "'" + '=HYPERLINK("http://example.com","click")'
