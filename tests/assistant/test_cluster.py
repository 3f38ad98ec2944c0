"""`make cluster`: Rasa replicas behind HAProxy keep every conversation whole, and the review follows.

The bounded end-to-end test starts the real cluster (2 Rasa replicas, as the
2-core machine allows, 1 action server, HAProxy, the review app and its
consumer) on the machine's PostgreSQL, Redis and RabbitMQ, kills a replica
mid-conversation, and stops the cluster as Ctrl-C would.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Set, Tuple

import pika
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.cluster import HAPROXY_RULES, haproxy_config, rasa_ports
from assistant.database import engine_for
from assistant.settings import PROJECT_ROOT, cluster_settings
from review.summaries import fold_rows, lock_summaries, rebuild_summaries, refresh_summaries
from review.tables import conversation_summaries, events, unanswered_messages, visitor_messages
from tests.assistant.upgrading_socket import HandshakeRefused, UpgradingChatSocket
from tests.channels.graph_api import GraphApiStandIn
from tests.channels.messenger_webhook import FacebookApp, MessengerWebhook, new_psid, text_event, webhook_body
from tests.servers import postgres_reachable, temporary_postgres_database

MODEL = PROJECT_ROOT / "models" / "assistant.tar.gz"
STARTUP_SECONDS = 330
VISITORS = 6
# Typical enquiries, one visitor's turns in order.
ENQUIRIES = ("hello", "what is ketamine assisted therapy?", "how much does it cost?")
CONCURRENT_VISITORS = 50
SOCKET_VISITORS = 4
MESSENGER_VISITORS = 4
# The widget's page, the one origin the replicas' socket.io channel accepts here.
WIDGET_ORIGIN = "http://127.0.0.1:5377"
# Bounds on this loaded 2-core machine: one turn under 50 visitors, and a whole test.
TURN_SECONDS = 180
TEST_SECONDS = 600
SUMMARY_WAIT_SECONDS = 120


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
    assert "timeout check 30s" in text  # a busy replica is not taken for a dead one


@pytest.fixture(scope="module")
def facebook_app() -> FacebookApp:
    """Credentials of a test Facebook app, made for this run and given to the replicas only."""
    return FacebookApp.made_for_this_run()


@pytest.fixture(scope="module")
def graph_api() -> Iterator[GraphApiStandIn]:
    """The Graph API stand-in the replicas send Messenger replies to."""
    with GraphApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def cluster(facebook_app: FacebookApp, graph_api: GraphApiStandIn) -> Iterator[Dict[str, Any]]:
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
            "ALLOWED_ORIGINS": WIDGET_ORIGIN,
            **facebook_app.environment(),
            "FACEBOOK_GRAPH_API_URL": graph_api.base_url,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cluster"], cwd=PROJECT_ROOT, env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            _wait_for_line(process, "The cluster is running", STARTUP_SECONDS)
            _keep_reading(process)
            yield {
                "process": process, "url": url, "settings": cluster_settings(environment),
                "facebook": facebook_app, "graph": graph_api,
            }
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


def _keep_reading(process: subprocess.Popen) -> None:
    """Reads what the services print, so that a full pipe never blocks one of them."""
    threading.Thread(target=lambda: sum(1 for _ in process.stdout), daemon=True).start()


def _delete_queue(queue: str, exchange: str) -> None:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    connection.close()


def say(port: int, sender: str, message: str, timeout: float = 60) -> List[Dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
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


def stored_turns(engine: Engine, sender: str) -> List[Tuple[str, str]]:
    """A conversation's visitor and assistant messages as the tracker store holds them, in stored order."""
    query = (
        sa.select(events.c.type_name, events.c.data)
        .where(events.c.sender_id == sender, events.c.type_name.in_(["user", "bot"]))
        .order_by(events.c.id)
    )
    with engine.connect() as connection:
        return [(kind, json.loads(data).get("text") or "") for kind, data in connection.execute(query)]


def assert_stored_in_order(engine: Engine, sender: str, messages: Sequence[str]) -> None:
    """Every message is stored once, in the order sent, each followed by the assistant's answer."""
    turns = stored_turns(engine, sender)
    assert [text for kind, text in turns if kind == "user"] == list(messages), sender
    kinds = [kind for kind, _ in turns]
    assert all(kinds[i + 1 : i + 2] == ["bot"] for i, kind in enumerate(kinds) if kind == "user"), kinds


