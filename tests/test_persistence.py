"""Nothing is lost on restart: a conversation picks up where it was, from the database."""

from pathlib import Path

from tests.servers import start_assistant, stop_assistant


def test_a_booking_form_continues_after_the_servers_restart(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'assistant.db'}"
    first = start_assistant(tmp_path, database_url)
    sender = first.new_sender()
    try:
        first.say(sender, "I'd like to book the free call")
        asked = " ".join(r.get("text", "") for r in first.say(sender, "Robin Park"))
        assert "reach you" in asked
    finally:
        stop_assistant(first)

    second = start_assistant(tmp_path, database_url)
    try:
        replies = " ".join(r.get("text", "") for r in second.say(sender, "robin@example.com"))
        assert "times" in replies
    finally:
        stop_assistant(second)
