"""The command line lists, shows, exports, deletes, purges and sets the password."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from sqlalchemy.engine import Engine

from assistant import settings
from review.security import verify_password
from tests.review.conftest import BOOKING_SCRIPT, Conversations
from tests.review.servers import (
    ReviewClient,
    age_conversations,
    copy_sqlite_database,
    start_review_app,
    stop_review_app,
)
from tests.review.test_privacy import rows_about
from tests.servers import RunningAssistant

NEW_PASSWORD = "a brand new password for Barbara"


def review_cli(database_url: str, *args: str, stdin: str | None = None, env: Dict[str, str] | None = None):
    """Runs `python -m review ...` as the therapist would, on the given database."""
    return subprocess.run(
        [sys.executable, "-m", "review", *args],
        cwd=settings.PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "REVIEW_PASSWORD": "", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def database_url(running_assistant: RunningAssistant, conversations: Conversations) -> str:
    return running_assistant.database_url


def test_list_prints_conversations_with_their_flags(database_url: str, conversations: Conversations) -> None:
    result = review_cli(database_url, "list", "--limit", "100000")
    lines = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines() if "\t" in line}

    assert result.returncode == 0
    assert set(conversations.all()) <= set(lines)
    assert "crisis" in lines[conversations.crisis][4]
    assert lines[conversations.booking][2:4] == ["rest", "6"]
    assert "conversation(s)" in result.stdout.splitlines()[-1]


def test_list_filters_by_flag_and_searches(database_url: str, conversations: Conversations) -> None:
    crisis = review_cli(database_url, "list", "--flag", "crisis", "--limit", "100000").stdout
    searched = review_cli(database_url, "list", "--search", "sertraline", "--limit", "100000").stdout

    assert conversations.crisis in crisis and conversations.faq not in crisis
    assert conversations.medical in searched and conversations.faq not in searched
    assert review_cli(database_url, "list", "--flag", "crisis OR 1=1").returncode != 0


def test_show_prints_the_transcript_with_what_was_understood(database_url: str, conversations: Conversations) -> None:
    booking = review_cli(database_url, "show", conversations.booking).stdout
    crisis = review_cli(database_url, "show", conversations.crisis).stdout

    for message in BOOKING_SCRIPT:
        assert f"visitor: {message}" in booking
    assert "understood as book_consultation" in booking and "buttons:" in booking and "Form started" in booking
    assert "visitor [CRISIS]: I want to kill myself" in crisis


def test_show_and_export_of_an_unknown_conversation_fail(database_url: str) -> None:
    assert review_cli(database_url, "show", "no-such-conversation").returncode == 1
    assert review_cli(database_url, "export", "no-such-conversation").returncode == 1


def test_export_writes_one_conversation_as_json_and_all_as_csv(
    database_url: str, conversations: Conversations, tmp_path: Path
) -> None:
    target = tmp_path / "booking.json"
    one = review_cli(database_url, "export", conversations.booking, "--output", str(target))
    everything = review_cli(database_url, "export", "--format", "csv")

    assert one.returncode == 0 and everything.returncode == 0
    document = json.loads(target.read_text())
    assert [e["text"] for e in document["events"] if e["event"] == "user"] == list(BOOKING_SCRIPT)
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert set(conversations.all()) <= {row["conversation_id"] for row in rows}


def test_delete_removes_a_conversation_with_everything_about_it(
    database_url: str, database: Engine, new_conversation
) -> None:
    conversation_id = new_conversation(*BOOKING_SCRIPT)

    result = review_cli(database_url, "delete", conversation_id)

    assert result.returncode == 0
    assert f"Deleted conversation {conversation_id}" in result.stdout and "1 booking request(s)" in result.stdout
    assert rows_about(database, conversation_id) == {"events": 0, "booking_requests": 0, "summaries": 0, "unanswered": 0}
    assert review_cli(database_url, "delete", conversation_id).returncode == 1


def test_purge_deletes_only_conversations_older_than_the_retention_period(
    running_assistant: RunningAssistant, conversations: Conversations, new_conversation, tmp_path: Path
) -> None:
    old = new_conversation(*BOOKING_SCRIPT)
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "aged.db")
    age_conversations(url, [old], days=400)

    dry = review_cli(url, "purge", "--dry-run")
    assert "1 conversation(s) are older than 365 days; nothing was deleted" in dry.stdout
    purged = review_cli(url, "purge")

    assert purged.returncode == 0
    assert "Deleted 1 conversation(s) older than 365 days" in purged.stdout
    assert "1 booking request(s)" in purged.stdout
    assert review_cli(url, "show", old).returncode == 1
    assert review_cli(url, "show", conversations.booking).returncode == 0


def test_set_password_stores_only_an_argon2_hash_readable_by_its_owner(tmp_path: Path) -> None:
    password_file = tmp_path / "var" / "review_password.argon2"

    result = review_cli("sqlite://", "set-password", "--stdin", stdin=NEW_PASSWORD + "\n",
                        env={"REVIEW_PASSWORD_FILE": str(password_file)})

    assert result.returncode == 0, result.stderr
    stored = password_file.read_text().strip()
    assert stored.startswith("$argon2id$") and NEW_PASSWORD not in stored
    assert verify_password(stored, NEW_PASSWORD)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert NEW_PASSWORD not in result.stdout + result.stderr


def test_set_password_refuses_a_weak_password_and_keeps_the_old_one(tmp_path: Path) -> None:
    password_file = tmp_path / "review_password.argon2"
    env = {"REVIEW_PASSWORD_FILE": str(password_file)}
    review_cli("sqlite://", "set-password", "--stdin", stdin=NEW_PASSWORD + "\n", env=env)
    before = password_file.read_text()

    result = review_cli("sqlite://", "set-password", "--stdin", stdin="short\n", env=env)

    assert result.returncode == 1 and "too weak" in result.stderr
    assert password_file.read_text() == before


def test_a_password_set_while_the_app_runs_works_without_a_restart(
    running_assistant: RunningAssistant, conversations: Conversations, tmp_path: Path
) -> None:
    password_file = tmp_path / "review_password.argon2"
    env = {"REVIEW_PASSWORD_HASH": "", "REVIEW_PASSWORD_FILE": str(password_file)}
    app = start_review_app(running_assistant.database_url, NEW_PASSWORD, extra_env=env)
    try:
        client = ReviewClient(app.url)
        assert "No password has been set yet" in client.get("/sign-in").text
        assert client.sign_in(NEW_PASSWORD).status_code == 401

        review_cli(running_assistant.database_url, "set-password", "--stdin", stdin=NEW_PASSWORD + "\n", env=env)

        assert client.sign_in(NEW_PASSWORD).status_code == 303
        assert client.get(f"/conversations/{conversations.faq}").status_code == 200
    finally:
        stop_review_app(app)


@pytest.mark.parametrize("limit", ["-1", "0", "ten", "²"])
def test_list_refuses_a_limit_that_is_not_a_positive_whole_number(tmp_path: Path, limit: str) -> None:
    result = review_cli(f"sqlite:///{tmp_path / 'empty.db'}", "list", "--limit", limit)

    assert result.returncode == 2 and "whole number above zero" in result.stderr


def test_unlock_works_on_a_database_that_never_saw_a_sign_in(tmp_path: Path) -> None:
    result = review_cli(f"sqlite:///{tmp_path / 'empty.db'}", "unlock")

    assert result.returncode == 0 and "Sign-in is open again (0 recent" in result.stdout