def review_rows(connection: sa.engine.Connection, senders: Sequence[str]) -> Dict[str, List[Dict]]:
    """What the review derives from these conversations' events, in a comparable form."""
    derived = {
        "summaries": (conversation_summaries, conversation_summaries.c.conversation_id),
        "visitor_messages": (visitor_messages, visitor_messages.c.event_id),
        "unanswered": (unanswered_messages, unanswered_messages.c.event_id),
    }
    return {
        name: [
            dict(row._mapping)
            for row in connection.execute(sa.select(table).where(table.c.conversation_id.in_(senders)).order_by(key))
        ]
        for name, (table, key) in derived.items()
    }


def consumed_and_rebuilt(engine: Engine, senders: Sequence[str]) -> Tuple[Dict[str, List[Dict]], Dict[str, List[Dict]]]:
    """The consumer's rows for these conversations, and what a rebuild from the tracker store gives them.

    The cluster keeps running (its consumer writes other conversations meanwhile), so
    the table is not dropped as `rebuild_summaries` would: these conversations' rows
    are deleted and folded again from `events` with the rebuild's own fold, under the
    summaries' lock, in a transaction that is then rolled back.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            lock_summaries(connection)
            consumed = review_rows(connection, senders)
            for table in (conversation_summaries, visitor_messages, unanswered_messages):
                connection.execute(sa.delete(table).where(table.c.conversation_id.in_(senders)))
            stored = sa.select(events).where(events.c.sender_id.in_(senders)).order_by(events.c.id)
            fold_rows(connection, connection.execute(stored).all())
            return consumed, review_rows(connection, senders)
        finally:
            transaction.rollback()


def wait_until_summarised(engine: Engine, turns: Dict[str, int], timeout: float = SUMMARY_WAIT_SECONDS) -> None:
    """Until the consumer has counted each conversation's visitor messages (`turns`: sender -> count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counted = {row["conversation_id"]: row["turns"] for row in _summaries(engine, list(turns))}
        if counted == turns:
            return
        time.sleep(0.5)
    wrong = {sender: counted.get(sender) for sender, expected in turns.items() if counted.get(sender) != expected}
    raise TimeoutError(f"the consumer has not counted every message in {timeout}s (sender: turns counted): {wrong}")


def hold_rest_conversation(port: int, sender: str) -> List[List[Dict]]:
    """One visitor's enquiries over REST, turn after turn; returns the replies of each."""
    return [say(port, sender, text, timeout=TURN_SECONDS) for text in ENQUIRIES]


def test_fifty_concurrent_conversations_are_stored_in_order_and_the_consumer_s_summaries_equal_a_rebuild(
    cluster,
) -> None:
    settings, engine = cluster["settings"], engine_for(cluster["url"])
    senders = [f"crowd-{i}-{uuid.uuid4().hex[:8]}" for i in range(CONCURRENT_VISITORS)]

    with ThreadPoolExecutor(max_workers=CONCURRENT_VISITORS) as pool:
        held = [pool.submit(hold_rest_conversation, settings.public_port, sender) for sender in senders]
        replies = [conversation.result(timeout=TEST_SECONDS) for conversation in held]

    assert all(turn for conversation in replies for turn in conversation), "a message went unanswered"
    for sender in senders:
        assert_stored_in_order(engine, sender, ENQUIRIES)
    wait_until_summarised(engine, {sender: len(ENQUIRIES) for sender in senders})
    consumed, rebuilt = consumed_and_rebuilt(engine, senders)
    assert len(consumed["visitor_messages"]) == CONCURRENT_VISITORS * len(ENQUIRIES)
    assert consumed == rebuilt


async def _socket_visitor(public_url: str, source_address: str) -> Tuple[str, List[List[Dict]]]:
    """A widget visitor from its own loopback address: polling, the upgrade, then every enquiry."""
    async with UpgradingChatSocket(public_url, WIDGET_ORIGIN, source_address) as chat:
        await chat.open_polling()
        await chat.upgrade()
        session_id = await chat.request_session()
        return session_id, [await chat.say(text) for text in ENQUIRIES]


