"""Where the tracker store resumes storing after the visitor deleted the conversation."""

import secrets
from typing import Iterator, Tuple

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    FollowupAction,
    Restarted,
    SessionStarted,
    UserUttered,
)
from rasa.utils.endpoints import EndpointConfig

from assistant import launch, settings
from assistant.conversation_erasure import ERASING_ACTION, first_event_to_store
from assistant.database import engine_for
from assistant.tracker_store import DatabaseUrlTrackerStore
from tests.servers import free_port
from tests.stored_conversations import hold_conversation, rows_of

REFERENCE_KEY = "a reference key for the erasure tests only"

BEFORE = [
    ActionExecuted("action_session_start"),
    SessionStarted(),
    ActionExecuted("action_listen"),
    UserUttered("is ketamine safe?"),
    ActionExecuted("action_answer_faq"),
    BotUttered("It is given under medical supervision."),
    ActionExecuted("action_listen"),
    UserUttered("yes"),
]
ERASURE = [
    ActionExecuted(ERASING_ACTION),
    BotUttered("Done: this conversation has been deleted."),
    Restarted(),
    FollowupAction("action_listen"),
    ActionExecuted("action_listen"),
]


def test_a_conversation_nobody_deleted_is_stored_as_rasa_stores_it() -> None:
    assert first_event_to_store(BEFORE) is None


def test_nothing_of_the_deleting_turn_or_before_it_is_stored() -> None:
    events = BEFORE + ERASURE
    assert first_event_to_store(events) == len(events)


def test_a_message_after_the_deletion_is_stored_from_that_message_on() -> None:
    later = [UserUttered("hello again"), ActionExecuted("utter_greet")]
    events = BEFORE + ERASURE + later
    assert first_event_to_store(events) == len(BEFORE) + len(ERASURE)


def test_a_failed_deletion_without_its_restart_keeps_the_conversation() -> None:
    events = BEFORE + [ActionExecuted(ERASING_ACTION), BotUttered("could not be deleted"), ActionExecuted("action_listen")]
    assert first_event_to_store(events) is None


def test_a_restart_by_another_action_is_no_deletion() -> None:
    events = BEFORE + [ActionExecuted("action_start_over"), Restarted(), ActionExecuted("action_session_start")]
    assert first_event_to_store(events) is None


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[EndpointConfig, str]]:
    """The real action server (no model needed) on its own SQLite database: (endpoint, database URL)."""
    workdir = tmp_path_factory.mktemp("erasure")
    database_url = f"sqlite:///{workdir / 'assistant.db'}"
    token = secrets.token_urlsafe(32)
    port = free_port()
    service = launch.action_server(port)
    process = launch.start(service, env={
        "DATABASE_URL": database_url,
        "ACTION_SERVER_TOKEN": token,
        "CONVERSATION_REFERENCE_KEY": REFERENCE_KEY,
    })
    try:
        launch.wait_until_ready(service, process)
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"Authorization": f"Bearer {token}"})
        yield endpoint, database_url
    finally:
        launch.stop([process])


async def test_rasa_stores_nothing_of_a_conversation_the_action_server_deleted(
    action_server: Tuple[EndpointConfig, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, database_url = action_server
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CONVERSATION_REFERENCE_KEY", REFERENCE_KEY)
    domain = Domain.load([str(path) for path in settings.domain_files()])
    store = DatabaseUrlTrackerStore(domain=domain)
    answer = ("is ketamine safe?", "faq", "action_answer_faq", "It is given under medical supervision.")
    await hold_conversation(store, "deletes", "rest", [answer, ("delete my conversation", "delete_conversation",
                                                                "utter_confirm_delete_conversation", "Sure?")])
    await hold_conversation(store, "keeps", "rest", [answer])

    # The turn as Rasa's MessageProcessor runs it: the message, the custom action over
    # HTTP (Rasa's own RemoteAction and response generator), its events, the follow-up, the save.
    tracker = await store.get_or_create_tracker("deletes", append_action_listen=False)
    tracker.update(UserUttered("/affirm", intent={"name": "affirm", "confidence": 1.0}, input_channel="rest"))
    action = RemoteAction(ERASING_ACTION, endpoint)
    events = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                              tracker, domain)
    tracker.update(ActionExecuted(ERASING_ACTION))
    tracker.update_with_events(events, domain)
    assert tracker.followup_action == "action_listen"
    tracker.update(ActionExecuted(tracker.followup_action))
    await store.save(tracker)

    said = [event.text for event in events if isinstance(event, BotUttered)]
    therapist = settings.practice_profile().therapist_name
    assert len(said) == 1 and "has been deleted" in said[0] and therapist in said[0]
    engine = engine_for(database_url)
    assert rows_of(engine, "deletes") == {name: 0 for name in rows_of(engine, "deletes")}
    assert rows_of(engine, "keeps")["events"] == 8
    assert await store.retrieve("deletes") is None
    store.engine.dispose()
