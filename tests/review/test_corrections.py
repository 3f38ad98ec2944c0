"""Correcting an answer on the transcript: by title, stored, taken back, refused when wrong, deleted with its conversation."""

import html
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review.privacy import delete_conversation
from review.summaries import refresh_summaries
from review.tables import answer_corrections, visitor_messages
from review.training_data import nlu_yaml
from review.training_export import read_examples
from tests.review.conftest import Conversations
from tests.review.servers import ReviewClient
from tests.review.test_cli import review_cli
from tests.servers import RunningAssistant

EVENT_FIELD = re.compile(r'name="event_id" value="(\d+)"')


def transcript(client: ReviewClient, conversation_id: str) -> str:
    response = client.get(f"/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return response.text


def first_event_id(page: str) -> int:
    match = EVENT_FIELD.search(page)
    assert match, "no Wrong answer form on the page"
    return int(match.group(1))


def correction_of(database: Engine, event_id: int) -> str | None:
    with database.connect() as connection:
        return connection.execute(
            sa.select(answer_corrections.c.corrected_to).where(answer_corrections.c.event_id == event_id)
        ).scalar()


def correct(client: ReviewClient, conversation_id: str, event_id: int | str, topic: str):
    return client.submit(
        f"/conversations/{conversation_id}/corrections",
        {"event_id": str(event_id), "topic": topic},
        page=f"/conversations/{conversation_id}",
    )


def test_the_transcript_names_answers_by_title_with_confidence_and_runner_up(
    therapist: ReviewClient, conversations: Conversations
) -> None:
    page = transcript(therapist, conversations.faq)
    understood = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.split('class="understood"')[1].split("</div>")[0])).split())

    assert re.search(r"answered with [^(]+ \(\d+%\) · runner-up [^(]+ \(\d+%\)", understood), understood
    assert "faq/" not in understood
    assert '<option value="faq/safety">Is it safe?</option>' in page
    assert "None of these: a new question" in page


def test_a_wrong_answer_is_corrected_by_topic_then_taken_back(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    event_id = first_event_id(transcript(therapist, conversations.faq))

    response = correct(therapist, conversations.faq, event_id, "faq/prescriber")
    assert response.status_code == 303 and "notice=corrected" in response.headers["Location"]
    try:
        assert correction_of(database, event_id) == "faq/prescriber"
        page = transcript(therapist, conversations.faq)
        assert "Corrected to <strong>Who prescribes?</strong>" in page and "Correct again" in page

        correct(therapist, conversations.faq, event_id, "out_of_scope")
        assert correction_of(database, event_id) == "out_of_scope"
    finally:
        taken = therapist.submit(
            f"/conversations/{conversations.faq}/corrections/delete",
            {"event_id": str(event_id)},
            page=f"/conversations/{conversations.faq}",
        )
    assert taken.status_code == 303 and correction_of(database, event_id) is None


def test_a_topic_the_assistant_does_not_offer_is_refused(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    event_id = first_event_id(transcript(therapist, conversations.faq))

    for topic in ("made_up", "inform", "", "faq"):
        response = correct(therapist, conversations.faq, event_id, topic)
        assert response.status_code == 400 and "Choose one of the assistant" in response.text
    assert correction_of(database, event_id) is None


def test_a_message_of_another_conversation_or_no_message_is_refused(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    other_event = first_event_id(transcript(therapist, conversations.greeting))

    assert correct(therapist, conversations.faq, other_event, "faq/cost").status_code == 404
    assert correct(therapist, conversations.faq, "not-a-number", "faq/cost").status_code == 400
    assert correct(therapist, conversations.faq, 2**40, "faq/cost").status_code == 400
    assert correction_of(database, other_event) is None


def test_a_button_press_offers_no_wrong_answer_form(therapist: ReviewClient, conversations: Conversations) -> None:
    page = transcript(therapist, conversations.booking)
    pressed_messages = [part for part in page.split('<li class="message visitor') if "Pressed button" in part]

    assert pressed_messages and all("Wrong answer" not in part for part in pressed_messages)


def test_deleting_a_conversation_deletes_its_corrections_and_message_topics(
    therapist: ReviewClient, database: Engine, new_conversation
) -> None:
    conversation_id = new_conversation("is ketamine safe?")
    refresh_summaries(database)
    event_id = first_event_id(transcript(therapist, conversation_id))
    correct(therapist, conversation_id, event_id, "faq/safety")
    assert correction_of(database, event_id) == "faq/safety"

    delete_conversation(database, conversation_id)

    with database.connect() as connection:
        for table in (answer_corrections, visitor_messages):
            count = connection.execute(
                sa.select(sa.func.count()).where(table.c.conversation_id == conversation_id)
            ).scalar()
            assert count == 0


def test_the_training_export_keeps_earlier_examples_and_lists_contradictions_instead_of_writing_them(
    therapist: ReviewClient, conversations: Conversations, running_assistant: RunningAssistant, tmp_path: Path
) -> None:
    target = tmp_path / "therapist_corrections.yml"
    target.write_text(nlu_yaml([("an example from an earlier export", "faq/cost")]), encoding="utf-8")
    event_id = first_event_id(transcript(therapist, conversations.greeting))
    correct(therapist, conversations.greeting, event_id, "faq/cost")
    try:
        result = review_cli(running_assistant.database_url, "export-training", "--output", str(target))
    finally:
        therapist.submit(
            f"/conversations/{conversations.greeting}/corrections/delete",
            {"event_id": str(event_id)},
            page=f"/conversations/{conversations.greeting}",
        )

    assert result.returncode == 0, result.stderr
    assert "Left out, contradicts data/nlu/ (greet): 'hello' -> faq/cost" in result.stdout
    examples = read_examples(target)
    assert ("an example from an earlier export", "faq/cost") in examples
    assert ("hello", "faq/cost") not in examples