async def test_socket_io_sessions_stay_on_one_replica_through_polling_and_the_websocket_upgrade(cluster) -> None:
    public_url = f"http://127.0.0.1:{cluster['settings'].public_port}"
    sources = [f"127.0.0.{2 + i}" for i in range(SOCKET_VISITORS)]

    visits = await asyncio.wait_for(
        asyncio.gather(*(_socket_visitor(public_url, source) for source in sources)), TEST_SECONDS
    )

    engine = engine_for(cluster["url"])
    for session_id, replies in visits:
        assert all(replies), f"a message of {session_id} went unanswered"
        assert_stored_in_order(engine, session_id, ENQUIRIES)


async def test_a_socket_io_session_is_refused_by_every_replica_but_the_one_that_opened_it(cluster) -> None:
    first, second = (f"http://127.0.0.1:{port}" for port in rasa_ports(cluster["settings"]))

    async with UpgradingChatSocket(second, WIDGET_ORIGIN) as chat:
        with pytest.raises(HandshakeRefused, match="400"):
            await asyncio.wait_for(chat.open_polling(server_url=first), TURN_SECONDS)


def test_messenger_calls_through_the_balancer_are_answered_and_each_sender_s_messages_stored_in_order(
    cluster,
) -> None:
    public = f"http://127.0.0.1:{cluster['settings'].public_port}/webhooks/facebook/webhook"
    webhook = MessengerWebhook(public, cluster["facebook"], cluster["graph"], cluster["url"])
    psids = [new_psid() for _ in range(MESSENGER_VISITORS)]
    sent = []

    for text in ENQUIRIES:  # each visitor's messages back to back, as Meta delivers them, not waiting for answers
        for psid in psids:
            event = text_event(psid, text)
            assert webhook.post(webhook_body(event)).status_code == 200
            sent.append(event)
    webhook.wait_until_handled(*sent, timeout=TURN_SECONDS)

    engine = engine_for(cluster["url"])
    for psid in psids:
        assert len(cluster["graph"].messages_to(psid)) >= len(ENQUIRIES)
        assert_stored_in_order(engine, psid, ENQUIRIES)


def broker_connections_of(pids: Sequence[int], broker_port: int = 5672) -> Set[int]:
    """The local ports of these processes' TCP connections to RabbitMQ (from /proc: socket inodes to ports)."""
    inodes: Set[str] = set()
    for pid in pids:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(descriptor) if descriptor.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports: Set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == broker_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def close_rabbitmq_connections_from(ports: Set[int]) -> int:
    """Has RabbitMQ close the connections coming from these local ports, as a broker restart would."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid", "peer_port"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    closing = [line.split()[0] for line in listed.splitlines() if line.strip() and int(line.split()[1]) in ports]
    for pid in closing:
        subprocess.run(["rabbitmqctl", "close_connection", pid, "test: broker gone"], check=True, timeout=30)
    return len(closing)


def _wait_until_reconnected(pids: Sequence[int], dropped: Set[int], timeout: float = 60) -> Set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = broker_connections_of(pids)
        if ports and not ports & dropped and len(ports) >= len(pids):
            return ports
        time.sleep(0.5)
    raise TimeoutError("the replicas did not connect to RabbitMQ again")


def test_the_replicas_losing_rabbitmq_keep_answering_and_the_review_counts_every_event_exactly_once(
    cluster,
) -> None:
    process, settings, engine = cluster["process"], cluster["settings"], engine_for(cluster["url"])
    replicas = [replica_pid(process.pid, port) for port in rasa_ports(settings)]
    publishers = broker_connections_of(replicas)
    assert len(publishers) >= len(replicas), "each replica publishes to RabbitMQ"
    senders = [f"broker-gone-{i}-{uuid.uuid4().hex[:8]}" for i in range(VISITORS)]

    assert close_rabbitmq_connections_from(publishers) == len(publishers)
    with ThreadPoolExecutor(max_workers=VISITORS) as pool:  # the visitors talk on while the replicas reconnect
        replies = [
            conversation.result(timeout=TEST_SECONDS)
            for conversation in [pool.submit(hold_rest_conversation, settings.public_port, s) for s in senders]
        ]

    assert all(turn for conversation in replies for turn in conversation), "a message went unanswered"
    _wait_until_reconnected(replicas, publishers)
    wait_until_summarised(engine, {sender: len(ENQUIRIES) for sender in senders})
    consumed, rebuilt = consumed_and_rebuilt(engine, senders)
    assert len(consumed["visitor_messages"]) == VISITORS * len(ENQUIRIES)
    assert consumed == rebuilt


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
    wait_until_summarised(engine, {sender: 2 for sender in senders})

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

