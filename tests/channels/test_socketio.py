"""The website chat's socket, driven as the widget drives it (and as a hostile page would)."""

import secrets
from typing import AsyncIterator, Awaitable, Callable

import pytest
import socketio
import websockets
from websockets.exceptions import InvalidStatusCode

from channels import inbound
from channels.session_tokens import SessionTokens
from tests.channels.chat_socket import ChatSocket, texts
from tests.channels.conversations import stored_events
from tests.servers import RunningAssistant

OpenSocket = Callable[..., Awaitable[ChatSocket]]


@pytest.fixture
async def open_socket(channels_assistant: RunningAssistant, demo_origin: str) -> AsyncIterator[OpenSocket]:
    """Opens chat sockets (from the demo page's origin unless told otherwise); closes them after."""
    sockets = []

    async def open_one(origin: str = demo_origin, **session_request: object) -> ChatSocket:
        socket = ChatSocket(channels_assistant.rasa_url, origin)
        sockets.append(socket)
        await socket.open(**session_request)
        return socket

    yield open_one
    for socket in sockets:
        if socket.client.connected:
            await socket.close()


async def test_a_page_from_another_origin_cannot_open_the_socket(open_socket: OpenSocket) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await open_socket(origin="https://another-site.example")


async def test_a_page_from_another_origin_cannot_open_a_websocket_either(
    channels_assistant: RunningAssistant, demo_origin: str
) -> None:
    url = channels_assistant.rasa_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(InvalidStatusCode) as refused:
        async with websockets.connect(url, origin="https://another-site.example"):
            pass
    assert refused.value.status_code == 400
    async with websockets.connect(url, origin=demo_origin) as accepted:
        assert (await accepted.recv()).startswith("0{")  # engine.io's "open" packet


async def test_the_practice_page_gets_a_session_and_the_notice_comes_first(open_socket: OpenSocket) -> None:
    socket = await open_socket()
    replies = await socket.say("/greet")
    assert "automated assistant" in replies[0]["text"] and "988" in replies[0]["text"]
    assert "stored" in replies[0]["text"]
    assert [b["payload"] for b in replies[-1]["quick_replies"]][-1] == "/book_consultation"


async def test_the_conversation_goes_on_when_the_visitor_comes_back_with_the_same_session(
    open_socket: OpenSocket,
) -> None:
    first_tab = await open_socket()
    assert "what name" in texts(await first_tab.say("I'd like to book the free consultation call")).lower()
    await first_tab.close()
    reopened = await open_socket(session_token=first_tab.session_token)
    assert (reopened.session_id, reopened.session_token) == (first_tab.session_id, first_tab.session_token)
    assert "How can she reach you" in texts(await reopened.say("Jordan"))


async def test_start_over_forgets_the_half_filled_form(open_socket: OpenSocket) -> None:
    socket = await open_socket()
    await socket.say("book a consultation please")
    assert "start fresh" in texts(await socket.say("start over"))
    assert "How can she reach you" not in texts(await socket.say("Jordan"))


@pytest.mark.parametrize(
    "request_data",
    [
        None,
        "not-a-mapping",
        {"session_token": 42},
        {"session_token": "x" * 500},
        {"session_id": "../../etc"},
        {"session_token": ["a", "list"]},
    ],
)
async def test_a_malformed_session_request_gets_a_fresh_session(
    open_socket: OpenSocket, request_data: object
) -> None:
    socket = await open_socket()
    await socket.client.emit("session_request", request_data)
    fresh = await socket._confirmed.get()
    assert len(fresh["session_id"]) == 32 and fresh["session_id"] != socket.session_id
    assert fresh["session_token"].startswith(fresh["session_id"] + ".")


async def test_a_stolen_id_gets_a_fresh_conversation_that_neither_hears_nor_changes_the_visitors(
    open_socket: OpenSocket, channels_assistant: RunningAssistant
) -> None:
    visitor = await open_socket()
    await visitor.say("I'd like to book the free consultation call")
    assert "How can she reach you" in texts(await visitor.say("Jordan"))

    thief = await open_socket(session_id=visitor.session_id)
    assert thief.session_id != visitor.session_id
    bare_id = {"message": "thief@example.com", "session_id": visitor.session_id}
    assert texts(await thief.emit("user_uttered", bare_id)) == inbound.NO_SESSION_REPLY
    await thief.say("thief@example.com", session_id=visitor.session_id)  # goes to the thief's own
    assert await visitor.replies(first_within=1.5) == []

    assert "times" in texts(await visitor.say("jordan@example.com")), "the form still asked for the email"
    assert await thief.replies(first_within=1.0) == [], "the thief heard the visitor's conversation"
    visitors_events = str(stored_events(channels_assistant.database_url, visitor.session_id))
    assert "jordan@example.com" in visitors_events and "thief@example.com" not in visitors_events


