"""Only the Rasa server reaches the action server: loopback only, and its token on every call.

The attack of issue 8: a POST to `/webhook` from anywhere that reached the port
stored a booking request and alerted the therapist about a "possible crisis".
These tests make those same calls against the real action server (started as
`make run` starts it, with a recording SMTP server) and against the whole
assistant, whose Rasa server must get through with the token of `endpoints.yml`.
"""

import secrets
import socket
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from assistant import launch, settings
from assistant.database import booking_requests_for, engine_for
from tests.review.mail import MailRecorder, start_mail_server
from tests.servers import RunningAssistant, free_port

MAIL_TIMEOUT_SECONDS = 60
FIRST_TURN_SECONDS = 180


class ActionServer:
    """A running action server and what it writes to."""

    def __init__(self, url: str, token: str, database_url: str, mail: MailRecorder) -> None:
        self.url = url
        self.token = token
        self.database_url = database_url
        self.mail = mail

    def call(self, action_call: Dict[str, Any], authorization: str | None) -> requests.Response:
        """POSTs an action call to /webhook with the given Authorization header (or none)."""
        headers = {"Authorization": authorization} if authorization is not None else {}
        return requests.post(f"{self.url}/webhook", json=action_call, headers=headers, timeout=30)

    def bookings(self, sender: str) -> List[Dict[str, Any]]:
        return booking_requests_for(engine_for(self.database_url), sender)


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    """The action server alone (no model needed), emailing alerts to a recording SMTP server."""
    workdir: Path = tmp_path_factory.mktemp("action_server")
    controller, recorder, smtp_port = start_mail_server()
    token = secrets.token_urlsafe(32)
    database_url = f"sqlite:///{workdir / 'assistant.db'}"
    service = launch.action_server(free_port())
    process = launch.start(service, env={
        "DATABASE_URL": database_url,
        "ACTION_SERVER_TOKEN": token,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_STARTTLS": "false",
        "THERAPIST_EMAIL": "therapist@example.com",
        "SMTP_FROM": "assistant@example.com",
    })
    try:
        launch.wait_until_ready(service, process, timeout=120)
        yield ActionServer(service.health_url.removesuffix("/health"), token, database_url, recorder)
    finally:
        launch.stop([process])
        controller.stop()


def action_call(action: str, sender: str, **slots: Any) -> Dict[str, Any]:
    """The body Rasa posts to run `action` for `sender`, with the tracker's slots."""
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": {},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


def forged_booking(sender: str) -> Dict[str, Any]:
    """A completed booking form, as the attacker of issue 8 posted it."""
    return action_call(
        "action_submit_booking", sender,
        visitor_name="Mallory", contact="mallory@example.com",
        preferred_times="any time", contact_consent=True,
    )


def wait_for_mail(recorder: MailRecorder, count: int) -> None:
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while len(recorder.received()) < count and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer", 401), ("Basic bWFsbG9yeTpndWVzcw==", 401), ("Bearer wrong-token", 403)],
    ids=["no header", "empty bearer", "basic auth", "wrong token"],
)
def test_a_forged_action_call_is_refused_and_stores_no_booking(
    action_server: ActionServer, authorization: str | None, status: int
) -> None:
    sender = f"forged-{secrets.token_hex(4)}"

    booking = action_server.call(forged_booking(sender), authorization)
    crisis = action_server.call(action_call("action_flag_crisis", sender), authorization)

    assert (booking.status_code, crisis.status_code) == (status, status)
    assert "events" not in booking.json() and "events" not in crisis.json()
    assert action_server.bookings(sender) == []


def test_the_token_of_another_length_is_refused_too(action_server: ActionServer) -> None:
    longer = f"Bearer {action_server.token}x"
    shorter = f"Bearer {action_server.token[:-1]}"

    assert action_server.call(forged_booking("forged-length"), longer).status_code == 403
    assert action_server.call(forged_booking("forged-length"), shorter).status_code == 403
    assert action_server.bookings("forged-length") == []


