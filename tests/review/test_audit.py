"""The audit log: each audited action once, with who, when and where, never what was written.

Actions go through the running review app (as the therapist's browser sends them)
and through the command line (in-process, on a copy of the filled database).
"""

import csv
import io
import re
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Tuple
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant import settings
from assistant.database import dispose_engine, engine_for
from review import audit
from review.__main__ import main as review_cli
from review.queries import conversation_events
from review.summaries import ensure_tables
from review.tables import audit_log, conversation_summaries
from tests.review.conftest import Conversations, hold_conversation
from tests.review.servers import (
    ReviewClient,
    RunningReviewApp,
    age_conversations,
    copy_sqlite_database,
    signed_in_client,
)
from tests.servers import RunningAssistant

NEW_PASSWORD = "another long password for the audit test"
ENTRY_ID = re.compile(r'<tr data-entry="(\d+)"')


def newest_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.max(audit_log.c.id))).scalar() or 0)


def entries_after(engine: Engine, after: int) -> List[Dict]:
    with engine.connect() as connection:
        return [row for row in audit.entries(connection) if row["id"] > after]


def texts_of(engine: Engine, conversation_id: str) -> List[str]:
    """Everything the visitor and the assistant wrote in a conversation."""
    with engine.connect() as connection:
        stored = conversation_events(connection, conversation_id)
    return [str(e.data.get("text")) for e in stored if e.type_name in ("user", "bot") and e.data.get("text")]


def mentions(entries: List[Dict], texts: List[str]) -> List[Tuple[str, Dict]]:
    """The entries that hold any of the texts in any field."""
    return [(text, row) for row in entries for text in texts if any(text in str(value) for value in row.values())]


def test_every_action_in_the_app_is_recorded_once_without_message_text(
    review_app: RunningReviewApp, database: Engine, new_conversation
) -> None:
    conversation = new_conversation("is ketamine safe?", "can I take it with my sertraline?")
    note = f"Sounds worried about interactions {uuid.uuid4().hex[:6]}"
    written = texts_of(database, conversation) + [note]
    start = newest_id(database)

    client = signed_in_client(review_app)
    path = f"/conversations/{quote(conversation, safe='')}"
    assert client.get(path).status_code == 200
    assert client.get(f"/data/export?conversation={conversation}&format=json").status_code == 200
    assert client.submit(f"{path}/state", {"state": "follow_up"}).status_code == 303
    assert client.submit(f"{path}/note", {"note": note}).status_code == 303
    assert client.submit(f"{path}/delete", {}).status_code == 303
    assert client.submit("/data/purge", {}).status_code == 303
    assert client.get("/audit.csv").status_code == 200
    assert client.submit("/sign-out", {}).status_code == 303
    # One failure only: the review app is shared, and five from one address lock sign-in.
    forger = ReviewClient(review_app.url)
    forger.http.headers["X-Forwarded-For"] = "203.0.113.9"
    assert forger.sign_in("not the password at all").status_code in (401, 429)

    found = entries_after(database, start)
    actions = Counter((row["action"], row["target"]) for row in found)
    assert actions == Counter({
        (audit.SIGN_IN, ""): 1,
        (audit.TRANSCRIPT_VIEW, conversation): 1,
        (audit.EXPORT, conversation): 1,
        (audit.STATE_CHANGE, conversation): 1,
        (audit.NOTE_EDIT, conversation): 1,
        (audit.DELETION, conversation): 1,
        (audit.PURGE, audit.purge_target(settings.practice_profile().retention_days)): 1,
        (audit.EXPORT, next(row["target"] for row in found if row["target"].startswith("audit_log_"))): 1,
        (audit.SIGN_OUT, ""): 1,
        (audit.SIGN_IN_FAILED, ""): 1,
    })
    # No proxy is trusted here, so the forged address is not believed.
    assert {row["address"] for row in found} == {"127.0.0.1"}
    assert {row["actor"] for row in found if row["action"] != audit.SIGN_IN_FAILED} == {audit.THERAPIST}
    assert mentions(found, written) == []


def test_the_audit_log_exports_as_csv_with_every_entry_defused(
    therapist: ReviewClient, running_assistant: RunningAssistant, database: Engine
) -> None:
    hostile = hold_conversation(running_assistant, f"=HYPERLINK(\"x\")-{uuid.uuid4().hex[:6]}", ("hello",))
    therapist.get(f"/conversations/{quote(hostile, safe='')}")

    response = therapist.get("/audit.csv")

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="audit_log_' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == audit.CSV_COLUMNS
    with database.connect() as connection:
        assert len(rows) - 1 == audit.count_entries(connection)
    assert ["transcript_view", "'" + hostile] in [row[3:5] for row in rows]
    assert rows[-1][3] == audit.EXPORT and rows[-1][4].startswith("audit_log_")


