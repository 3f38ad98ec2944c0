"""Fixtures for action tests: trackers as Rasa sends them, and a temporary profile."""

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import yaml
from rasa_sdk import Tracker

from assistant import settings

TrackerFactory = Callable[..., Tracker]


@pytest.fixture
def make_tracker() -> TrackerFactory:
    """Builds a rasa-sdk Tracker with the given slots and latest message."""

    def factory(
        slots: Dict[str, Any] | None = None,
        latest_message: Dict[str, Any] | None = None,
        active_loop: str | None = None,
        events: List[Dict[str, Any]] | None = None,
    ) -> Tracker:
        return Tracker(
            sender_id="visitor-1",
            slots=slots or {},
            latest_message=latest_message or {"intent": {"name": "greet"}, "entities": []},
            events=events or [{"event": "user", "input_channel": "rest"}],
            paused=False,
            followup_action=None,
            active_loop={"name": active_loop} if active_loop else {},
            latest_action_name="action_listen",
        )

    return factory


@pytest.fixture
def practice_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Writes a practice profile with changes and points the assistant at it."""

    def write(**changes: Any) -> Path:
        raw = yaml.safe_load(settings.DEFAULT_PROFILE_PATH.read_text())
        raw.update(changes)
        path = tmp_path / "practice.yml"
        path.write_text(yaml.safe_dump(raw))
        monkeypatch.setenv("PRACTICE_PROFILE", str(path))
        return path

    return write


def faq_message(topic: str, intent: str = "faq") -> Dict[str, Any]:
    """A parse result as the response selector gives it for one FAQ topic."""
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "response_selector": {
            "faq": {
                "response": {"intent_response_key": f"faq/{topic}"},
                "ranking": [
                    {"intent_response_key": f"faq/{topic}", "confidence": 0.8},
                    {"intent_response_key": "faq/safety", "confidence": 0.1},
                    {"intent_response_key": "faq/cost", "confidence": 0.05},
                    {"intent_response_key": "faq/location", "confidence": 0.05},
                ],
            }
        },
    }