async def test_an_invented_id_gets_a_fresh_conversation(
    open_socket: OpenSocket, channels_assistant: RunningAssistant
) -> None:
    invented = "my-own-conversation-" + secrets.token_hex(4)
    socket = await open_socket(session_id=invented)
    assert socket.session_id != invented
    assert await socket.say("hello")
    assert stored_events(channels_assistant.database_url, invented) == []
    assert stored_events(channels_assistant.database_url, socket.session_id)


def forgeries(victim: ChatSocket, own_token: str) -> list:
    """Tokens an attacker could make for the victim's conversation without the server's key."""
    other_key = SessionTokens(secrets.token_bytes(32))
    signed_elsewhere = other_key.issue()[1]
    own_signature = own_token.split(".")[1]
    return [
        victim.session_id,
        f"{victim.session_id}.",
        f"{victim.session_id}.{signed_elsewhere.split('.')[1]}",
        f"{victim.session_id}.{own_signature}",
        victim.session_token[:-1] + ("A" if victim.session_token[-1] != "A" else "B"),
    ]


async def test_a_forged_token_gets_a_fresh_conversation_and_its_messages_are_refused(
    open_socket: OpenSocket,
) -> None:
    visitor = await open_socket()
    await visitor.say("I'd like to book the free consultation call")
    forger = await open_socket()
    for forged in forgeries(visitor, forger.session_token):
        resumed = await open_socket(session_token=forged)
        assert resumed.session_id not in (visitor.session_id, forger.session_id), forged
        refused = await forger.emit("user_uttered", {"message": "Mallory", "session_token": forged})
        assert texts(refused) == inbound.NO_SESSION_REPLY, forged
    # Even in the forger's own conversation, a message is taken only with the real signature.
    unsigned_own = f"{forger.session_id}.{SessionTokens(secrets.token_bytes(32)).issue()[1].split('.')[1]}"
    refused = await forger.emit("user_uttered", {"message": "hello", "session_token": unsigned_own})
    assert texts(refused) == inbound.NO_SESSION_REPLY
    assert await visitor.replies(first_within=1.0) == []
    assert "How can she reach you" in texts(await visitor.say("Jordan"))


async def test_a_socket_cannot_write_into_a_session_it_did_not_resume(open_socket: OpenSocket) -> None:
    owner = await open_socket()
    intruder = await open_socket()
    with_owners_token = {"message": "hello", "session_token": owner.session_token}
    assert texts(await intruder.emit("user_uttered", with_owners_token)) == inbound.NO_SESSION_REPLY
    assert await owner.replies(first_within=1.5) == []
    assert texts(await intruder.emit("user_uttered", {"message": "hello"})) == inbound.NO_SESSION_REPLY


async def test_bad_messages_get_a_clear_refusal_and_the_conversation_goes_on(open_socket: OpenSocket) -> None:
    socket = await open_socket()
    await socket.say("book a consultation please")
    assert texts(await socket.say("")) == inbound.EMPTY_MESSAGE_REPLY
    assert texts(await socket.say(" \n\t ")) == inbound.EMPTY_MESSAGE_REPLY
    assert texts(await socket.say("why " * 5000)) == inbound.TOO_LONG_REPLY
    assert texts(await socket.say(None)) == inbound.NOT_TEXT_REPLY
    assert texts(await socket.say(["a", "list"])) == inbound.NOT_TEXT_REPLY
    assert texts(await socket.emit("user_uttered", "a bare string")) == inbound.NOT_TEXT_REPLY
    await socket.client.emit("an_event_nobody_handles", {"message": "hi"})
    assert await socket.replies(first_within=1.0) == []
    answer = await socket.say("Jordan", metadata="{not json")
    assert "How can she reach you" in texts(answer)


@pytest.mark.parametrize(
    "text",
    ["😀🙏 is ketamine safe? 🌿", "هل العلاج بالكيتامين آمن؟", "<script>alert('x')</script><img src=x onerror=alert(1)>"],
)
async def test_emoji_right_to_left_and_html_get_an_answer(open_socket: OpenSocket, text: str) -> None:
    socket = await open_socket()
    replies = await socket.say(text)
    assert replies and all(reply.get("text") for reply in replies)
