"""The website chat's socket, driven as the widget drives it (and as a hostile page would)."""

from typing import AsyncIterator, Awaitable, Callable

import pytest
import socketio
import websockets
from websockets.exceptions import InvalidStatusCode

from channels import inbound
from tests.channels.chat_socket import ChatSocket, texts
from tests.servers import RunningAssistant

OpenSocket = Callable[..., Awaitable[ChatSocket]]


@pytest.fixture
async def open_socket(channels_assistant: RunningAssistant, demo_origin: str) -> AsyncIterator[OpenSocket]:
    """Opens chat sockets (from the demo page's origin unless told otherwise); closes them after."""
    sockets = []

    async def open_one(session_id: str | None = None, origin: str = demo_origin) -> ChatSocket:
        socket = ChatSocket(channels_assistant.rasa_url, origin)
        sockets.append(socket)
        await socket.open(session_id)
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
    reopened = await open_socket(first_tab.session_id)
    assert reopened.session_id == first_tab.session_id
    assert "How can she reach you" in texts(await reopened.say("Jordan"))


async def test_start_over_forgets_the_half_filled_form(open_socket: OpenSocket) -> None:
    socket = await open_socket()
    await socket.say("book a consultation please")
    assert "start fresh" in texts(await socket.say("start over"))
    assert "How can she reach you" not in texts(await socket.say("Jordan"))


@pytest.mark.parametrize(
    "request_data",
    [None, "not-a-mapping", {"session_id": 42}, {"session_id": "x" * 500}, {"session_id": "../../etc"}],
)
async def test_a_malformed_session_request_gets_a_fresh_session(
    open_socket: OpenSocket, request_data: object
) -> None:
    socket = await open_socket()
    await socket.client.emit("session_request", request_data)
    fresh = await socket._confirmed.get()
    assert isinstance(fresh, str) and len(fresh) == 32


async def test_a_socket_cannot_write_into_a_session_it_did_not_ask_for(open_socket: OpenSocket) -> None:
    owner = await open_socket()
    intruder = await open_socket()
    refused = await intruder.emit("user_uttered", {"message": "hello", "session_id": owner.session_id})
    assert texts(refused) == inbound.NO_SESSION_REPLY
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
