"""Fixtures for the channel tests: an assistant with both channels on, a Graph API
stand-in, the demo page, and a signed Messenger webhook client."""

import threading
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from assistant import settings
from tests.channels.graph_api import GraphApiStandIn
from tests.channels.messenger_webhook import FacebookApp, MessengerWebhook, new_psid
from tests.servers import RunningAssistant, free_port, start_assistant, stop_assistant
from web.demo_server import create_server

BOOKING_LINK = "https://booking.example.org/barbara"


@pytest.fixture(scope="session")
def facebook_app() -> FacebookApp:
    """Credentials of a test Facebook app, fresh for each test session."""
    return FacebookApp.made_for_this_run()


@pytest.fixture(scope="session")
def graph_api() -> Iterator[GraphApiStandIn]:
    """The Graph API stand-in, recording what Messenger would have been sent."""
    with GraphApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def demo_port() -> int:
    """The port of the demo page, known before the assistant starts (its allowed origin)."""
    return free_port()


@pytest.fixture(scope="session")
def demo_origin(demo_port: int) -> str:
    """The origin of the demo page, the one page the assistant's socket accepts."""
    return f"http://127.0.0.1:{demo_port}"


@pytest.fixture(scope="session")
def channels_assistant(
    tmp_path_factory: pytest.TempPathFactory,
    facebook_app: FacebookApp,
    graph_api: GraphApiStandIn,
    demo_origin: str,
) -> Iterator[RunningAssistant]:
    """The real action server and Rasa server with Messenger on and the demo page allowed.

    The practice profile has a booking link, so that answers carry a link to follow.
    """
    workdir = tmp_path_factory.mktemp("channels")
    profile = yaml.safe_load(settings.DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    profile["booking_link"] = BOOKING_LINK
    (workdir / "practice.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    env = {
        **facebook_app.environment(),
        "FACEBOOK_GRAPH_API_URL": graph_api.base_url,
        "ALLOWED_ORIGINS": demo_origin,
        "PRACTICE_PROFILE": str(workdir / "practice.yml"),
    }
    assistant = start_assistant(workdir, f"sqlite:///{workdir / 'channels.db'}", env)
    yield assistant
    stop_assistant(assistant)


@pytest.fixture(scope="session")
def demo_page_url(channels_assistant: RunningAssistant, demo_port: int) -> Iterator[str]:
    """The demo page with the chat bubble, served as `make run` serves it."""
    practice_name = settings.practice_profile().practice_name
    server = create_server(demo_port, channels_assistant.rasa_url, practice_name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{demo_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def messenger(
    channels_assistant: RunningAssistant, facebook_app: FacebookApp, graph_api: GraphApiStandIn
) -> MessengerWebhook:
    """Posts signed webhook calls to the assistant's Messenger channel."""
    return MessengerWebhook(
        url=f"{channels_assistant.rasa_url}/webhooks/facebook/webhook",
        app=facebook_app,
        graph=graph_api,
        database_url=channels_assistant.database_url,
    )


@pytest.fixture
def psid() -> str:
    """A new Messenger visitor."""
    return new_psid()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests leave their screenshots (git-ignored)."""
    path = settings.PROJECT_ROOT / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
