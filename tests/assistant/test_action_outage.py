"""With the action server down, the Rasa server still answers: notice, crisis resources and flag, outage message."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import sqlalchemy as sa
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from assistant import launch
from assistant.action_outage import action_server_gave_no_answer, answering_in_place
from assistant.database import dispose_engine, engine_for
from assistant.settings import DOMAIN_PATH
from review.summaries import ensure_tables, refresh_summaries
from review.tables import conversation_summaries
from tests.review.servers import copy_sqlite_database
from tests.servers import RunningAssistant, free_port

OUTAGE_WORDS = "can't answer that right now"
PRACTICE_NAME = "Barbara Bennett Psychotherapy"


def _texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def _events(database_url: str, sender: str) -> List[Dict[str, Any]]:
    with engine_for(database_url).connect() as connection:
        rows = connection.execute(
            sa.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        )
        return [{"type": row[0], **json.loads(row[1])} for row in rows]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(DOMAIN_PATH))


async def _run_against_nothing(action_name: str, tracker: DialogueStateTracker, domain: Domain) -> list:
    """Runs a custom action, stood in for, against a loopback port nobody listens on."""
    action = RemoteAction(action_name, EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook"))
    output = CollectingOutputChannel()
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return await answering_in_place(RemoteAction.run)(action, output, nlg, tracker, domain)


async def test_an_unreachable_action_server_gets_the_outage_message_in_its_place(domain: Domain) -> None:
    tracker = DialogueStateTracker.from_events("visitor", [UserUttered("is ketamine safe?")], slots=domain.slots)
    events = await _run_against_nothing("action_answer_faq", tracker, domain)
    assert [type(event) for event in events] == [BotUttered]
    assert OUTAGE_WORDS in events[0].text and "{" not in events[0].text


async def test_a_booking_answer_given_during_the_outage_is_refused_and_the_form_stays(domain: Domain) -> None:
    tracker = DialogueStateTracker.from_events(
        "visitor",
        [SlotSet("contact", "old@example.com"), UserUttered("robin@example.com"),
         SlotSet("contact", "robin@example.com"), ActionExecuted("booking_form")],
        slots=domain.slots,
    )
    events = await _run_against_nothing("validate_booking_form", tracker, domain)
    assert OUTAGE_WORDS in events[0].text
    assert events[1:] == [SlotSet("contact", "old@example.com")]


def test_a_refusal_by_the_action_server_is_not_an_outage() -> None:
    assert not action_server_gave_no_answer(ActionExecutionRejection("validate_booking_form"))
    assert not action_server_gave_no_answer(ValueError("a bug in an action"))


@dataclass
class ActionServerSwitch:
    """Stops and restarts the running assistant's action server on its own port."""

    assistant: RunningAssistant

    @property
    def port(self) -> int:
        return int(self.assistant.actions_url.rsplit(":", 1)[1])

    def stop(self) -> None:
        launch.stop([self.assistant.processes[0]])

    def start(self) -> None:
        process = self.assistant.processes[0]
        if process.poll() is None:
            return
        service = launch.action_server(self.port)
        restarted = launch.start(service, env=self.assistant.env)
        self.assistant.processes[0] = restarted
        launch.wait_until_ready(service, restarted)


@pytest.fixture()
def action_server(running_assistant: RunningAssistant) -> Iterator[ActionServerSwitch]:
    """The action server's switch; it is running again when the test ends, whatever happened."""
    switch = ActionServerSwitch(running_assistant)
    yield switch
    switch.start()


@pytest.fixture()
def action_server_down(action_server: ActionServerSwitch) -> Iterator[ActionServerSwitch]:
    """The action server stopped for the test."""
    action_server.stop()
    yield action_server


def test_a_visitor_mid_booking_gets_the_outage_message_and_the_form_resumes_after_restart(
    running_assistant: RunningAssistant, action_server: ActionServerSwitch
) -> None:
    sender = running_assistant.new_sender()

    def say(_: str, message: str) -> List[Dict[str, Any]]:
        return running_assistant.say(sender, message, timeout=120)  # the first turn may be cold

    say(sender, "I'd like to book the free call")
    assert "reach you" in _texts(say(sender, "Robin Park"))

    action_server.stop()
    during = _texts(say(sender, "robin@example.com"))
    assert OUTAGE_WORDS in during and "conversation is kept" in during
    assert "times" not in during and "reach you" in during, "the form moved on without its validation"
    assert OUTAGE_WORDS in _texts(say(sender, "is ketamine safe?"))

    action_server.start()
    after = _texts(say(sender, "robin@example.com"))
    assert "times" in after and OUTAGE_WORDS not in after
    assert "contact you at robin@example.com" in _texts(say(sender, "weekday mornings"))
    user_texts = [event["text"] for event in _events(running_assistant.database_url, sender) if event["type"] == "user"]
    assert user_texts.count("robin@example.com") == 2, "a message of the outage was not kept"


def test_a_new_visitor_during_the_outage_gets_the_notice_naming_the_practice(
    running_assistant: RunningAssistant, action_server_down: ActionServerSwitch
) -> None:
    sender = running_assistant.new_sender()
    notice = running_assistant.say(sender, "hello")[0]["text"]
    assert f"automated assistant of {PRACTICE_NAME}" in notice and "988" in notice
    challenge = _texts(running_assistant.say(sender, "am I talking to a bot?"))
    assert PRACTICE_NAME in challenge and "None" not in challenge


def test_a_crisis_during_the_outage_gets_the_resources_and_is_flagged(
    running_assistant: RunningAssistant, action_server_down: ActionServerSwitch, tmp_path: Path
) -> None:
    sender = running_assistant.new_sender()
    running_assistant.say(sender, "hello")
    replies = running_assistant.say(sender, "I don't want to be alive anymore")
    assert "988" in replies[0]["text"] and "741741" in replies[0]["text"]
    assert OUTAGE_WORDS not in _texts(replies)

    flags = [e for e in _events(running_assistant.database_url, sender) if e["type"] == "slot" and e["name"] == "crisis_flag"]
    assert flags and flags[-1]["value"] is True
    copy = copy_sqlite_database(running_assistant.database_url, tmp_path / "review.db")
    try:
        engine = engine_for(copy)
        ensure_tables(engine)
        refresh_summaries(engine)
        with engine.connect() as connection:
            crisis = connection.execute(
                sa.select(conversation_summaries.c.crisis).where(conversation_summaries.c.conversation_id == sender)
            ).scalar_one()
        assert crisis is True
    finally:
        dispose_engine(copy)


def test_a_question_during_the_outage_gets_the_notice_then_one_outage_message(
    running_assistant: RunningAssistant, action_server_down: ActionServerSwitch
) -> None:
    replies = running_assistant.say(running_assistant.new_sender(), "what is IFS?")
    assert "automated assistant" in replies[0]["text"]
    assert OUTAGE_WORDS in replies[-1]["text"]
    assert _texts(replies).count(OUTAGE_WORDS) == 1
