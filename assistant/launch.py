"""Starts the assistant's servers on localhost and says where to talk to them.

`make run` calls this. Each service is a child process with only the environment
it needs (`assistant.service_environment`) and a private umask; the launcher waits
until each one answers its health check, prints the addresses, restarts a service
that exits (`assistant.supervisor`), and stops all of them on Ctrl-C.
"""

import argparse
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from assistant import service_environment, settings
from assistant.supervisor import SupervisedService, supervise

MODEL_PATH = settings.PROJECT_ROOT / "models" / "assistant.tar.gz"
STARTUP_TIMEOUT_SECONDS = 600
PR_SET_PDEATHSIG = 1
PRIVATE_UMASK = 0o077


@dataclass(frozen=True)
class Service:
    """One server process and how to tell that it is ready."""

    name: str
    command: List[str]
    health_url: str
    address: str
    # Whose environment it gets (`assistant.service_environment`), when several
    # services share one role (the replicas of `make cluster`); else its name.
    role: str | None = None


def action_server(port: int) -> Service:
    """The action server running `actions/`, on loopback and for Rasa's token only."""
    host = settings.action_server_host()
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return Service(
        name="action server",
        command=[
            sys.executable, "-m", "assistant.action_server",
            "--port", str(port), "--host", host,
        ],
        health_url=f"http://{probe_host}:{port}/health",
        address=f"http://{host}:{port}/webhook (used by Rasa, with its token)",
    )


def rasa_server(port: int, model: Path = MODEL_PATH, endpoints: Path | None = None) -> Service:
    """The Rasa server with the channels of `credentials.yml` (REST and socket.io)."""
    root = settings.PROJECT_ROOT
    return Service(
        name="assistant",
        command=[
            sys.executable, "-m", "assistant.rasa_server", "run",
            "--model", str(model),
            "--endpoints", str(endpoints or root / "endpoints.yml"),
            "--credentials", str(root / "credentials.yml"),
            "--interface", "127.0.0.1",
            "--port", str(port),
        ],
        health_url=f"http://127.0.0.1:{port}/",
        address=(
            f"REST: POST http://localhost:{port}/webhooks/rest/webhook "
            f'{{"sender": "you", "message": "hello"}}; socket.io: http://localhost:{port}'
        ),
    )


def review_app(port: int) -> Service:
    """The therapist's review app (`review/`) on the same database as the tracker store."""
    return Service(
        name="review app",
        command=[sys.executable, "-m", "review", "serve", "--port", str(port)],
        health_url=f"http://127.0.0.1:{port}/health",
        address=f"http://localhost:{port} (the therapist's review; password: make review-password)",
    )


def demo_page(port: int, rasa_port: int) -> Service:
    """The demo page of the practice with the chat widget (`web/`), talking to Rasa's socket.io."""
    return Service(
        name="demo page",
        command=[
            sys.executable, "-m", "web.demo_server",
            "--port", str(port), "--rasa-url", f"http://localhost:{rasa_port}",
        ],
        health_url=f"http://127.0.0.1:{port}/health",
        address=f"http://localhost:{port} (the website chat bubble on a demo page)",
    )


def _prepare_child() -> None:
    """Runs in the child before the service starts.

    Asks Linux to stop the child when the launcher dies, even by SIGKILL, and sets
    a umask under which every file the service creates (the database and its
    journals, secrets, exports) is readable by the practice's user alone.
    """
    os.umask(PRIVATE_UMASK)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def start(service: Service, env: Dict[str, str] | None = None) -> subprocess.Popen:
    """Starts a service in the project folder, in its own process group.

    The child sees the launcher's environment and `env` (which wins), filtered to
    the variables its service is allowed (`assistant.service_environment`).
    """
    return subprocess.Popen(
        service.command,
        cwd=settings.PROJECT_ROOT,
        env=service_environment.for_service(service.role or service.name, {**os.environ, **(env or {})}),
        start_new_session=True,
        preexec_fn=_prepare_child,
    )


def wait_until_ready(
    service: Service, process: subprocess.Popen, timeout: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    """Polls the health URL until it answers; raises if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {service.name} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(service.health_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the {service.name} did not answer {service.health_url} in {timeout}s")


def stop(processes: List[subprocess.Popen]) -> None:
    """Stops the services, politely first."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def default_services() -> List[Service]:
    """What `make run` starts, in order."""
    ports = settings.ports()
    return [
        action_server(ports.actions),
        rasa_server(ports.rasa),
        review_app(settings.review_port()),
        demo_page(settings.web_port(), ports.rasa),
    ]


def _stop_on_terminate() -> None:
    """Makes SIGTERM (from `kill`, `timeout` or a process manager) stop the services too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_services(services: List[Service]) -> int:
    """Starts the services, prints their addresses and keeps them running until Ctrl-C.

    A service that fails to start stops everything (the setup is wrong); one that
    exits later is restarted with backoff while the others go on serving.
    """
    supervised: List[SupervisedService] = []
    _stop_on_terminate()
    shared = service_environment.endpoint_variables()
    try:
        for service in services:
            process = start(service, env=shared)
            supervised.append(SupervisedService(
                service.name, functools.partial(start, service, env=shared), process,
            ))
            wait_until_ready(service, process)
        print("\nThe assistant is running:", flush=True)
        for service in services:
            print(f"  {service.name}: {service.address}", flush=True)
        print("Press Ctrl-C to stop.\n", flush=True)
        supervise(supervised)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop([child.process for child in supervised])


def run_shell() -> int:
    """Starts the action server and chats with the assistant in this terminal."""
    actions = action_server(settings.ports().actions)
    shared = service_environment.endpoint_variables()
    process = start(actions, env=shared)
    try:
        wait_until_ready(actions, process)
        return subprocess.call(
            [sys.executable, "-m", "assistant.rasa_server", "shell",
             "--model", str(MODEL_PATH), "--endpoints", "endpoints.yml"],
            cwd=settings.PROJECT_ROOT,
            env=service_environment.for_service("assistant", {**os.environ, **shared}),
        )
    finally:
        stop([process])


def main(argv: List[str] | None = None) -> int:
    """Parses the command line: `--shell` chats in the terminal instead of serving."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shell", action="store_true", help="chat in the terminal")
    args = parser.parse_args(argv)
    return run_shell() if args.shell else run_services(default_services())


if __name__ == "__main__":
    sys.exit(main())
