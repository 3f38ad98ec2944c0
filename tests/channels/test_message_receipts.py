"""A Messenger message id is taken once, remembered across restarts, and forgotten after days."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import pytest
import sqlalchemy as sa

from assistant.database import dispose_engine, engine_for
from channels import message_receipts
from channels.message_receipts import RETENTION_SECONDS, claim_message, handled_ids, mark_handled, prune
from tests.servers import postgres_reachable, temporary_postgres_database

T0 = 1_700_000_000.0


def test_a_message_id_is_claimed_once_even_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    assert claim_message(engine_for(url), "m_1", now=T0) is True
    assert claim_message(engine_for(url), "m_1", now=T0 + 1) is False

    dispose_engine(url)  # as when the Rasa server restarts: a new engine, nothing in memory

    assert claim_message(engine_for(url), "m_1", now=T0 + 60) is False
    assert claim_message(engine_for(url), "m_2", now=T0 + 60) is True
    dispose_engine(url)


def test_a_message_counts_as_handled_only_once_marked(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'assistant.db'}")
    claim_message(engine, "m_1", now=T0)
    claim_message(engine, "m_2", now=T0)

    mark_handled(engine, "m_2", now=T0 + 2)

    assert handled_ids(engine, ["m_1", "m_2", "m_unknown"]) == {"m_2"}


def test_ids_older_than_the_retention_period_are_forgotten(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'assistant.db'}")
    claim_message(engine, "m_old", now=T0)
    claim_message(engine, "m_recent", now=T0 + RETENTION_SECONDS - 60)

    assert prune(engine, now=T0 + RETENTION_SECONDS + 1) == 1

    assert claim_message(engine, "m_old", now=T0 + RETENTION_SECONDS + 2) is True
    assert claim_message(engine, "m_recent", now=T0 + RETENTION_SECONDS + 2) is False


def test_a_visitors_first_messages_handled_at_once_on_a_new_database_are_each_claimed(tmp_path: Path) -> None:
    """Threads racing to create the table (a visitor's first messages arrive together) all succeed."""
    url = f"sqlite:///{tmp_path}/receipts.db"
    engine = engine_for(url)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            claimed = list(pool.map(lambda number: claim_message(engine, f"mid.{number}"), range(8)))
        assert claimed == [True] * 8
    finally:
        dispose_engine(url)


def test_a_table_another_process_created_meanwhile_is_used_not_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/receipts.db"
    other_process = sa.create_engine(url)
    message_receipts.metadata.create_all(other_process)
    other_process.dispose()
    engine = engine_for(url)
    try:
        assert claim_message(engine, "mid.1") is True
    finally:
        dispose_engine(url)


def _race_to_create_the_table(url: str, round_number: int, processes: int = 6) -> List[bool]:
    """Engines standing for processes, each connected, all creating the table at the same moment."""
    engines = [sa.create_engine(url) for _ in range(processes)]
    for engine in engines:
        engine.connect().close()
    start = threading.Barrier(processes)

    def create(engine: sa.engine.Engine) -> bool:
        start.wait()
        message_receipts.ensure_table(engine)
        return claim_message(engine, f"mid.{round_number}.{id(engine)}")

    try:
        with ThreadPoolExecutor(processes) as pool:
            return list(pool.map(create, engines))
    finally:
        message_receipts.metadata.drop_all(engines[0])
        for engine in engines:
            engine.dispose()


def test_processes_creating_the_table_at_once_on_postgresql_all_go_on() -> None:
    """Only one CREATE wins; the others find the table and claim their message (ten rounds)."""
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server on loopback")
    with temporary_postgres_database("receipts_race") as url:
        for round_number in range(10):
            assert all(_race_to_create_the_table(url, round_number))
