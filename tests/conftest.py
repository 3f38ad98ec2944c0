"""Shared fixtures: a real running assistant with its own SQLite database."""

from pathlib import Path
from typing import Iterator

import pytest

from tests.servers import RunningAssistant, start_assistant, stop_assistant


@pytest.fixture(scope="session")
def assistant_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty SQLite database for the test session."""
    path: Path = tmp_path_factory.mktemp("db") / "assistant.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def running_assistant(
    tmp_path_factory: pytest.TempPathFactory, assistant_database: str
) -> Iterator[RunningAssistant]:
    """The action server and the Rasa server, started once for the whole session."""
    assistant = start_assistant(tmp_path_factory.mktemp("servers"), assistant_database)
    yield assistant
    stop_assistant(assistant)
