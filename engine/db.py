"""Engine, sessions and schema migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from sqlmodel.sql.expression import Select

T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 30  # how long a SQLite statement waits for another's write lock
AUTOCHECKPOINT_PAGES = 10_000  # 40 MB of log: SQLite's own checkpoint (engine.checkpoints)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# PostgreSQL's deadlock_detected and serialization_failure.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


def json_text(value: Any) -> str:
    """A JSON column's text, or rows as one JSON document (`engine.pg_bulk`), times and
    dates in ISO 8601. orjson writes it ten times faster than the standard library
    (0.17 against 1.76 µs for an event's details; each complaint's intake writes four).
    What orjson refuses (an integer beyond 64 bits, a lone surrogate), the library writes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_value(text: str) -> Any:
    """A JSON column's value from its text (read as text where many rows are decoded):
    orjson reads it about three times faster than the standard library; what orjson
    refuses (an integer beyond 64 bits, NaN), the library reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so readers never block writers."""
    kwargs.setdefault("json_serializer", json_text)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": BUSY_TIMEOUT_SECONDS}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # The service's intake has its log copied back beside it (engine.checkpoints);
            # SQLite's own checkpoint, inside a commit, is the backstop (see there).
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file `engine` writes, or None for other stores and in-memory SQLite:
    what the helpers that coordinate through files beside it need to know."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


class WriteBaton:
    """Turns at writing a SQLite file for the processes that write it in batches.

    SQLite lets one transaction write at a time, and a writer that finds the file locked
    sleeps in steps of up to 100 ms before it looks again, so two processes writing
    batches in turn lost most of each hand-over to sleeping. A blocking flock on a file
    beside the database wakes the next writer as soon as the last one commits. Other
    stores (PostgreSQL) and in-memory SQLite need none: `for_engine` gives a no-op.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._local = threading.Lock()  # flock is per open file: threads queue here first

    @classmethod
    def for_engine(cls, engine: Engine) -> WriteBaton:
        database = sqlite_file(engine)
        return cls(Path(f"{database}.write-turn") if database else None)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the turn, waiting for it unless not `blocking`; whether it was taken."""
        if self.path is None:
            return True
        if not self._local.acquire(blocking):
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._local.release()
            return False
        except BaseException:
            self._local.release()
            raise
        return True

    def release(self) -> None:
        if self.path is None:
            return
        try:
            # The turn is held: acquire opened the file, and close waits for _local.
            assert self._fd is not None, "release without acquire"
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def __enter__(self) -> WriteBaton:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def close(self) -> None:
        """Let go of the lock file (a writer that idles); the next turn opens it again."""
        with self._local:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def begin_writing(session: Session, *, wait: bool = True) -> bool:
    """Begin `session`'s transaction, if it has not begun, holding the store's write lock,
    so that what it reads cannot change before it writes. Not `wait`ing, for a writer
    that must not block where it runs (the event loop's thread): False, with nothing
    begun, when another connection holds SQLite's lock.

    On SQLite a transaction takes the lock only at its first write, after its reads: two
    events on one case at once were both decided on the stage both had read. BEGIN
    IMMEDIATE takes the lock first. PostgreSQL locks the rows as it reads them (FOR
    UPDATE), not the store.

    The BEGIN is a statement of the session's connection, which the driver's own implicit
    BEGIN then leaves alone: an engine `begin` listener would do the same, but any such
    listener puts every statement on every connection through SQLAlchemy's event
    dispatch (5% of intake).
    """
    if session.in_transaction():
        return True
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return True
    driver = sqlite_driver(connection)
    if driver.in_transaction:
        return True
    if wait:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    connection.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    except OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    session.rollback()
    return False


def connection_of(db: Session | Connection) -> Connection:
    """The connection of `db`'s transaction, a session's pending changes flushed to it
    first (as `Session.execute` does), for Core statements run on it: a session's own
    execution adds the ORM's work to every statement, which the intake's need not pay."""
    if isinstance(db, Session):
        if db.autoflush:
            db.flush()
        return db.connection()
    return db


def sqlite_driver(connection: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under `connection`, a SQLite one."""
    driver = connection.connection.driver_connection
    # None only once the connection is closed or invalidated; this one is in use.
    assert driver is not None, "a connection in use has its driver's"
    return driver


def select_rows(*columns: Any) -> Select[*tuple[Any, ...]]:
    """SQLModel's `select` of several columns, typed as rows: its overloads type up to
    four columns given one by one, not a list spread into it."""
    return Select(*columns)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migration_scripts() -> ScriptDirectory:
    """The migrations shipped with this code."""
    return ScriptDirectory.from_config(_alembic_config())


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """The store's Alembic revision (None: no Caseflow schema) and the newest one."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, migration_scripts().get_current_head() or ""


def migrate(engine: Engine) -> list[Script]:
    """Bring the schema to the newest Alembic revision; the revisions applied, oldest first
    (none when the store had it already)."""
    config = _alembic_config()
    scripts = migration_scripts()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which foreign
            # keys from other tables would forbid; the pragma only changes outside a
            # transaction, and the keys are checked once the upgrade is done.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                before = MigrationContext.configure(connection).get_current_revision()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    return list(reversed(list(scripts.iterate_revisions("heads", before or "base"))))


def commit_retrying(session: Session, write: Callable[[], T], *, attempts: int = 3) -> T:
    """Run `write` in `session` and commit; a race lost to a concurrent transaction (see
    `is_retryable`) is rolled back and the write run again, up to `attempts` times.

    `write` must read what it decides on afresh, since the loser's view was stale.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = write()
            session.commit()
            return result
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            session.rollback()
    raise AssertionError("unreachable")


def is_retryable(exc: Exception) -> bool:
    """A lost race: a unique key taken meanwhile, or a deadlock or serialization failure."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRYABLE_SQLSTATES


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """Send the statements run on `connection` inside, on PostgreSQL, without waiting for
    each one's answer (psycopg's pipeline mode): one round trip for all, at the end,
    where an error in any of them is raised. Only for statements whose rows nobody reads:
    SQLAlchemy reads a statement's columns as soon as it runs, before they have come.
    Elsewhere it changes nothing."""
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or not isinstance(driver, psycopg.Connection):
        yield
        return
    with driver.pipeline():
        yield


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
