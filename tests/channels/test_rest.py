"""The REST channel against the real Rasa server: malformed, huge and blank requests cost
milliseconds, get a clear answer, and leave every conversation alone."""

import json
import select
import socket
import sys
import threading
import time
from typing import Any, Iterator, List, Tuple
from urllib.parse import urlsplit

import pytest
import requests

from assistant import launch, settings
from channels import inbound
from channels.rest import bearer_token_is_valid
from tests.channels.conversations import stored_events
from tests.servers import RunningAssistant, free_port

VISITOR_QUESTIONS = [
    "hello",
    "is ketamine safe?",
    "what is IFS?",
    "how long is a session?",
    "do you take insurance?",
    "what does it cost?",
    "can I do sessions online?",
    "what happens in a KAP session?",
    "who do you work with?",
    "thanks",
]
MESSAGES_MEASURED = 20
# Refused before the body is read: well under the time one answer takes.
REFUSAL_LIMIT_SECONDS = 3.0
WARM_UP_TIMEOUT_SECONDS = 180
ATTACK_PAUSE_SECONDS = 0.05
REST_TOKEN = "test-rest-token-4f1c9a7e"


def webhook(assistant: RunningAssistant) -> str:
    return f"{assistant.rasa_url}/webhooks/rest/webhook"


def post_body(assistant: RunningAssistant, body: bytes, **headers: str) -> requests.Response:
    return requests.post(webhook(assistant), data=body, headers=headers, timeout=30)