def test_refused_calls_alert_nobody_while_an_authorised_one_does(action_server: ActionServer) -> None:
    before = len(action_server.mail.received())
    for attempt in range(3):
        sender = f"forged-alert-{attempt}"
        assert action_server.call(action_call("action_flag_crisis", sender), None).status_code == 401
        assert action_server.call(forged_booking(sender), "Bearer guess").status_code == 403

    genuine = action_server.call(
        action_call("action_flag_crisis", "genuine-crisis"), f"Bearer {action_server.token}"
    )
    assert genuine.status_code == 200
    wait_for_mail(action_server.mail, before + 1)
    # Alerts are sent in the order they were raised: any alert from the refused
    # calls would have arrived before the genuine one.
    subjects = [message["Subject"] for message in action_server.mail.received()[before:]]
    assert subjects == ["A conversation was flagged: possible crisis"]


def test_a_call_with_the_token_runs_the_action(action_server: ActionServer) -> None:
    sender = f"genuine-{secrets.token_hex(4)}"

    reply = action_server.call(forged_booking(sender), f"Bearer {action_server.token}")

    assert reply.status_code == 200
    assert any(event.get("name") == "booking_request_id" for event in reply.json()["events"])
    assert [row["name"] for row in action_server.bookings(sender)] == ["Mallory"]


def test_health_is_open_and_the_action_list_is_not(action_server: ActionServer) -> None:
    assert requests.get(f"{action_server.url}/health", timeout=10).status_code == 200
    assert requests.get(f"{action_server.url}/actions", timeout=10).status_code == 401
    listed = requests.get(
        f"{action_server.url}/actions",
        headers={"Authorization": f"Bearer {action_server.token}"},
        timeout=10,
    )
    assert {"name": "action_submit_booking"} in listed.json()


def listening_addresses(port: int) -> List[str]:
    """The IPv4 and IPv6 addresses on which something listens on `port` (/proc/net/tcp*)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def non_loopback_address() -> str | None:
    """This machine's address on its first non-loopback interface, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=5):
            return True
    except OSError:
        return False


def test_the_action_server_listens_on_loopback_only(action_server: ActionServer) -> None:
    port = int(action_server.url.rsplit(":", 1)[1])

    assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, and no IPv6 socket
    outside = non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback address to try")
    with socket.create_server(("0.0.0.0", 0)) as control:
        # The same address does reach a server that listens everywhere.
        assert reachable(outside, control.getsockname()[1])
    assert not reachable(outside, port)


def test_rasa_reaches_the_moved_action_server_with_the_token_of_endpoints_yml(
    running_assistant: RunningAssistant,
) -> None:
    actions_port = int(running_assistant.actions_url.rsplit(":", 1)[1])
    assert running_assistant.env["ACTIONS_PORT"] == str(actions_port) != "5055"
    sender = running_assistant.new_sender()

    # A generous bound: the first turns of a freshly loaded model are slow on a busy machine.
    notice = running_assistant.say(sender, "hello", timeout=FIRST_TURN_SECONDS)[0]["text"]
    answer = " ".join(
        reply.get("text", "")
        for reply in running_assistant.say(sender, "is ketamine safe?", timeout=FIRST_TURN_SECONDS)
    )

    assert f"automated assistant of {settings.practice_profile().practice_name}" in notice
    # The cited answer comes from a custom action (`action_answer_faq`): only an
    # action server that accepted Rasa's call on the moved port can give it.
    assert "From the practice's writing: “" in answer
    refused = requests.post(
        f"{running_assistant.actions_url}/webhook",
        json=action_call("action_flag_crisis", "forged-from-test"),
        timeout=10,
    )
    assert refused.status_code == 401


def test_the_action_server_of_the_assistant_creates_its_database_private(
    action_server: ActionServer,
) -> None:
    path = Path(action_server.database_url.removeprefix("sqlite:///"))
    modes = {
        file.name: file.stat().st_mode & 0o777
        for file in path.parent.iterdir() if file.name.startswith(path.name)
    }
    assert modes and set(modes.values()) == {0o600}, modes


def test_the_action_server_keeps_an_idle_connection_open_longer_than_rasas_client_does() -> None:
    """Rasa's aiohttp pool drops idle connections after 15 s; a server closing first breaks the next call."""
    from assistant.action_server import create_app

    app = create_app(secrets.token_urlsafe(16))
    assert app.config.KEEP_ALIVE_TIMEOUT > 15
