"""Delivers the alert outbox from the action server's event loop, retrying with backoff.

An action writes the alert to `assistant.alert_outbox` and wakes the worker; the
worker sends every due alert, records each failure with the time of the next try,
and otherwise sleeps until the next alert is due (looking at the table at least
every half minute, so alerts left by a previous run or another worker are picked
up). SMTP is slow and synchronous, so each send runs in a thread: the visitor
never waits for the mail server.

rasa-sdk starts the worker through its plugin hook (`rasa_sdk_plugins`) when the
action server starts; an alert raised where no worker runs yet starts one.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any, Callable, Dict

import pluggy
from sanic import Sanic
from sqlalchemy.engine import Engine

from assistant import alert_outbox, settings
from assistant.database import engine_for
from assistant.mailer import SEND_ERRORS, send_email
from assistant.settings import SmtpSettings

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")

IDLE_POLL_SECONDS = 30.0
SMTP_OFF_ERROR = "SMTP is not configured (SMTP_HOST, THERAPIST_EMAIL)"


class AlertWorker:
    """Sends the outbox's due alerts, one at a time, until SMTP accepts each."""

    def __init__(
        self,
        engine: Engine,
        smtp_settings: Callable[[], SmtpSettings | None] = settings.smtp_settings,
        idle_poll_seconds: float = IDLE_POLL_SECONDS,
    ) -> None:
        """Keeps where the outbox is and how to reach SMTP (read at each send, so a fix applies)."""
        self.engine = engine
        self.smtp_settings = smtp_settings
        self.idle_poll_seconds = idle_poll_seconds
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Asks the worker to look at the outbox now (a new alert was written)."""
        self._wake.set()

    async def deliver_due(self, now: float | None = None) -> int:
        """Sends every alert due at `now` (default: the current time); returns how many SMTP accepted."""
        sent = 0
        while True:
            alert = await asyncio.to_thread(alert_outbox.claim_next_due, self.engine, self.worker_id, now)
            if alert is None:
                return sent
            sent += await self._deliver(alert, now)

    async def _deliver(self, alert: alert_outbox.OutboxAlert, now: float | None) -> int:
        smtp = self.smtp_settings()
        try:
            if smtp is None:
                raise RuntimeError(SMTP_OFF_ERROR)
            await asyncio.to_thread(send_email, smtp, alert.recipient, alert.subject, alert.body)
        except (*SEND_ERRORS, RuntimeError) as error:
            problem = f"{type(error).__name__}: {error}"
            retry_at = await asyncio.to_thread(alert_outbox.mark_failed, self.engine, alert, problem, now)
            logger.warning(
                "Alert %s could not be emailed (attempt %s, %s); next try at %s.",
                alert.id, alert.attempts + 1, problem, time.strftime("%H:%M:%S", time.localtime(retry_at)),
            )
            return 0
        await asyncio.to_thread(alert_outbox.mark_sent, self.engine, alert.id, now)
        logger.info("Alert %s emailed to the therapist: %s", alert.id, alert.subject)
        return 1

    async def run(self) -> None:
        """Delivers due alerts, then sleeps until the next is due or an alert is written."""
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
                wait = await asyncio.to_thread(alert_outbox.seconds_until_next_due, self.engine)
            except Exception:  # the database may be locked or away for a while: keep trying
                logger.exception("The alert outbox could not be read; trying again shortly.")
                wait = alert_outbox.FIRST_RETRY_SECONDS
            timeout = self.idle_poll_seconds if wait is None else min(wait, self.idle_poll_seconds)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.05))
            except asyncio.TimeoutError:
                pass


_workers: Dict[asyncio.AbstractEventLoop, tuple] = {}


def running_worker(engine: Engine | None = None) -> AlertWorker:
    """The worker of this event loop, started on first use."""
    loop = asyncio.get_running_loop()
    current = _workers.get(loop)
    if current is None or current[1].done():
        worker = AlertWorker(engine or engine_for(settings.database_url()))
        task = loop.create_task(worker.run(), name="alert outbox worker")
        current = _workers[loop] = (worker, task)
    return current[0]


async def start_alert_worker(app: Sanic, _loop: Any) -> None:
    """Starts delivering at server start: alerts left by a previous run go out too."""
    running_worker()


async def stop_alert_worker(app: Sanic, _loop: Any) -> None:
    """Stops the worker; unsent alerts stay in the outbox for the next start."""
    current = _workers.pop(asyncio.get_running_loop(), None)
    if current is not None:
        current[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await current[1]


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa-sdk's plugin hook: runs the worker for as long as the action server runs."""
    app.register_listener(start_alert_worker, "after_server_start")
    app.register_listener(stop_alert_worker, "before_server_stop")
