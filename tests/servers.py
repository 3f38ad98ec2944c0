"""Real servers for end-to-end tests: the action server and the Rasa server.

Started on free loopback ports with their own database, so tests never touch the
practice's `var/` data, and stopped when the test session ends.
"""

import secrets
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import requests
import sqlalchemy as sa

from assistant import launch, service_environment
from assistant.database import dispose_engine

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningAssistant:
    """The addresses and settings of a started assistant."""

    rasa_url: str
    actions_url: str
    database_url: str
    env: Dict[str, str]
    processes: List[subprocess.Popen]

    def say(self, sender: str, message: str, timeout: float = 30) -> List[Dict[str, Any]]:
        """Sends one visitor message over the REST channel and returns the replies."""
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json()

    @staticmethod
    def new_sender() -> str:
        """A fresh conversation id."""
        return f"test-{uuid.uuid4().hex[:12]}"


def start_assistant(
    workdir: Path, database_url: str, extra_env: Dict[str, str] | None = None
) -> RunningAssistant:
    """Starts both servers against `database_url`; the caller must call `stop_assistant`.

    They run as `make run` runs them: the project's own `endpoints.yml`, filled in
    from the environment; the action server moved to a free port by `ACTIONS_PORT`
    alone; a fresh token shared by the two (so `var/` is never touched); and each
    process given only the variables it is allowed. `workdir` is kept for callers.
    """
    rasa_port, actions_port = free_port(), free_port()
    env = {
        "DATABASE_URL": database_url,
        "ACTIONS_PORT": str(actions_port),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        **(extra_env or {}),
    }
    env.update(service_environment.endpoint_variables(env))
    services = [
        launch.action_server(actions_port),
        launch.rasa_server(rasa_port),
    ]
    processes: List[subprocess.Popen] = []
    try:
        for service in services:
            process = launch.start(service, env=env)
            processes.append(process)
            launch.wait_until_ready(service, process)
    except Exception:
        launch.stop(processes)
        raise
    return RunningAssistant(
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        actions_url=f"http://127.0.0.1:{actions_port}",
        database_url=database_url,
        env=env,
        processes=processes,
    )


def stop_assistant(assistant: RunningAssistant) -> None:
    """Stops both servers."""
    launch.stop(assistant.processes)


def postgres_reachable() -> bool:
    """Whether the machine's PostgreSQL server answers on loopback."""
    engine = sa.create_engine(POSTGRES_SERVER)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def temporary_postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test run, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
