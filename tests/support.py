"""Builders and real local services the tests share: policy dirs, a webhook receiver, databases."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Engine, create_engine, event, text

REPO = Path(__file__).resolve().parent.parent
SHIPPED_POLICIES = REPO / "policies"
SHANGHAI = ZoneInfo("Asia/Shanghai")
POSTGRES_URL = os.environ.get(
    "CASEFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def shanghai(*args: int) -> datetime:
    """A moment in Shanghai local time: shanghai(2026, 11, 20, 17, 50)."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """The idempotency keys of what this post carries: a digest's lines, or its own."""
        lines = self.headers.get("X-Caseflow-Keys")
        if lines:
            return lines.split(" ")
        own = self.headers.get("Idempotency-Key")
        return [own] if own else []


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every JSON post (apprise json://)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    delay: float = 0.0  # seconds each post waits before it is answered: a slow recipient
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url_for(self, person: str) -> str:
        return f"json://127.0.0.1:{self.port}/{person}"

    def for_person(self, person: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == f"/{person}"]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def keys(self, person: str | None = None) -> list[str]:
        """Every idempotency key received (for one person, if named), repeats included."""
        posts = self.for_person(person) if person else self.all()
        return [key for post in posts for key in post.keys]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver._lock:
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(Received(self.path, json.loads(raw or b"{}"),
                                                  dict(self.headers.items())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def write_policies(target: Path, *, receiver: WebhookReceiver | None = None,
                   complaint: dict[str, Any] | None = None,
                   privacy: dict[str, Any] | None = None) -> Path:
    """Copy the shipped policies to `target`, pointing people at `receiver`, with overrides."""
    target.mkdir(parents=True, exist_ok=True)
    for source in SHIPPED_POLICIES.glob("*.yaml"):
        shutil.copy(source, target / source.name)
    if receiver is not None:
        teams = yaml.safe_load((target / "teams.yaml").read_text())
        teams["people"] = {p: {"notify": [receiver.url_for(p)]} for p in teams["people"]}
        (target / "teams.yaml").write_text(yaml.safe_dump(teams, allow_unicode=True))
    if complaint:
        data = yaml.safe_load((target / "complaint.yaml").read_text())
        data["complaint"].update(complaint)
        (target / "complaint.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    if privacy:
        data = yaml.safe_load((target / "privacy.yaml").read_text())
        data["privacy"].update(privacy)
        (target / "privacy.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return target


DEFAULT_NAMES = {"agent": "li.wei", "supervisor": "wang.fang", "manager": "liu.yang",
                 "director": "zhao.lei", "admin": "root", "scheduler": "review-bot"}


def issue_key(rt: Any, role: str, *, name: str | None = None, teams: list[str] | None = None,
              kind: str = "person", expires_at: datetime | None = None) -> str:
    """Create an API key straight in the store; agents and supervisors get every team."""
    from sqlmodel import Session

    from core.keys import create_key
    from domain.access import TEAM_SCOPED, AccessRole, ActorKind

    access_role = AccessRole(role)
    if teams is None:
        teams = sorted(rt.policies.teams) if access_role in TEAM_SCOPED else []
    with Session(rt.engine, expire_on_commit=False) as session:
        return create_key(session, name=name or DEFAULT_NAMES[role], role=access_role,
                          teams=teams, kind=ActorKind(kind), expires_at=expires_at,
                          created_by="tests", policies=rt.policies, now=rt.clock.now()).secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _schema_options(schema: str) -> dict[str, Any]:
    return {"connect_args": {"options": f"-csearch_path={schema}"}}


@contextmanager
def postgres_schema() -> Iterator[tuple[str, dict[str, Any]]]:
    """A throwaway, empty schema in the test database; yields the URL and engine options."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, _schema_options(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class StoreTemplates:
    """Stores at the newest schema for the tests, migrated once per test process (each
    pytest-xdist worker has its own) and copied for each test.

    Migrating a store runs the Alembic revisions. Here the real migrations
    (`engine.db.migrate`) run once per process into a template, and each test gets a copy:

    - SQLite: the migrated file, its log folded in, copied to the test's own file
      (0.01 s against 0.08 s to migrate, on a lightly loaded machine).
    - PostgreSQL: a schema of its own, in which the statements the migrations sent to
      the template schema are run again, in one transaction. They were recorded as sent
      to the driver, and they name no schema (the migrations run on the connection's
      search path, which `_record_migration` checks), so the copy is built by the very
      SQL that built the template, without Alembic (0.16 s against 0.22 s with the schema
      made and dropped: the DDL itself is most of the cost).

    A copy's runtime migrates it again at start-up (`runtime.configure`), which finds it
    at the newest revision and does nothing. The migration tests
    (tests/store/test_*migration*.py) use empty stores and run the migrations from scratch.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sqlite: Path | None = None
        self._pg_template: str | None = None
        self._pg_statements: list[tuple[str, Any, str]] | None = None
        self._admin: Engine | None = None

    # SQLite

    def sqlite_template(self) -> Path:
        """The migrated template file, made at the first call."""
        if self._sqlite is None:
            from engine.db import make_engine, migrate

            path = self.directory / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                migrate(engine)
                with engine.connect() as connection:  # the whole store in the one file
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                engine.dispose()
            for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)  # empty once checkpointed and closed
            self._sqlite = path
        return self._sqlite

    def sqlite_copy(self, target: Path) -> str:
        """A copy of the migrated SQLite template at `target`; its URL."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.sqlite_template(), target)
        return f"sqlite:///{target}"

    # PostgreSQL

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(POSTGRES_URL)
        return self._admin

    def postgres_template(self) -> tuple[str, list[tuple[str, Any, str]]]:
        """The migrated template schema, made at the first call, and the statements the
        migrations sent to it: (statement, parameters, how it was sent)."""
        if self._pg_template is None or self._pg_statements is None:
            schema = f"tmpl_{uuid.uuid4().hex[:12]}"
            with self._admin_engine().begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                statements = _record_migration(schema)
            except BaseException:
                with self._admin_engine().begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                raise
            self._pg_template, self._pg_statements = schema, statements
        return self._pg_template, self._pg_statements

    @contextmanager
    def postgres_copy(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """A throwaway schema at the newest revision, copied from the template; yields the
        URL and engine options for it, like `postgres_schema`."""
        _, statements = self.postgres_template()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        raw = self._admin_engine().raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f'CREATE SCHEMA "{schema}"')
            cursor.execute(f'SET LOCAL search_path TO "{schema}"')
            for statement, parameters, style in statements:  # as SQLAlchemy sent them
                if style == "many":
                    cursor.executemany(statement, parameters)
                elif style == "plain":
                    cursor.execute(statement)
                else:
                    cursor.execute(statement, parameters)
            cursor.close()
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        try:
            yield POSTGRES_URL, _schema_options(schema)
        finally:
            with self._admin_engine().begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    def close(self) -> None:
        """Drop the PostgreSQL template; the SQLite one goes with pytest's temporary files."""
        if self._admin is None:
            return
        if self._pg_template is not None:
            with self._admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self._pg_template}" CASCADE'))
            self._pg_template = self._pg_statements = None
        self._admin.dispose()
        self._admin = None


def _record_migration(schema: str) -> list[tuple[str, Any, str]]:
    """Migrate the empty `schema` with `engine.db.migrate`, recording every statement sent to
    the driver; refused if any names the schema, as it could not be run in another."""
    from engine.db import make_engine, migrate

    engine = make_engine(POSTGRES_URL, **_schema_options(schema))
    sent: list[tuple[str, Any, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        # The driver call SQLAlchemy makes next (`Connection._exec_single_context`).
        if executemany:
            style = "many"
        elif not parameters and context is not None and context.no_parameters:
            style = "plain"
        else:
            style = "params"
        sent.append((statement, parameters, style))

    try:
        migrate(engine)
    finally:
        engine.dispose()
    naming = [statement for statement, parameters, _ in sent
              if schema in statement or schema in repr(parameters)]
    if naming:
        raise RuntimeError(f"a migration names its schema, so the template cannot be "
                           f"copied by running its statements again: {naming[0][:200]}")
    return sent


class Ticks:
    """A monotonic clock (seconds) that moves only when told to, for the rate limiters."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
