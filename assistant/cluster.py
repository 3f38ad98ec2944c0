"""Starts the scale-out topology on this machine and says where to talk to it: `make cluster`.

N Rasa replicas (`deploy/cluster/endpoints.yml`: PostgreSQL tracker store, Redis
lock store, RabbitMQ event broker) and M action servers, all on loopback behind
Debian's HAProxy, with the review app and its event consumer. HAProxy's rules
are those of `deploy/haproxy.cfg` (REST and Messenger hashed on the sender,
socket.io sticky); only the servers and ports are this machine's. PostgreSQL,
Redis and RabbitMQ are the machine's own (README, "Scale-out").

Every process is supervised as with `make run` (`assistant.supervisor`): one that
exits is started again, and Ctrl-C or SIGTERM stops all of them.
"""

import dataclasses
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from assistant import launch, service_environment, settings
from assistant.launch import Service
from assistant.private_files import private_folder
from assistant.settings import ClusterSettings
from assistant.supervisor import SupervisedService, supervise

CLUSTER_ENDPOINTS = settings.PROJECT_ROOT / "deploy" / "cluster" / "endpoints.yml"
HAPROXY_RULES = settings.PROJECT_ROOT / "deploy" / "haproxy.cfg"
CLUSTER_FOLDER = settings.PROJECT_ROOT / "var" / "cluster"
HEALTH_PATH = "/haproxy-health"


class ClusterError(RuntimeError):
    """Something the cluster needs is missing; the message says what to do."""


def haproxy_config(rules: str, cluster: ClusterSettings) -> str:
    """`deploy/haproxy.cfg` with this machine's loopback servers and ports instead of the platform's names.

    Raises:
        ClusterError: the rules no longer have the lines this replaces.
    """
    rasa = [f"    server rasa{i} 127.0.0.1:{port} check inter 2s" for i, port in enumerate(rasa_ports(cluster), 1)]
    actions = [
        f"    server actions{i} 127.0.0.1:{port} check inter 2s" for i, port in enumerate(action_ports(cluster), 1)
    ]
    replaced = {"bind :8080": 0, "bind :5055": 0, "server-template rasa": 0, "server-template actions": 0}
    lines: List[str] = []
    for line in rules.splitlines():
        stripped = line.strip()
        if stripped == "bind :8080":
            lines += [
                f"    bind 127.0.0.1:{cluster.public_port}",
                # Ready once HAProxy itself sees every replica and action server up.
                f"    monitor-uri {HEALTH_PATH}",
                f"    monitor fail if {{ nbsrv(rasa_by_conversation) lt {cluster.rasa_replicas} }}"
                f" || {{ nbsrv(action_servers) lt {cluster.action_servers} }}",
            ]
        elif stripped == "bind :5055":
            lines.append(f"    bind 127.0.0.1:{cluster.actions_port}")
        elif stripped.startswith(("server-template rasa", "server-template actions")):
            lines += rasa if stripped.startswith("server-template rasa") else actions
        elif stripped.startswith("log "):
            continue  # the cluster's terminal shows the services, not every request
        else:
            lines.append(line)
            continue
        replaced[next(key for key in replaced if stripped.startswith(key))] += 1
    if not all(replaced.values()):
        raise ClusterError(f"{HAPROXY_RULES} lacks one of: {', '.join(k for k, n in replaced.items() if not n)}")
    return "\n".join(lines) + "\n"


def rasa_ports(cluster: ClusterSettings) -> List[int]:
    """The loopback ports of the Rasa replicas."""
    return [cluster.first_rasa_port + i for i in range(cluster.rasa_replicas)]


def action_ports(cluster: ClusterSettings) -> List[int]:
    """The loopback ports of the action servers."""
    return [cluster.first_action_port + i for i in range(cluster.action_servers)]