def post_raw(url: str, body: bytes) -> Tuple[int, float]:
    """Posts `body` as a plain HTTP client does, and stops sending once the server answers.

    Returns:
        The status code and the seconds from the first byte sent to the status line read.
    """
    address = urlsplit(url)
    head = (
        f"POST {address.path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head)
        unsent, answer = memoryview(body), b""
        while b"\r\n" not in answer:
            readable, writable, _ = select.select([connection], [connection] if unsent else [], [], 10)
            if readable:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
            elif writable:
                try:
                    unsent = unsent[connection.send(unsent[:65536]) :]
                except (BrokenPipeError, ConnectionResetError):
                    unsent = memoryview(b"")
            else:
                raise TimeoutError("no answer within 10 s")
    elapsed = time.perf_counter() - started
    return int(answer.split(b" ", 2)[1]), elapsed


def json_body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def sender(running_assistant: RunningAssistant) -> str:
    return running_assistant.new_sender()


# Huge requests


def test_a_1_mb_body_is_refused_at_once_while_another_visitor_is_still_answered(
    running_assistant: RunningAssistant, sender: str
) -> None:
    for question in VISITOR_QUESTIONS[:3]:  # warm up, as the benchmark does: a cold server's first turn is slow
        running_assistant.say(sender, question, timeout=WARM_UP_TIMEOUT_SECONDS)
    # How fast the visitor is answered meanwhile is a figure for the benchmark, not a
    # test's assertion: here every one of the visitor's questions must get its answer.
    attacks: List[Tuple[int, float]] = []
    stop = threading.Event()

    def attack() -> None:
        huge = json_body(sender="attacker", message="why " * 262_144)  # 1 MiB of text
        long_but_small = json_body(sender="attacker", message="why " * 15_000)  # 60 KB: under the body limit
        while not stop.wait(ATTACK_PAUSE_SECONDS):  # a steady stream, not a flood: rate limits are not this test's
            attacks.append(post_raw(webhook(running_assistant), huge))
            attacks.append(post_raw(webhook(running_assistant), long_but_small))

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    try:
        _ask_every_question(running_assistant, sender)
    finally:
        stop.set()
        attacker.join(timeout=30)

    assert len(attacks) >= MESSAGES_MEASURED, "the attack did not run alongside the visitor"
    assert {status for status, _ in attacks[0::2]} == {413}
    assert {status for status, _ in attacks[1::2]} == {200}
    assert max(seconds for _, seconds in attacks) < REFUSAL_LIMIT_SECONDS
    assert stored_events(running_assistant.database_url, "attacker") == []


def _ask_every_question(assistant: RunningAssistant, sender: str) -> None:
    with requests.Session() as session:
        for number in range(MESSAGES_MEASURED):
            question = VISITOR_QUESTIONS[number % len(VISITOR_QUESTIONS)]
            answer = session.post(webhook(assistant), json={"sender": sender, "message": question}, timeout=60)
            assert answer.status_code == 200 and answer.json(), question


def test_a_message_over_5000_characters_gets_the_same_refusal_as_on_every_channel_and_is_not_stored(
    running_assistant: RunningAssistant, sender: str
) -> None:
    answer = post_body(running_assistant, json_body(sender=sender, message="why " * 1251))
    assert answer.status_code == 200
    assert answer.json() == [{"recipient_id": sender, "text": inbound.TOO_LONG_REPLY}]
    assert stored_events(running_assistant.database_url, sender) == []


# Malformed requests


@pytest.mark.parametrize(
    ("body", "explanation"),
    [
        (b"", "The body is empty"),
        (b"  \n", "The body is empty"),
        (b'{"sender": "x", "message": ', "not valid JSON"),
        (b"sender=x&message=hello", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 50_000, "not valid JSON"),
        (b'["hello"]', "not an array"),
        (b'"hello"', "not a string"),
        (b"42", "not a number"),
        (b"null", "not null"),
        (b"true", "not a boolean"),
        (b'{"message": "hello"}', '"sender" is required'),
        (b'{"sender": null, "message": "hello"}', '"sender" is required'),
        (b'{"sender": 42, "message": "hello"}', '"sender" must be a JSON string, not a number'),
        (b'{"sender": ["a"], "message": "hello"}', '"sender" must be a JSON string, not an array'),
        (b'{"sender": "", "message": "hello"}', '"sender" must be 1 to 128 printable characters'),
        (b'{"sender": "   ", "message": "hello"}', '"sender" must be 1 to 128 printable characters'),
        (b'{"sender": "a\\nb", "message": "hello"}', '"sender" must be 1 to 128 printable characters'),
        (b'{"sender": "a\\u200bb", "message": "hello"}', '"sender" must be 1 to 128 printable characters'),
        (json_body(sender="x" * 129, message="hello"), '"sender" must be 1 to 128 printable characters'),
        (b'{"sender": "malformed-message"}', '"message" must be text'),
        (b'{"sender": "malformed-message", "message": 42}', '"message" must be text'),
        (b'{"sender": "malformed-message", "message": {"text": "hi"}}', '"message" must be text'),
        (b'{"sender": "malformed-message", "message": "hi", "metadata": "x"}', '"metadata" must be a JSON object'),
    ],
)
def test_a_malformed_request_gets_a_clear_400_and_changes_nothing(
    running_assistant: RunningAssistant, body: bytes, explanation: str
) -> None:
    answer = post_body(running_assistant, body)
    assert answer.status_code == 400
    assert explanation in answer.json()["error"]
    for conversation in ("default", "x", "malformed-message"):
        assert stored_events(running_assistant.database_url, conversation) == []


def test_the_server_answers_normally_after_malformed_requests(running_assistant: RunningAssistant, sender: str) -> None:
    for body in (b"", b"[]", b'"hi"', b"{"):
        assert post_body(running_assistant, body).status_code == 400
    assert running_assistant.say(sender, "hello")


# Blank and invisible text


@pytest.mark.parametrize(
    "escaped_message",
    ["", "   ", "\\u200b", "\\u200b\\u200c\\u200d\\u2060\\ufeff", "\\ud800", " \\udfff\\u200b ", "\\u0000"],
)
def test_a_blank_invisible_or_lone_surrogate_message_gets_the_empty_message_reply_and_is_not_stored(
    running_assistant: RunningAssistant, sender: str, escaped_message: str
) -> None:
    body = f'{{"sender": "{sender}", "message": "{escaped_message}"}}'.encode()
    answer = post_body(running_assistant, body)
    assert answer.status_code == 200
    assert answer.json() == [{"recipient_id": sender, "text": inbound.EMPTY_MESSAGE_REPLY}]
    assert stored_events(running_assistant.database_url, sender) == []


def test_accepted_text_reaches_the_assistant_normalised_and_as_rest(
    running_assistant: RunningAssistant, sender: str
) -> None:
    body = json_body(sender=sender, message="\ufeff is keta\u200bmine safe?\ud800 ", input_channel="facebook")
    answer = post_body(running_assistant, body)
    assert answer.status_code == 200 and answer.json()
    user_events = [
        json.loads(data) for kind, data in stored_events(running_assistant.database_url, sender) if kind == "user"
    ]
    assert [(event["text"], event["input_channel"]) for event in user_events] == [("is ketamine safe?", "rest")]


def test_the_channel_s_health_check_still_answers(running_assistant: RunningAssistant) -> None:
    answer = requests.get(f"{running_assistant.rasa_url}/webhooks/rest/", timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


# REST_TOKEN


@pytest.fixture(scope="module")
def token_protected_rasa_url() -> Iterator[str]:
    """Rasa's app with the REST channel and `REST_TOKEN` set (`tests/channels/rest_channel_server.py`)."""
    port = free_port()
    service = launch.Service(
        name="assistant",
        command=[sys.executable, "-m", "tests.channels.rest_channel_server", str(port)],
        health_url=f"http://127.0.0.1:{port}/",
        address=f"http://127.0.0.1:{port}",
    )
    process = launch.start(service, env={"REST_TOKEN": REST_TOKEN})
    try:
        launch.wait_until_ready(service, process, timeout=120)
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    finally:
        launch.stop([process])


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token", f"Basic {REST_TOKEN}", f"Bearer {REST_TOKEN}x", REST_TOKEN],
)
def test_with_a_rest_token_a_request_without_it_is_refused_with_401(
    token_protected_rasa_url: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = requests.post(token_protected_rasa_url, json={"sender": "s", "message": "hello"}, headers=headers, timeout=30)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "REST_TOKEN" in answer.json()["error"]


def test_with_a_rest_token_a_request_that_carries_it_reaches_the_assistant(token_protected_rasa_url: str) -> None:
    answer = requests.post(
        token_protected_rasa_url,
        json={"sender": "token-holder", "message": "hello"},
        headers={"Authorization": f"Bearer {REST_TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json() == []  # Rasa's handler answered: this agent has no model


def test_with_a_rest_token_checks_come_after_the_token(token_protected_rasa_url: str) -> None:
    assert requests.post(token_protected_rasa_url, data=b"[]", timeout=30).status_code == 401
    authorised = {"Authorization": f"Bearer {REST_TOKEN}"}
    assert requests.post(token_protected_rasa_url, data=b"[]", headers=authorised, timeout=30).status_code == 400


def test_the_bearer_token_is_compared_whole_and_the_scheme_in_any_case() -> None:
    assert bearer_token_is_valid("secret", "Bearer secret")
    assert bearer_token_is_valid("secret", "bearer  secret ")
    assert not bearer_token_is_valid("secret", "Bearer secre")
    assert not bearer_token_is_valid("secret", "Bearer secret2")
    assert not bearer_token_is_valid("secret", "Bearer s\u00e9cret")
    assert not bearer_token_is_valid("secret", None)


def test_the_rest_token_comes_from_the_environment_and_blank_means_open() -> None:
    assert settings.rest_token({}) is None
    assert settings.rest_token({"REST_TOKEN": "  "}) is None
    assert settings.rest_token({"REST_TOKEN": " s3cret "}) == "s3cret"
