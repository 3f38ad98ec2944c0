"""Secrets shared by the assistant's own processes: from the environment, or made once.

A deployment sets each secret in the environment (its secret store). On a
workstation nobody should have to invent one, so the first process that needs a
secret generates it into a file under `var/` that only the practice's user can read
(mode 600 in a 700 folder); every later process, and every restart, reads the same
value, so the processes agree without configuration. Secrets are never logged.
"""

import os
import secrets
from pathlib import Path
from typing import Mapping

VAR_DIR = Path(__file__).resolve().parent.parent / "var"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def secret(
    name: str, env: Mapping[str, str] = os.environ, folder: Path | None = None
) -> str:
    """The secret `name` (an environment variable name, e.g. `ACTION_SERVER_TOKEN`).

    Args:
        name: the environment variable that overrides the generated value.
        env: the environment to read (tests pass their own).
        folder: where generated secrets are kept (default `var/`; `VAR_DIR` env overrides).

    Returns:
        The value from the environment when set, else the value kept in
        `<folder>/<name lowercased>`, generated (48 random URL-safe bytes) on first use.
    """
    value = env.get(name, "").strip()
    if value:
        return value
    folder = folder or Path(env.get("VAR_DIR") or VAR_DIR)
    return _kept_secret(folder / name.lower())


def _kept_secret(path: Path) -> str:
    """Reads the secret at `path`, creating it atomically (mode 600) if it is missing."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    try:
        # A hard link appears whole or not at all: no reader ever sees half a secret.
        os.link(draft, path)
    except FileExistsError:
        # Another process made it first: use theirs, so both agree.
        value = path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink()
    return value
