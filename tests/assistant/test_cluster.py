"""`make cluster`: Rasa replicas behind HAProxy keep every conversation whole, and the review follows.

The bounded end-to-end test starts the real cluster (2 Rasa replicas, as the
2-core machine allows, 1 action server, HAProxy, the review app and its
consumer) on the machine's PostgreSQL, Redis and RabbitMQ, kills a replica
mid-conversation, and stops the cluster as Ctrl-C would.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pika
import pytest
import sqlalchemy as sa

from assistant.cluster import HAPROXY_RULES, haproxy_config, rasa_ports
from assistant.database import engine_for
from assistant.settings import PROJECT_ROOT, cluster_settings
from review.summaries import rebuild_summaries, refresh_summaries
from review.tables import conversation_summaries, events
from tests.servers import postgres_reachable, temporary_postgres_database

MODEL = PROJECT_ROOT / "models" / "assistant.tar.gz"
STARTUP_SECONDS = 330
VISITORS = 6


def test_the_defaults_are_three_replicas_two_action_servers_on_the_machine_s_postgresql() -> None:
    cluster = cluster_settings({})

    assert (cluster.rasa_replicas, cluster.action_servers, cluster.public_port) == (3, 2, 5080)
    assert cluster.database_url == "postgresql://postgres@127.0.0.1:5432/assistant"


def test_the_cluster_refuses_an_sqlite_database_or_no_replica() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        cluster_settings({"DATABASE_URL": "sqlite:///var/assistant.db"})
    with pytest.raises(ValueError, match="at least 1"):
        cluster_settings({"CLUSTER_RASA_REPLICAS": "0"})


def test_haproxy_accepts_the_cluster_s_configuration_with_one_server_a_replica(tmp_path: Path) -> None:
    cluster = cluster_settings({"CLUSTER_RASA_REPLICAS": "4", "CLUSTER_ACTION_SERVERS": "3"})
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(HAPROXY_RULES.read_text(), cluster))

    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    assert all(f"127.0.0.1:{port} check" in text for port in rasa_ports(cluster))
    assert text.count("server actions") == 3 and "server-template" not in text
    assert "balance hash var(txn.conversation)" in text and "balance source" in text


@pytest.fixture(scope="module")
def cluster() -> Iterator[Dict[str, object]]:
    if not MODEL.exists():
        pytest.skip("no trained model yet (make train)")
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    suffix = uuid.uuid4().hex[:8]
    with temporary_postgres_database("cluster_test") as url:
        environment = {
            **os.environ,
            "DATABASE_URL": url,
            "CLUSTER_RASA_REPLICAS": "2",
            "CLUSTER_ACTION_SERVERS": "1",
            "CLUSTER_PORT": "5380",
            "REVIEW_PORT": "5376",
            "RABBITMQ_QUEUE": f"review_events_test_{suffix}",
            "RABBITMQ_EXCHANGE": f"rasa-exchange-test-{suffix}",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cluster"], cwd=PROJECT_ROOT, env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            _wait_for_line(process, "The cluster is running", STARTUP_SECONDS)
            yield {"process": process, "url": url, "settings": cluster_settings(environment)}
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            _delete_queue(environment["RABBITMQ_QUEUE"], environment["RABBITMQ_EXCHANGE"])


def _wait_for_line(process: subprocess.Popen, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if wanted in line:
            return
        if time.monotonic() > deadline:
            break
    raise TimeoutError(f"the cluster did not start in {timeout}s (exit code {process.poll()})")


def _delete_queue(queue: str, exchange: str) -> None:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    connection.close()


def say(port: int, sender: str, message: str) -> List[Dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def replica_pid(cluster_pid: int, port: int) -> int:
    """The Rasa replica the cluster started on `port` (a child of the cluster's own process)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == cluster_pid and b"assistant.rasa_server" in command and str(port).encode() in command:
            return int(stat.parent.name)
    raise LookupError(f"no replica on port {port}")


def test_a_replica_killed_mid_conversation_loses_nothing_and_the_review_counts_each_message_once(cluster) -> None:
    process, settings = cluster["process"], cluster["settings"]
    senders = [f"visitor-{uuid.uuid4().hex[:8]}" for _ in range(VISITORS)]
    for sender in senders:
        assert say(settings.public_port, sender, "hello")

    os.kill(replica_pid(process.pid, settings.first_rasa_port), signal.SIGKILL)
    _wait_until_refused(settings.first_rasa_port)  # killed between two turns, not during one
    for sender in senders:
        assert say(settings.public_port, sender, "what are your fees?")

    engine = engine_for(cluster["url"])
    with engine.connect() as connection:
        for sender in senders:
            texts = connection.execute(
                sa.select(events.c.data).where(events.c.sender_id == sender, events.c.type_name == "user")
                .order_by(events.c.id)
            ).scalars()
            assert [json.loads(text)["text"] for text in texts] == ["hello", "what are your fees?"]
    _wait_until_summarised(engine, senders)

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0

    consumed = _summaries(engine, senders)
    rebuild_summaries(engine)
    refresh_summaries(engine)
    assert consumed == _summaries(engine, senders)


def _wait_until_refused(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the replica on port {port} still answers")


def _summaries(engine, senders: List[str]) -> List[Dict]:
    with engine.connect() as connection:
        query = sa.select(conversation_summaries).where(conversation_summaries.c.conversation_id.in_(senders))
        return [dict(row._mapping) for row in connection.execute(query.order_by(conversation_summaries.c.conversation_id))]


def _wait_until_summarised(engine, senders: List[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summaries = _summaries(engine, senders)
        if len(summaries) == len(senders) and all(row["turns"] == 2 for row in summaries):
            return
        time.sleep(0.5)
    raise TimeoutError("the review's consumer did not summarise every conversation")
