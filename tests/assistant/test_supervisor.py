"""A crashed service is started again, after a pause that grows while it keeps crashing."""

import subprocess
import sys
from typing import Iterator, List

import pytest

from assistant.supervisor import LONGEST_PAUSE_SECONDS, STABLE_SECONDS, SupervisedService, check


@pytest.fixture
def started() -> Iterator[List[subprocess.Popen]]:
    """Every process a test starts, ended afterwards."""
    processes: List[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def crashing_service(started: List[subprocess.Popen]) -> SupervisedService:
    """A real process that exits with code 3 as soon as it starts, every time."""

    def start() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        started.append(process)
        return process

    return SupervisedService("worker", start, start(), started_at=0.0)


def crash(service: SupervisedService, now: float) -> float:
    """Lets the service's process exit, has the exit noticed at `now`; returns the pause."""
    service.process.wait(timeout=30)
    check(service, now)
    assert service.restart_at is not None
    return service.restart_at - now


def test_a_crashed_service_is_restarted_after_a_pause_and_says_so(
    crashing_service: SupervisedService, capsys: pytest.CaptureFixture
) -> None:
    first = crashing_service.process

    assert crash(crashing_service, now=1.0) == 1.0
    check(crashing_service, now=1.5)
    assert crashing_service.process is first
    check(crashing_service, now=2.0)

    assert crashing_service.process is not first and crashing_service.restarts == 1
    output = capsys.readouterr().out
    assert "The worker exited with code 3; restarting it in 1 s." in output
    assert f"Restarted the worker (pid {crashing_service.process.pid}, restart 1)." in output


def test_the_pause_doubles_while_it_keeps_crashing_up_to_thirty_seconds(
    crashing_service: SupervisedService,
) -> None:
    pauses, now = [], 1.0
    for _ in range(7):
        pause = crash(crashing_service, now)
        pauses.append(pause)
        now += pause
        check(crashing_service, now)
        now += 0.5

    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, LONGEST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS]


def test_a_service_that_stayed_up_a_minute_starts_again_from_one_second(
    crashing_service: SupervisedService,
) -> None:
    crashing_service.pause = 16.0

    assert crash(crashing_service, now=STABLE_SECONDS + 1) == 1.0


def test_a_running_service_is_left_alone(started: List[subprocess.Popen]) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started.append(process)
    service = SupervisedService("sleeper", lambda: pytest.fail("restarted"), process)

    check(service, now=1000.0)

    assert service.process is process and service.restart_at is None