def test_the_audit_page_shows_the_newest_entries_first_a_page_at_a_time(
    therapist: ReviewClient, database: Engine
) -> None:
    with database.connect() as connection:
        first = audit.audit_page(connection, limit=2)
        second = audit.audit_page(connection, first.older, limit=2)
    ids = [row["id"] for row in first.rows + second.rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4

    page = therapist.get("/audit").text
    below = therapist.get(f"/audit?older={first.older}").text

    with database.connect() as connection:
        newest = [row["id"] for row in audit.audit_page(connection).rows]
    assert "<h1>Audit log</h1>" in page and 'href="/audit.csv"' in page
    assert [int(i) for i in ENTRY_ID.findall(page)] == newest
    shown_below = [int(i) for i in ENTRY_ID.findall(below)]
    assert shown_below[:2] == ids[2:] and all(i < first.older for i in shown_below)
    assert therapist.get("/audit?older=-1").status_code == 400


@pytest.mark.parametrize("path", ["/audit", "/audit.csv", "/audit?older=5"])
def test_the_audit_log_is_only_for_the_signed_in_therapist(stranger: ReviewClient, path: str) -> None:
    response = stranger.get(path)

    assert response.status_code == 303 and response.headers["Location"].startswith("/sign-in")
    assert "sign_in" not in response.text


@pytest.fixture
def copied_database(
    running_assistant: RunningAssistant, conversations: Conversations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A copy of the filled database, which the command line is pointed at."""
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "copy.db")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REVIEW_PASSWORD_FILE", str(tmp_path / "review_password.argon2"))
    yield url
    dispose_engine(url)


def run(*args: str) -> int:
    return review_cli(list(args), out=io.StringIO())


def test_every_action_on_the_command_line_is_recorded_once(
    copied_database: str, conversations: Conversations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(copied_database)
    ensure_tables(engine)
    written = texts_of(engine, conversations.medical)
    start = newest_id(engine)

    assert run("show", conversations.medical) == 0
    assert run("export", conversations.medical, "--output", str(tmp_path / "one.json")) == 0
    assert run("delete", conversations.medical) == 0
    assert run("purge") == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert run("set-password", "--stdin") == 0
    assert run("unlock") == 0

    found = entries_after(engine, start)
    assert [(row["action"], row["target"]) for row in found] == [
        (audit.TRANSCRIPT_VIEW, conversations.medical),
        (audit.EXPORT, conversations.medical),
        (audit.DELETION, conversations.medical),
        (audit.PURGE, audit.purge_target(settings.practice_profile().retention_days)),
        (audit.PASSWORD_CHANGE, "review password"),
        (audit.SIGN_IN_UNLOCK, "sign-in"),
    ]
    assert {(row["actor"], row["address"]) for row in found} == {(audit.COMMAND_LINE, audit.LOCAL)}
    assert mentions(found, written + [NEW_PASSWORD]) == []


def test_the_audit_log_outlives_the_conversations_a_purge_deletes(
    copied_database: str, conversations: Conversations
) -> None:
    retention_days = settings.practice_profile().retention_days
    age_conversations(copied_database, [conversations.greeting], days=retention_days + 1)
    engine = engine_for(copied_database)
    ensure_tables(engine)
    run("show", conversations.greeting)
    with engine.connect() as connection:
        before = audit.entries(connection)

    assert run("purge") == 0

    with engine.connect() as connection:
        gone = connection.execute(
            sa.select(sa.func.count()).where(conversation_summaries.c.conversation_id == conversations.greeting)
        ).scalar()
        after = audit.entries(connection)
    assert gone == 0
    assert after[: len(before)] == before
    assert [row["target"] for row in before] == [conversations.greeting]
    assert after[-1]["action"] == audit.PURGE and after[-1]["detail"].startswith("1 conversation(s)")


def test_an_unknown_action_is_refused_rather_than_hidden(database: Engine) -> None:
    start = newest_id(database)

    with pytest.raises(ValueError, match="Unknown audit action"):
        audit.record(database, "viewd", "someone")

    assert entries_after(database, start) == []
