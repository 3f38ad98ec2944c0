"""Keeps the launcher's services running: a crashed one is restarted, the others go on.

Stopping everything when one service died turned one bad request into an outage
of the review app and the chat alike. Instead a service that exits is started
again after a pause that doubles with each crash in a row (1 s, 2 s, 4 s ... up to
30 s), so a service that cannot start does not spin; one that then stays up for a
minute starts again from 1 s. Each exit and restart is printed for the operator.
"""

import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, List

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 30.0
STABLE_SECONDS = 60.0
POLL_SECONDS = 0.5


@dataclass
class SupervisedService:
    """One running service, how to start it again, and its restart schedule."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen
    started_at: float = field(default_factory=time.monotonic)
    pause: float = FIRST_PAUSE_SECONDS
    restart_at: float | None = None
    restarts: int = 0


def say(message: str) -> None:
    """Tells the operator, in the launcher's output."""
    print(f"[launcher] {message}", flush=True)


def check(service: SupervisedService, now: float) -> None:
    """Schedules a restart when the service has exited, or restarts it when it is time."""
    if service.restart_at is None:
        code = service.process.poll()
        if code is None:
            return
        if now - service.started_at >= STABLE_SECONDS:
            service.pause = FIRST_PAUSE_SECONDS
        service.restart_at = now + service.pause
        say(f"The {service.name} exited with code {code}; restarting it in {service.pause:g} s.")
        service.pause = min(service.pause * 2, LONGEST_PAUSE_SECONDS)
    elif now >= service.restart_at:
        service.process = service.start()
        service.started_at = now
        service.restart_at = None
        service.restarts += 1
        say(f"Restarted the {service.name} (pid {service.process.pid}, restart {service.restarts}).")


def supervise(services: List[SupervisedService], poll: float = POLL_SECONDS) -> None:
    """Watches the services until interrupted (Ctrl-C or SIGTERM raise KeyboardInterrupt)."""
    while True:
        now = time.monotonic()
        for service in services:
            check(service, now)
        time.sleep(poll)
