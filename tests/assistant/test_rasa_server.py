"""The Rasa entry point skips repeated lookups and gives Rasa's own answers."""

from typing import Any, Dict

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses

from assistant import rasa_server

RASAS_VALIDATION = RemoteAction._validate_action_result
ACTION = RemoteAction("action_answer_faq", action_endpoint=None)

GOOD_ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "crisis_flag", "value": True}], "responses": [{"text": "hi"}]},
    {"events": [{"event": "action", "name": "action_listen"}, {"event": "session_started"}]},
]
BAD_ANSWERS = [
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},
    {"events": [{"no event key": 1}]},
    {"responses": "text"},
]


@pytest.mark.parametrize("answer", GOOD_ANSWERS)
def test_an_answer_rasa_accepts_is_accepted(answer: Dict[str, Any]) -> None:
    assert RASAS_VALIDATION(ACTION, answer) is True
    assert rasa_server.validate_action_result(ACTION, answer) is True


@pytest.mark.parametrize("answer", BAD_ANSWERS)
def test_an_answer_rasa_refuses_is_refused_with_rasas_message(answer: Dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as rasas:
        RASAS_VALIDATION(ACTION, answer)
    with pytest.raises(ValidationError) as ours:
        rasa_server.validate_action_result(ACTION, answer)
    assert ours.value.message == rasas.value.message
    assert "Failed to validate Action server response" in ours.value.message


def test_every_event_type_finds_the_class_rasa_finds() -> None:
    names = {event_class.type_name for event_class in all_subclasses(Event)}
    assert {"user", "slot", "action", "session_started"} <= names
    for name in names:
        assert rasa_server.find_event_class(name) is rasa_server.find_event_class_by_walking(name)


def test_an_unknown_event_type_still_gets_the_default_or_rasas_error() -> None:
    assert rasa_server.find_event_class("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        rasa_server.find_event_class("no_such_event")


def test_stored_events_read_back_the_same_with_the_lookups_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = [UserUttered("is ketamine safe?", {"name": "faq"}).as_dict(), SlotSet("crisis_flag", True).as_dict()]
    expected = [Event.from_parameters(event) for event in stored]
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RASAS_VALIDATION)
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(rasa_server.find_event_class_by_walking))
    rasa_server.skip_repeated_lookups()
    assert RemoteAction._validate_action_result is rasa_server.validate_action_result
    assert [Event.from_parameters(event) for event in stored] == expected
