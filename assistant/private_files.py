"""Keeps the practice's files readable by the practice's user alone.

Conversations are health information, so `var/` is 700 and the SQLite database
(with its `-wal`, `-shm` and `-journal` companions) is 600, whatever the umask of
whoever started the process. SQLite gives the companions the mode of the database
file when it creates them, so the database file is created private before any
connection opens it; a file left readable by an older version is tightened.
"""

import os
from pathlib import Path
from urllib.parse import unquote

PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Creates `path` (and missing parents) if needed and makes it 700."""
    path.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    _restrict(path, PRIVATE_FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Creates `path` empty and 600 if it is missing, else makes it 600."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _restrict(path, PRIVATE_FILE_MODE)
    else:
        os.close(descriptor)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (`sqlite:///var/assistant.db`), None for others and memory."""
    if not url.startswith("sqlite"):
        return None
    _, _, location = url.partition(":///")
    location = unquote(location.split("?", 1)[0])
    if not location or location == ":memory:":
        return None
    return Path(location)


def private_sqlite_database(url: str) -> None:
    """Creates the SQLite file of `url` as 600 before SQLite does, and tightens its companions.

    A PostgreSQL URL is left alone: its files belong to the database server. A
    folder that does not exist is not created: a mistyped `DATABASE_URL` must fail
    with SQLite's clear error, not quietly start an empty database somewhere new.
    """
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        _restrict_if_present(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)


def _restrict_if_present(path: Path, mode: int) -> None:
    """Sets `mode` unless it is already set (one stat on the usual path, no write).

    SQLite deletes its `-wal` and `-shm` files when the last connection closes, at
    any moment and from another process: a companion that is gone has nothing to
    restrict (found when one vanished between a check and the stat, and a
    Messenger message was never handled).
    """
    try:
        _restrict(path, mode)
    except FileNotFoundError:
        pass


def _restrict(path: Path, mode: int) -> None:
    """Sets `mode` unless it is already set (one stat on the usual path, no write)."""
    if path.stat().st_mode & 0o777 != mode:
        path.chmod(mode)
