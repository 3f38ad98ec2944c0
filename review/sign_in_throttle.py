"""The sign-in throttle, kept in the database so that it survives restarts and binds every process.

Why each rule is there:

- Every attempt is written down as `pending` before its password is looked at, and
  marked `failure`, `success` or `refused` afterwards. A guess checked in another
  process, or cut short by a crash, still counts.
- One password check at a time: an attempt is refused while an earlier one is still
  pending (the app also queues its own attempts behind one asyncio lock), so a flood of
  simultaneous guesses cannot all be checked before the first failure is counted.
- Per address: each failure doubles the wait before the address is heard again; after
  `max_failures` within `window` the address waits `lockout`.
- For everyone: after `global_failures` failures within `window`, from any addresses at
  all, nobody is checked for `global_lockout`, so spreading guesses over many addresses
  does not help.
- No lock is stored. Each is worked out from the recorded times, so it ends by itself
  as its failures age, and `python -m review unlock` only records an `unlock` row
  before which failures no longer count.
- A browser in which the therapist signed in before carries a signed device cookie; it
  is exempt from the address and global locks, so an attacker's slow drip of guesses
  cannot keep her out, and has a failure limit of its own.

There is one account (the therapist's), so "per account" means "per database".
"""

import time
from dataclasses import dataclass, replace
from typing import Callable, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

PENDING, FAILURE, SUCCESS, REFUSED, UNLOCK = "pending", "failure", "success", "refused", "unlock"
IN_PROGRESS, ADDRESS, EVERYONE, DEVICE = "in progress", "address", "everyone", "device"
CLIENT_LENGTH = 100
DEVICE_LENGTH = 64
ALL_CLIENTS = "*"

Clock = Callable[[], float]

metadata = sa.MetaData()

sign_in_attempts = sa.Table(
    "sign_in_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("client", sa.String(CLIENT_LENGTH), nullable=False, index=True),
    sa.Column("device", sa.String(DEVICE_LENGTH), index=True),
    sa.Column("outcome", sa.String(10), nullable=False, index=True),
)


@dataclass(frozen=True)
class SignInPolicy:
    """How many failures are tolerated, and for how long they are held against whom."""

    max_failures: int = 5
    window: float = 900.0
    base_delay: float = 0.25
    max_delay: float = 4.0
    lockout: float = 900.0
    global_failures: int = 10
    global_lockout: float = 900.0
    # A pending attempt older than this is no longer being checked (its process died).
    in_progress_for: float = 30.0
    keep_records_for: float = 30 * 86400.0

    def delay_after(self, failures: int) -> float:
        """The wait the n-th recent failure earns: doubling and capped, the lockout at the limit."""
        if failures <= 0:
            return 0.0
        if failures >= self.max_failures:
            return self.lockout
        return min(self.max_delay, self.base_delay * 2 ** (failures - 1))


@dataclass(frozen=True)
class Attempt:
    """A recorded attempt and whether its password may be checked."""

    attempt_id: int
    allowed: bool
    wait: float = 0.0
    reason: str = ""
    failures: int = 0
    global_failures: int = 0
    trusted_device: bool = False


@dataclass(frozen=True)
class Failure:
    """What a wrong password earned: how long to hold the answer, and whether it locked sign-in."""

    delay: float
    locked: bool