def services(cluster: ClusterSettings, haproxy_file: Path) -> List[Service]:
    """What `make cluster` starts: the load balancer, M action servers, N Rasa replicas, the review app and consumer."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    balancer = Service(
        name="load balancer",
        command=[haproxy, "-db", "-f", str(haproxy_file)],
        health_url=f"http://127.0.0.1:{cluster.public_port}{HEALTH_PATH}",
        address=f"http://localhost:{cluster.public_port}",
    )
    actions = [
        dataclasses.replace(launch.action_server(port), name=f"action server {i}", role="action server")
        for i, port in enumerate(action_ports(cluster), 1)
    ]
    replicas = [
        dataclasses.replace(
            launch.rasa_server(port, endpoints=CLUSTER_ENDPOINTS), name=f"assistant {i}", role="assistant"
        )
        for i, port in enumerate(rasa_ports(cluster), 1)
    ]
    consumer = Service(
        name="review consumer",
        command=[sys.executable, "-m", "review.event_consumer"],
        health_url="",
        address="reads RabbitMQ's review_events queue into the review's summaries",
    )
    # The load balancer is waited for last: it is ready when it sees the others.
    return [*actions, *replicas, launch.review_app(settings.review_port()), consumer, balancer]


def shared_environment(cluster: ClusterSettings) -> Dict[str, str]:
    """What every process is given (each sees only its share): the cluster's endpoints and database."""
    return {
        **service_environment.cluster_endpoint_variables(),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{cluster.actions_port}/webhook",
        "DATABASE_URL": cluster.database_url,
        # The review app shows what the consumer folds, never following `events` ids.
        "REVIEW_SUMMARIES_FROM_BROKER": "1",
    }


def ensure_database(url: str) -> None:
    """Creates the cluster's PostgreSQL database when the server has none of that name yet.

    Raises:
        ClusterError: PostgreSQL does not answer.
    """
    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if exists is None:
                connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    except sa.exc.OperationalError as error:
        raise ClusterError(
            f"PostgreSQL at {target.host}:{target.port or 5432} does not answer ({type(error).__name__}); "
            "see the README, Scale-out, for what to run without the machine's own"
        ) from error
    finally:
        admin.dispose()


def run_cluster(cluster: ClusterSettings) -> int:
    """Starts every service at once (replicas load their model in parallel), prints the addresses, supervises."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        raise ClusterError("HAProxy is missing: make deploy-deps installs Debian's")
    ensure_database(cluster.database_url)
    private_folder(CLUSTER_FOLDER)
    haproxy_file = CLUSTER_FOLDER / "haproxy.cfg"
    haproxy_file.write_text(haproxy_config(HAPROXY_RULES.read_text(), cluster))
    for stopping in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a background job starts with it ignored
        signal.signal(stopping, _interrupt)
    shared = shared_environment(cluster)
    started = services(cluster, haproxy_file)
    supervised: List[SupervisedService] = []
    try:
        for service in started:
            process = launch.start(service, env=shared)
            supervised.append(SupervisedService(service.name, _restarter(service, shared), process))
        for service, child in zip(started, supervised):
            if service.health_url:
                launch.wait_until_ready(service, child.process)
        _print_addresses(cluster, started)
        supervise(supervised)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        launch.stop([child.process for child in supervised])


def _restarter(service: Service, shared: Dict[str, str]) -> Callable[[], subprocess.Popen]:
    return lambda: launch.start(service, env=shared)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_addresses(cluster: ClusterSettings, started: List[Service]) -> None:
    public = f"http://localhost:{cluster.public_port}"
    print(f"\nThe cluster is running ({cluster.rasa_replicas} Rasa replicas, {cluster.action_servers} action servers):")
    print(f'  REST: POST {public}/webhooks/rest/webhook {{"sender": "you", "message": "hello"}}')
    print(f"  socket.io: {public}   Messenger webhook: {public}/webhooks/facebook/webhook")
    for service in started:
        print(f"  {service.name}: {service.address}")
    print("Press Ctrl-C to stop.\n", flush=True)


def main() -> int:
    """Runs the cluster until Ctrl-C; a missing piece is said plainly, without a traceback."""
    try:
        return run_cluster(settings.cluster_settings())
    except (ClusterError, ValueError) as error:
        print(f"make cluster: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
