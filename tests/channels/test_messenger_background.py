"""Messenger events are handled after the answer: in order per visitor, visitors side by side."""

import asyncio
from typing import Any, Dict, List, Tuple

from channels.messenger_background import VisitorQueues, message_id, sender_id
from tests.channels.messenger_webhook import echo_event, postback_event, text_event


async def test_a_visitors_events_are_handled_in_order_while_visitors_proceed_side_by_side() -> None:
    queues = VisitorQueues(max_at_once=4)
    handled: List[Tuple[str, int]] = []
    slow_started, release_slow = asyncio.Event(), asyncio.Event()

    def job(visitor: str, number: int, slow: bool = False) -> Any:
        async def run() -> None:
            if slow:
                slow_started.set()
                await release_slow.wait()
            await asyncio.sleep(0)
            handled.append((visitor, number))

        return run

    queues.accept("ann", job("ann", 1, slow=True))
    for number in (2, 3):
        queues.accept("ann", job("ann", number))
    queues.accept("bob", job("bob", 1))
    await asyncio.wait_for(slow_started.wait(), timeout=10)
    for _ in range(20):
        await asyncio.sleep(0)

    assert handled == [("bob", 1)]  # Ann's slow first message holds back only Ann's
    release_slow.set()
    for _ in range(200):
        if len(handled) == 4:
            break
        await asyncio.sleep(0.01)
    assert [entry for entry in handled if entry[0] == "ann"] == [("ann", 1), ("ann", 2), ("ann", 3)]


async def test_a_failing_event_is_logged_and_the_visitors_next_event_still_handled(caplog: Any) -> None:
    queues = VisitorQueues()
    handled: List[int] = []

    async def fails() -> None:
        raise RuntimeError("the assistant failed")

    async def succeeds() -> None:
        handled.append(2)

    queues.accept("ann", fails)
    queues.accept("ann", succeeds)
    for _ in range(100):
        if handled:
            break
        await asyncio.sleep(0.01)

    assert handled == [2]
    assert "could not be handled" in caplog.text


def test_message_ids_come_from_messages_and_postbacks() -> None:
    text: Dict[str, Any] = text_event("1", "hi")
    postback = postback_event("1", "Book", "/book_consultation")

    assert message_id(text) == text["message"]["mid"] and message_id(postback) == postback["postback"]["mid"]
    assert message_id({"sender": {"id": "1"}, "read": {"watermark": 1}}) is None
    assert sender_id(text) == "1" and sender_id(echo_event("7", "x")) != "7"