class SignInThrottle:
    """Records sign-in attempts and decides, from the records, which may be checked."""

    def __init__(self, engine: Engine, policy: SignInPolicy = SignInPolicy(), clock: Clock = time.time) -> None:
        """Works on `engine`'s `sign_in_attempts`; `clock` is wall time, shared by every process."""
        self._engine = engine
        self.policy = policy
        self._clock = clock

    def attempt(self, client: str, device: str | None, check: Callable[[], bool]) -> Tuple[Attempt, Failure | None]:
        """Records an attempt, runs `check` (the password check) unless refused, and records its result.

        Meant to run whole in one worker thread: a client that hangs up mid-check
        cancels only the wait for it, never the recording of its result.

        Returns:
            The attempt, and what a wrong password earned (None when right or unchecked).
        """
        attempt = self.begin(client, device)
        if not attempt.allowed:
            return attempt, None
        succeeded = False
        try:
            succeeded = check()
        finally:
            failure = self.finish(attempt, succeeded)
        return attempt, failure

    def begin(self, client: str, device: str | None = None) -> Attempt:
        """Judges the attempt and records it: as refused, or as pending while its password is checked.

        An attempt the records already refuse costs one write. One that may go ahead is
        written as pending first and then checked for a rival: of two attempts started
        at once in different processes, the later one sees the earlier and gives way.
        """
        now, client = self._clock(), client[:CLIENT_LENGTH]
        with self._engine.connect() as connection:
            attempt = self._judge(connection, None, client, device, now)
        if not attempt.allowed:
            return replace(attempt, attempt_id=self._record(now, client, device, REFUSED))
        attempt = replace(attempt, attempt_id=self._record(now, client, device, PENDING))
        with self._engine.connect() as connection:
            rival = self._checking_another(connection, attempt.attempt_id, now)
        if rival:
            self._mark(attempt.attempt_id, REFUSED)
            return Attempt(attempt.attempt_id, False, 1.0, IN_PROGRESS)
        return attempt

    def _record(self, now: float, client: str, device: str | None, outcome: str) -> int:
        with self._engine.begin() as connection:
            inserted = connection.execute(
                sa.insert(sign_in_attempts).values(at=now, client=client, device=device, outcome=outcome)
            )
            return int(inserted.inserted_primary_key[0])

    def finish(self, attempt: Attempt, succeeded: bool) -> Failure | None:
        """Records the check's result; for a failure, says what it earned."""
        self._mark(attempt.attempt_id, SUCCESS if succeeded else FAILURE)
        if succeeded:
            return None
        failures = attempt.failures + 1
        locked = failures >= self.policy.max_failures or (
            not attempt.trusted_device and attempt.global_failures + 1 >= self.policy.global_failures
        )
        return Failure(0.0 if locked else self.policy.delay_after(failures), locked)

    def unlock(self) -> int:
        """Forgives every failure so far; returns how many recent ones were still counted."""
        now = self._clock()
        with self._engine.begin() as connection:
            forgiven, _ = self._failures(connection, now, attempt_id=None)
            connection.execute(
                sa.insert(sign_in_attempts).values(at=now, client=ALL_CLIENTS, device=None, outcome=UNLOCK)
            )
        return forgiven

    def prune(self) -> int:
        """Deletes records older than the policy keeps them; returns how many."""
        cutoff = self._clock() - self.policy.keep_records_for
        with self._engine.begin() as connection:
            result = connection.execute(sa.delete(sign_in_attempts).where(sign_in_attempts.c.at < cutoff))
        return int(result.rowcount or 0)

    def _mark(self, attempt_id: int, outcome: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(sign_in_attempts).where(sign_in_attempts.c.id == attempt_id).values(outcome=outcome)
            )

    def _judge(
        self, connection: Connection, attempt_id: int | None, client: str, device: str | None, now: float
    ) -> Attempt:
        if self._checking_another(connection, attempt_id, now):
            return Attempt(0, False, 1.0, IN_PROGRESS)
        everyone, latest_anywhere = self._failures(connection, now, attempt_id)
        if device:
            failures, latest = self._failures(connection, now, attempt_id, sign_in_attempts.c.device == device)
            if failures < self.policy.max_failures:
                wait = latest + self.policy.delay_after(failures) - now
                return Attempt(0, wait <= 0, max(wait, 0.0), DEVICE, failures, everyone, True)
        failures, latest = self._failures(connection, now, attempt_id, sign_in_attempts.c.client == client)
        wait, reason = latest + self.policy.delay_after(failures) - now, ADDRESS
        if wait <= 0 and everyone >= self.policy.global_failures:
            wait, reason = latest_anywhere + self.policy.global_lockout - now, EVERYONE
        return Attempt(0, wait <= 0, max(wait, 0.0), reason, failures, everyone)

    def _checking_another(self, connection: Connection, attempt_id: int | None, now: float) -> bool:
        """Whether another attempt's password (an earlier one's, if `attempt_id` is given) is being checked."""
        table = sign_in_attempts
        query = sa.select(table.c.id).where(
            table.c.outcome == PENDING, table.c.at >= now - self.policy.in_progress_for
        )
        if attempt_id is not None:
            query = query.where(table.c.id < attempt_id)
        return connection.execute(query.limit(1)).first() is not None

    def _failures(
        self,
        connection: Connection,
        now: float,
        attempt_id: int | None,
        scope: sa.sql.ColumnElement | None = None,
    ) -> Tuple[int, float]:
        """How many failures count against a scope (everyone when None), and when the latest was.

        Failures count within the window and after the last unlock (and, for an address
        or a device, after its last success). A pending attempt that outlived
        `in_progress_for` was never finished: it counts as a failure.
        """
        table = sign_in_attempts
        reset = table.c.outcome == UNLOCK
        if scope is not None:
            reset = sa.or_(reset, sa.and_(table.c.outcome == SUCCESS, scope))
        since = connection.execute(sa.select(sa.func.max(table.c.id)).where(reset)).scalar() or 0
        abandoned = sa.and_(table.c.outcome == PENDING, table.c.at < now - self.policy.in_progress_for)
        query = sa.select(sa.func.count(), sa.func.max(table.c.at)).where(
            sa.or_(table.c.outcome == FAILURE, abandoned),
            table.c.id > since,
            table.c.at > now - self.policy.window,
        )
        if attempt_id is not None:
            query = query.where(table.c.id != attempt_id)
        if scope is not None:
            query = query.where(scope)
        count, latest = connection.execute(query).one()
        return int(count or 0), float(latest or 0.0)


def ensure_table(engine: Engine) -> None:
    """Creates the attempts table if missing."""
    metadata.create_all(engine)
