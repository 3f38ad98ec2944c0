"""A local SMTP server on loopback that records every message it receives."""

import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, List

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class MailRecorder:
    """Keeps what the SMTP server received, in order."""

    messages: List[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def received(self) -> List[EmailMessage]:
        with self._lock:
            return list(self.messages)


def start_mail_server(port: int | None = None) -> tuple:
    """Starts a recording SMTP server (on `port`, or a free one); returns (controller, recorder, port)."""
    recorder = MailRecorder()
    port = port or free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, recorder, port
