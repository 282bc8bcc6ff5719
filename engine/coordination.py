"""How the instances of a service on PostgreSQL coordinate, on one host or several.

Leadership (who runs the scheduler) is a session-level advisory lock held on a connection
of its own: PostgreSQL drops the lock with the connection, so when the leader dies the
next instance to try (each tries every second) leads. A policy reload bumps a counter in
`signals`, in the transaction that syncs the teams; every instance reads the counter
every second and reloads when it moved. Key revocations need nothing: on PostgreSQL
every request reads its key (core.keys). On a SQLite file the same duties go through
files in the data directory instead (core.workers).

Liveness: every process that starts flow runs under an instance id (an API instance, a
flow run on a Prefect worker) holds a shared advisory lock keyed on that id, on a
connection of its own, for as long as it lives (`instance_lock`). PostgreSQL drops it
with the connection, so an instance is dead exactly when nobody holds its lock any
more, which any other instance, on any host, can ask (`dead_instances`) without
disturbing a holder. Shared, because the processes of one instance id set by hand
(`CASEFLOW_WORKERS` > 1, or every flow run of a worker given one) hold it together: the
id is dead once the last of them is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from engine.models import Signal

LEADER_LOCK = "caseflow.scheduler"
INSTANCE_LOCK = "caseflow.instance:"  # + the instance id
POLICIES_SIGNAL = "policies"
# A leader whose host vanishes without closing its connection is noticed by the server
# after about idle + interval * count seconds, and its lock goes with the connection.
KEEPALIVES = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2,
              "tcp_keepalives_count": 3}

log = logging.getLogger("caseflow.coordination")


class Leadership(Protocol):
    """An exclusive lock among the instances of a service: whoever holds it leads."""

    # Whether the lock can be lost while held (with its connection), so that a leader
    # must keep asking whether it still leads.
    can_be_lost: bool

    @property
    def held(self) -> bool: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...


class ReloadSignal(Protocol):
    """How a policy reload in one instance reaches the others."""

    def write(self, version: str, session: Session | None = None) -> None: ...
    def changed(self) -> bool: ...


class Watched:
    """A mark that an instance moves (`write`) and the others watch (`changed`): a
    counter in the store, or a stamp file in the data directory."""

    _seen: object

    def _read(self) -> object:
        raise NotImplementedError

    def changed(self) -> bool:
        """Whether another instance moved the mark since this one last looked."""
        current = self._read()
        if current == self._seen:
            return False
        self._seen = current
        return True


def lock_key(name: str, schema: str) -> int:
    """The advisory lock's 64-bit key: one per lock name and schema (a database may hold
    the stores of several services, one per schema)."""
    digest = hashlib.blake2b(f"{name}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """Leadership on PostgreSQL: `pg_try_advisory_lock` on a dedicated connection.

    The connection is detached from the pool, so that closing it closes it: a pooled
    connection would keep the lock for whoever used it next. `shared`: held with
    `pg_try_advisory_lock_shared`, which any number of sessions hold at once (an
    instance's liveness, `instance_lock`).
    """

    can_be_lost = True

    def __init__(self, engine: Engine, name: str = LEADER_LOCK, *, shared: bool = False) -> None:
        self.engine, self.name = engine, name
        self._function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        self._connection: Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        """Take the lock if it is free; True while this holds it, which each call checks
        (a connection lost lost the lock). An unreachable store answers False."""
        try:
            connection = self._connect()
            if self._held:
                connection.execute(text("SELECT 1"))
            else:
                schema = connection.execute(text("SELECT current_schema()")).scalar_one()
                self._held = connection.execute(
                    text(f"SELECT {self._function}(:key)"),
                    {"key": lock_key(self.name, schema)}).scalar_one()
        except SQLAlchemyError as exc:
            log.warning("advisory lock %s: %s", self.name, exc.__class__.__name__)
            self.release()
        return self._held

    def release(self) -> None:
        """Let go of the lock, and close its connection. The server releases a closed
        session's locks as its backend exits, a moment later, so the lock is released
        first, for whoever asks next to find it free."""
        connection, self._connection, held, self._held = self._connection, None, self._held, False
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):  # gone already, and the lock with it
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock_all()"))
                connection.close()

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = self.engine.connect()
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.detach()
            for setting, seconds in KEEPALIVES.items():
                connection.execute(text(f"SET {setting} = {seconds}"))
            self._connection = connection
        return self._connection


def instance_lock(engine: Engine, instance_id: str) -> AdvisoryLock:
    """The lock that says instance `instance_id` is alive while any process holds it; not
    yet taken (`hold`)."""
    return AdvisoryLock(engine, INSTANCE_LOCK + instance_id, shared=True)


def hold(lock: AdvisoryLock, attempts: int = 20, pause: float = 0.05) -> bool:
    """Take `lock`, trying a few times: a shared lock is refused only while another
    instance's `dead_instances` holds it, for the instant of one statement."""
    for _ in range(attempts):
        if lock.acquire():
            return True
        time.sleep(pause)
    return False


def dead_instances(engine: Engine, instance_ids: Iterable[str]) -> set[str]:
    """The ids among `instance_ids` whose liveness lock nobody holds.

    Each is tried with `pg_try_advisory_xact_lock` (exclusive, so refused while anyone
    holds it shared) in one transaction that ends at once, which releases what it took.
    """
    ids = sorted(set(instance_ids))
    if not ids:
        return set()
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        keys = {lock_key(INSTANCE_LOCK + instance_id, schema): instance_id
                for instance_id in ids}
        free = connection.execute(
            text("SELECT key, pg_try_advisory_xact_lock(key) "
                 "FROM unnest(CAST(:keys AS bigint[])) AS key"),
            {"keys": list(keys)}).all()
        connection.rollback()  # the transaction's locks go with it
    return {keys[key] for key, taken in free if taken}


class SignalCounter(Watched):
    """A counter in `signals` that one instance bumps and the others watch."""

    def __init__(self, engine: Engine, name: str = POLICIES_SIGNAL) -> None:
        self.engine, self.name = engine, name
        self._seen = self._read()

    def write(self, version: str, session: Session | None = None) -> None:
        """Say that this instance reloaded (to `version`), in `session`'s transaction."""
        statement = insert(Signal).values(name=self.name, version=1).on_conflict_do_update(
            index_elements=[Signal.name], set_={"version": col(Signal.version) + 1},
        ).returning(col(Signal.version))
        if session is not None:
            self._seen = session.execute(statement).scalar_one()
            return
        with self.engine.begin() as connection:
            self._seen = connection.execute(statement).scalar_one()

    def _read(self) -> int:
        with self.engine.connect() as connection:
            version = connection.execute(
                select(col(Signal.version)).where(col(Signal.name) == self.name)).scalar()
        return version or 0
