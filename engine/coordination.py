"""How the instances of a service on PostgreSQL coordinate, on one host or several.

Leadership (who runs the scheduler) is a session-level advisory lock held on a connection
of its own: PostgreSQL drops the lock with the connection, so when the leader dies the
next instance to try (each tries every second) leads. A policy reload bumps a counter in
`signals`, in the transaction that syncs the teams; every instance reads the counter
every second and reloads when it moved. Key revocations need nothing: on PostgreSQL
every request reads its key (core.keys). On a SQLite file the same duties go through
files in the data directory instead (core.workers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Protocol

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from engine.models import Signal

LEADER_LOCK = "caseflow.scheduler"
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
    connection would keep the lock for whoever used it next.
    """

    can_be_lost = True

    def __init__(self, engine: Engine, name: str = LEADER_LOCK) -> None:
        self.engine, self.name = engine, name
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
                    text("SELECT pg_try_advisory_lock(:key)"),
                    {"key": lock_key(self.name, schema)}).scalar_one()
        except SQLAlchemyError as exc:
            log.warning("leadership lock %s: %s", self.name, exc.__class__.__name__)
            self.release()
        return self._held

    def release(self) -> None:
        """Let go of the lock: closing its connection releases it."""
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):  # gone already, and the lock with it
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
