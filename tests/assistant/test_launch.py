"""The launcher of `make run`, run for real: each service's environment, its umask,
a killed service restarted while the others keep serving, and Ctrl-C stopping all."""

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests

from assistant import settings
from tests.servers import free_port

STARTUP_SECONDS = 180
RESTART_SECONDS = 120
SECRETS = {
    "REVIEW_PASSWORD": secrets.token_urlsafe(16),
    "FACEBOOK_APP_SECRET": secrets.token_hex(16),
    "FACEBOOK_PAGE_ACCESS_TOKEN": f"EAAtest{secrets.token_hex(12)}",
    "FACEBOOK_VERIFY_TOKEN": secrets.token_urlsafe(16),
    "SMTP_PASSWORD": secrets.token_urlsafe(16),
    "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
}
SERVICE_COMMANDS = {
    "action server": "assistant.action_server",
    "review app": "review",
    "demo page": "web.demo_server",
}


@dataclass
class RunningLauncher:
    """The launcher process, what it printed, and the addresses of its services."""

    process: subprocess.Popen
    health_urls: Dict[str, str]
    output: List[str] = field(default_factory=list)

    def printed(self) -> str:
        return "".join(self.output)

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.printed():
            assert self.process.poll() is None, f"the launcher exited:\n{self.printed()}"
            assert time.monotonic() < deadline, f"{text!r} not printed in {timeout}s:\n{self.printed()}"
            time.sleep(0.2)

    def services(self) -> Dict[str, int]:
        """The launcher's children by service name: their process ids."""
        found = {}
        for pid in child_pids(self.process.pid):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            for name, module in SERVICE_COMMANDS.items():
                if module.encode() in command:
                    found[name] = pid
        return found

    def healthy(self, name: str) -> bool:
        try:
            return requests.get(self.health_urls[name], timeout=5).status_code == 200
        except requests.RequestException:
            return False


def child_pids(parent: int) -> List[int]:
    """The live processes whose parent is `parent` (from /proc/<pid>/stat)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def environment_of(pid: int) -> Dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = [item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item]
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


def umask_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return line.split()[1]
    pytest.skip("this kernel does not report a process's umask")


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLauncher]:
    """The launcher with the secrets of a real deployment in its environment."""
    workdir = tmp_path_factory.mktemp("launcher")
    ports = {"action server": free_port(), "review app": free_port(), "demo page": free_port()}
    env = {
        **os.environ,
        **SECRETS,
        "PYTHONPATH": str(settings.PROJECT_ROOT),
        "DATABASE_URL": f"sqlite:///{workdir / 'assistant.db'}",
        "VAR_DIR": str(workdir / "var"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.assistant.launcher_process", *map(str, ports.values())],
        cwd=settings.PROJECT_ROOT, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    running = RunningLauncher(process, {
        name: f"http://127.0.0.1:{port}/health" for name, port in ports.items()
    })
    reader = threading.Thread(target=lambda: running.output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        running.wait_for_output("Press Ctrl-C to stop.", STARTUP_SECONDS)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_each_service_sees_only_the_secrets_it_uses(launcher: RunningLauncher) -> None:
    services = launcher.services()
    assert set(services) == set(SERVICE_COMMANDS)
    seen = {name: set(environment_of(pid)) & set(SECRETS) for name, pid in services.items()}

    assert seen == {
        "action server": {"SMTP_PASSWORD", "ACTION_SERVER_TOKEN"},
        "review app": {"REVIEW_PASSWORD"},
        "demo page": set(),
    }
    assert "DATABASE_URL" not in environment_of(services["demo page"])
    assert environment_of(services["action server"])["ACTION_SERVER_TOKEN"] == SECRETS["ACTION_SERVER_TOKEN"]


def test_services_create_files_for_the_practice_s_user_alone(launcher: RunningLauncher) -> None:
    for name, pid in launcher.services().items():
        assert umask_of(pid) == "0077", name


def test_a_killed_service_is_restarted_while_the_others_keep_running(launcher: RunningLauncher) -> None:
    before = launcher.services()
    os.kill(before["action server"], signal.SIGKILL)

    launcher.wait_for_output("The action server exited with code -9; restarting it in 1 s.", 30)
    launcher.wait_for_output("Restarted the action server", 30)
    deadline = time.monotonic() + RESTART_SECONDS
    while not launcher.healthy("action server"):
        assert launcher.healthy("review app") and launcher.healthy("demo page")
        assert time.monotonic() < deadline, launcher.printed()
        time.sleep(0.5)

    after = launcher.services()
    assert after["action server"] != before["action server"]
    assert (after["review app"], after["demo page"]) == (before["review app"], before["demo page"])
    assert launcher.process.poll() is None


def test_ctrl_c_stops_every_service(launcher: RunningLauncher) -> None:
    children = list(launcher.services().values())

    os.kill(launcher.process.pid, signal.SIGINT)

    assert launcher.process.wait(timeout=60) == 0
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    assert not any(launcher.healthy(name) for name in SERVICE_COMMANDS)
