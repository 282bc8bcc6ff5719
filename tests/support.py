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
from sqlalchemy import create_engine, text

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


@contextmanager
def postgres_schema() -> Iterator[tuple[str, dict[str, Any]]]:
    """A throwaway schema in the test database; yields the URL and engine options for it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Ticks:
    """A monotonic clock (seconds) that moves only when told to, for the rate limiters."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
