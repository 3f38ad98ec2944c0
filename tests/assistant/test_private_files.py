"""`var/` is 700 and the database files 600, whatever the umask of whoever starts a process."""

import os
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from assistant import settings
from assistant.database import dispose_engine, engine_for
from assistant.private_files import private_folder, private_sqlite_database, sqlite_path


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The umask of a typical login shell, under which files are world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_default_database_gets_a_private_var_folder_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "var" / "assistant.db"
    monkeypatch.setattr(settings, "DEFAULT_DATABASE_PATH", default)

    assert settings.database_url({}) == f"sqlite:///{default}"
    assert (mode(default.parent), mode(default)) == (0o700, 0o600)


def test_an_existing_readable_var_folder_and_database_are_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "var" / "assistant.db"
    default.parent.mkdir(mode=0o755)
    default.write_bytes(b"")
    default.chmod(0o644)
    monkeypatch.setattr(settings, "DEFAULT_DATABASE_PATH", default)

    settings.database_url({})

    assert (mode(default.parent), mode(default)) == (0o700, 0o600)


def test_sqlite_s_write_ahead_log_files_are_private_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    engine_for(url)
    # SQLite removes the -wal and -shm files when the last connection closes: look while one is open.
    connection = sqlite3.connect(tmp_path / "assistant.db", isolation_level=None)
    try:
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO notes DEFAULT VALUES")
        files = {path.name: mode(path) for path in tmp_path.iterdir()}
    finally:
        connection.close()
        dispose_engine(url)
    assert {"assistant.db", "assistant.db-wal", "assistant.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_leftover_readable_companions_are_tightened(tmp_path: Path) -> None:
    database = tmp_path / "assistant.db"
    for name in ("assistant.db", "assistant.db-wal", "assistant.db-journal"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)

    private_sqlite_database(f"sqlite:///{database}")

    assert {mode(path) for path in tmp_path.iterdir()} == {0o600}


def test_a_companion_sqlite_deletes_while_it_is_looked_at_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "assistant.db"
    # SQLite deletes -shm when another process's last connection closes: the file is
    # seen to be there, then gone by the time its mode is read.
    monkeypatch.setattr(Path, "exists", lambda path: True)

    private_sqlite_database(f"sqlite:///{database}")

    assert [path.name for path in tmp_path.iterdir()] == ["assistant.db"]


def test_postgresql_and_memory_urls_are_left_alone(tmp_path: Path) -> None:
    assert sqlite_path("postgresql://postgres@127.0.0.1/assistant") is None
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path(f"sqlite:///{tmp_path}/a%20b.db?timeout=5") == tmp_path / "a b.db"


def test_a_private_folder_is_made_with_its_parents(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "a" / "var")
    assert mode(folder) == 0o700
