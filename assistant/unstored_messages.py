"""A visitor's message that cannot be stored is never forgotten in silence.

Rasa stores a conversation at the end of each turn. When that fails (the database
is down, full, or locked for longer than `assistant.database` waits), the tracker
store raises `ConversationNotStored` (see `assistant.tracker_store`). Without this
module the channel would log it and the visitor would never know that the practice
will not see the message. Here the turn ends with a clear notice that the message
was not saved and should be sent again.

What the assistant already said in that turn is not withdrawn: it may be the
crisis resources, which must reach someone in danger whatever the database does,
and socket.io and Messenger have delivered it by then anyway.
"""

import functools
import logging
from typing import Any, Awaitable, Callable, Dict, List

from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

from assistant.tracker_store import ConversationNotStored

logger = logging.getLogger(__name__)

NOT_STORED_REPLY = (
    "Sorry, I couldn't save your message just now, so it didn't reach the practice. "
    "Please send it again in a minute."
)

HandleMessage = Callable[[Agent, UserMessage], Awaitable[List[Dict[str, Any]] | None]]


def refusing_unstored(handle_message: HandleMessage) -> HandleMessage:
    """Wraps `Agent.handle_message` so that a message that can't be stored is refused.

    Args:
        handle_message: Rasa's own `Agent.handle_message`.

    Returns:
        The same method, which catches `ConversationNotStored`, logs it and ends
        the turn with `NOT_STORED_REPLY`.
    """

    @functools.wraps(handle_message)
    async def handle_or_refuse(self: Agent, message: UserMessage) -> List[Dict[str, Any]] | None:
        try:
            return await handle_message(self, message)
        except ConversationNotStored as error:
            logger.error("A visitor's message was refused because it could not be stored: %s", error)
            await send_refusal(message)
            return None

    return handle_or_refuse


async def send_refusal(message: UserMessage) -> None:
    """Tells the visitor the message was not saved and asks for it again."""
    try:
        await message.output_channel.send_text_message(message.sender_id, NOT_STORED_REPLY)
    except Exception:  # noqa: BLE001 - the refusal is best effort; the error is logged above.
        logger.exception("The refusal could not be sent to the visitor.")


def refuse_unstored_messages() -> None:
    """Makes Rasa's agent refuse messages it could not store (the Rasa entry point calls this)."""
    if not getattr(Agent.handle_message, "refuses_unstored", False):
        Agent.handle_message = refusing_unstored(Agent.handle_message)
        Agent.handle_message.refuses_unstored = True  # type: ignore[attr-defined]
