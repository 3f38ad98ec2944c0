"""Handles Messenger events after the webhook has answered: in order per visitor, once each.

Meta expects the webhook to answer within seconds and retries a slow one, so the
channel acknowledges a signed call at once and queues its events here. Each
visitor has a queue drained by one task on the server's loop, so a visitor's
messages reach the assistant in the order Meta sent them while different visitors
proceed side by side (at most `MAX_VISITORS_AT_ONCE` at a time). A message whose
id was received before (`channels.message_receipts`) is dropped. Errors are
logged; they never reach Meta, which has had its answer.
"""

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable, Deque, Dict, Set

from sqlalchemy.exc import SQLAlchemyError

from assistant import settings
from assistant.database import engine_for
from channels.message_receipts import claim_message, mark_handled

logger = logging.getLogger(__name__)

MAX_VISITORS_AT_ONCE = 4

Job = Callable[[], Awaitable[None]]
HandleEvent = Callable[[Dict[str, Any]], Awaitable[None]]


def message_id(event: Dict[str, Any]) -> str | None:
    """The `mid` that Meta gives a visitor's message or postback, if any."""
    for key in ("message", "postback"):
        content = event.get(key)
        if isinstance(content, dict) and isinstance(content.get("mid"), str) and content["mid"]:
            return content["mid"]
    return None


def sender_id(event: Dict[str, Any]) -> str:
    """The page-scoped id of the visitor who sent an event."""
    return str((event.get("sender") or {}).get("id") or "")


class VisitorQueues:
    """One queue of jobs per visitor, each drained in order by its own task."""

    def __init__(self, max_at_once: int = MAX_VISITORS_AT_ONCE) -> None:
        """Starts empty; tasks are made on the running loop when jobs arrive."""
        self._queues: Dict[str, Deque[Job]] = {}
        self._tasks: Set[asyncio.Task] = set()
        self._limit = asyncio.Semaphore(max_at_once)

    def accept(self, visitor: str, job: Job) -> None:
        """Queues a job behind the visitor's earlier ones; returns at once."""
        queue = self._queues.get(visitor)
        if queue is not None:
            queue.append(job)
            return
        self._queues[visitor] = deque([job])
        task = asyncio.get_running_loop().create_task(self._drain(visitor))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, visitor: str) -> None:
        queue = self._queues[visitor]
        try:
            while queue:
                job = queue.popleft()
                async with self._limit:
                    try:
                        await job()
                    except Exception:
                        logger.exception("A Messenger event could not be handled.")
        finally:
            del self._queues[visitor]


async def handle_once(event: Dict[str, Any], handle: HandleEvent) -> None:
    """Handles an event unless its message id was received before.

    When the database cannot say (it is locked or away), the event is handled
    anyway: answering twice is better than not answering.
    """
    mid = message_id(event)
    engine = engine_for(settings.database_url()) if mid else None
    if engine is not None and mid is not None:
        try:
            if not await asyncio.to_thread(claim_message, engine, mid):
                logger.info("Dropped a Messenger message that was already received (%s).", mid)
                return
        except SQLAlchemyError:
            logger.exception("Could not check whether a Messenger message was a replay; handling it.")
            engine = None
    try:
        await handle(event)
    finally:
        if engine is not None and mid is not None:
            await asyncio.to_thread(mark_handled, engine, mid)
