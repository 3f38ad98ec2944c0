"""A real CalDAV server for the tests: Radicale from PyPI, on loopback, in a temporary folder.

The server runs as its own process with an htpasswd user, so the assistant's
calendar client talks to it over HTTP with credentials exactly as it would talk to
the practice's Nextcloud or Fastmail. Stopping it mid-test is how the tests take
the calendar "down".
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import caldav
import requests

from tests.servers import free_port

RADICALE_USER = "barbara"
RADICALE_PASSWORD = "radicale-test-password"
CALENDAR_NAME = "consultations"
START_TIMEOUT_SECONDS = 30.0


@dataclass
class RunningCalendar:
    """A started Radicale server and the calendar collection the assistant books into."""

    base_url: str
    calendar_url: str
    process: subprocess.Popen

    def environment(self) -> Dict[str, str]:
        """The variables the action server reads to reach this calendar."""
        return {
            "CALDAV_URL": self.calendar_url,
            "CALDAV_USERNAME": RADICALE_USER,
            "CALDAV_PASSWORD": RADICALE_PASSWORD,
        }

    def calendar(self) -> caldav.Calendar:
        """The calendar as the therapist's own client sees it (for setting up and checking)."""
        client = caldav.DAVClient(url=self.calendar_url, username=RADICALE_USER, password=RADICALE_PASSWORD)
        return client.calendar(url=self.calendar_url)

    def stop(self) -> None:
        """Stops the server; the calendar is then unreachable."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_radicale(folder: Path) -> RunningCalendar:
    """Starts Radicale on a free loopback port with one user and one empty calendar."""
    folder.mkdir(parents=True, exist_ok=True)
    users = folder / "users"
    users.write_text(f"{RADICALE_USER}:{RADICALE_PASSWORD}\n", encoding="utf-8")
    port = free_port()
    command = [
        sys.executable, "-m", "radicale", "--config", "",
        "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(folder / "collections"),
        "--auth-type", "htpasswd",
        "--auth-htpasswd-filename", str(users),
        "--auth-htpasswd-encryption", "plain",
        "--rights-type", "owner_only",
        "--logging-level", "warning",
    ]
    log = (folder / "radicale.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    running = RunningCalendar(base_url, f"{base_url}/{RADICALE_USER}/{CALENDAR_NAME}/", process)
    try:
        _wait_until_answering(base_url, process)
        client = caldav.DAVClient(url=base_url, username=RADICALE_USER, password=RADICALE_PASSWORD)
        client.principal().make_calendar(name=CALENDAR_NAME, cal_id=CALENDAR_NAME)
    except Exception:
        running.stop()
        raise
    return running


def _wait_until_answering(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Radicale exited with {process.returncode}")
        try:
            requests.get(base_url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("Radicale did not start in time")
