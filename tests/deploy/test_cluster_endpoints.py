"""The cluster's endpoints give Rasa a pika broker and a Redis lock store; `make run` keeps neither.

Rasa builds both from `deploy/cluster/endpoints.yml` itself, against the
machine's RabbitMQ and Redis; the event it publishes reaches the review's queue.
"""

import asyncio
import uuid
from typing import Dict, Iterator

import pika
import pytest
import rasa.shared.core.events  # noqa: F401  (Rasa's pika broker uses it without importing it)
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.utils.endpoints import read_endpoint_config

from assistant.service_environment import cluster_endpoint_variables, for_service
from assistant.settings import PROJECT_ROOT

CLUSTER_ENDPOINTS = PROJECT_ROOT / "deploy" / "cluster" / "endpoints.yml"


@pytest.fixture
def cluster_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, str]]:
    """The variables the cluster launcher gives Rasa, with this test's own queue and exchange."""
    suffix = uuid.uuid4().hex[:8]
    variables = cluster_endpoint_variables({
        "ACTION_SERVER_TOKEN": "test-token",
        "RABBITMQ_QUEUE": f"review_events_test_{suffix}",
        "RABBITMQ_EXCHANGE": f"rasa-exchange-test-{suffix}",
    })
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield variables
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    channel = connection.channel()
    channel.queue_delete(variables["RABBITMQ_QUEUE"])
    channel.exchange_delete(variables["RABBITMQ_EXCHANGE"])
    connection.close()


async def _publish_through_rasa_s_broker(event: Dict[str, object]) -> EventBroker:
    broker = await EventBroker.create(read_endpoint_config(str(CLUSTER_ENDPOINTS), "event_broker"))
    broker.publish(event)
    while broker._background_tasks:  # Rasa publishes in background tasks it keeps here
        await asyncio.sleep(0.05)
    await broker.close()
    return broker


def test_rasa_publishes_to_the_review_queue_named_in_the_cluster_endpoints(cluster_environment: Dict[str, str]) -> None:
    event = {"sender_id": "visitor-1", "event": "user", "timestamp": 1.5, "text": "hello"}

    broker = asyncio.run(_publish_through_rasa_s_broker(event))

    assert isinstance(broker, PikaEventBroker)
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    _method, _properties, body = connection.channel().basic_get(cluster_environment["RABBITMQ_QUEUE"], auto_ack=True)
    connection.close()
    assert body is not None and b'"sender_id": "visitor-1"' in body


def test_rasa_locks_conversations_in_the_machine_s_redis(cluster_environment: Dict[str, str]) -> None:
    lock_store = LockStore.create(read_endpoint_config(str(CLUSTER_ENDPOINTS), "lock_store"))

    assert isinstance(lock_store, RedisLockStore)
    assert lock_store.red.ping()
    assert lock_store.key_prefix.startswith("assistant")


def test_the_cluster_stores_conversations_in_the_project_s_database_store(cluster_environment: Dict[str, str]) -> None:
    tracker_store = read_endpoint_config(str(CLUSTER_ENDPOINTS), "tracker_store")
    action_endpoint = read_endpoint_config(str(CLUSTER_ENDPOINTS), "action_endpoint")

    assert tracker_store.type == "assistant.tracker_store.DatabaseUrlTrackerStore"
    assert action_endpoint.headers["Authorization"] == "Bearer test-token"


def test_make_run_s_endpoints_keep_one_process_without_broker_or_lock_store(
    cluster_environment: Dict[str, str],
) -> None:
    single = str(PROJECT_ROOT / "endpoints.yml")

    assert read_endpoint_config(single, "event_broker") is None
    assert read_endpoint_config(single, "lock_store") is None


def test_only_rasa_and_the_review_consumer_see_the_broker_s_password() -> None:
    environment = {"RABBITMQ_PASSWORD": "mq-secret", "REDIS_PASSWORD": "redis-secret", "PATH": "/usr/bin"}

    assert set(for_service("assistant", environment)) >= {"RABBITMQ_PASSWORD", "REDIS_PASSWORD"}
    assert "RABBITMQ_PASSWORD" in for_service("review consumer", environment)
    assert "REDIS_PASSWORD" not in for_service("review consumer", environment)
    for other in ("action server", "review app", "demo page"):
        assert not {"RABBITMQ_PASSWORD", "REDIS_PASSWORD"} & set(for_service(other, environment))
