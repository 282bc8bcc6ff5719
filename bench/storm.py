"""Storm: N complaints whose first-response deadline passed in the same second.

With the server stopped, N ordinary tier-B complaints (PT20M first response) are
opened straight through `core.cases.open_case`, all at one frozen instant 20 minutes
and a few seconds ago, so each has its 75% warning and its breach due at once. Then
the real server starts (Prefect flow runner, default batch size) with people who post
to a local webhook receiver, and the benchmark polls the store:

- record: seconds from the server's start until all N breaches ("escalated", step
  "breach") are on the timelines;
- notify: seconds until every outbox row is delivered and every message key has
  arrived at the receiver;
- posts per recipient: the digests each person got (max and total), against the
  number of notifications they carry.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from bench.common import BenchError, Database, caseflow_server, database, temp_dir
from core.cases import CustomerInput, OpenCase, open_case
from core.db import make_engine
from core.models import CaseEvent, OutboxMessage
from domain.policy import Tier
from tests.support import WebhookReceiver, webhook_receiver, write_policies

FULL_N = 1000
QUICK_N = 50
POLL_SECONDS = 0.2
KEY = re.compile(r"\[key ([^\]]+)\]")

COLUMNS = [
    ("database", "database"), ("n", "N"), ("seed_s", "seed s"), ("ready_s", "ready s"),
    ("first_s", "first s"), ("record_s", "record s"), ("notify_s", "notify s"),
    ("records_per_s", "breaches/s"), ("timers_per_s", "timers/s"),
    ("notifications", "notifications"), ("posts", "posts"), ("recipients", "recipients"),
    ("max_posts", "max posts/recipient"),
]


def seed(db: Database, policies: Path, data_dir: Path, n: int, opened_at: datetime) -> float:
    """Open `n` complaints at `opened_at` through the command, with the server stopped."""
    from core import runtime as runtime_module
    from core.clock import FrozenClock
    from core.settings import Settings

    settings = Settings(data_dir=data_dir, database_url=db.url, policies=policies,
                        scheduler_enabled=False, flow_runner="inline")
    clock = FrozenClock(opened_at)
    started = time.perf_counter()
    rt = runtime_module.configure(settings, clock=clock)  # migrates the fresh store
    try:
        for i in range(n):
            request = OpenCase(
                subject=f"storm complaint #{i}", description="", priority="ordinary",
                customer=CustomerInput(ref=f"storm-{i}", name=None, tier=Tier.B, phone=None,
                                       email=None))
            with Session(rt.engine, expire_on_commit=False) as session:
                open_case(session, request=request, actor="bench:storm",
                          policies=rt.policies, calendars=rt.calendars, now=clock.now())
    finally:
        rt.engine.dispose()
    return time.perf_counter() - started


class StoreProbe:
    """Counts read from the service's store while it works through the storm."""

    def __init__(self, db: Database) -> None:
        self.engine = make_engine(db.sqlalchemy_url)

    def escalations(self) -> tuple[int, int]:
        """(escalation entries of any step, breaches) on all timelines."""
        with self.engine.connect() as conn:
            kinds = CaseEvent.type.in_(("sla_warning", "escalated"))  # type: ignore[attr-defined]
            any_step = conn.execute(select(func.count()).select_from(CaseEvent)
                                    .where(kinds)).scalar_one()
            breaches = conn.execute(
                select(func.count()).select_from(CaseEvent).where(
                    CaseEvent.type == "escalated",
                    CaseEvent.details["step"].as_string() == "breach")).scalar_one()
        return int(any_step), int(breaches)

    def outbox(self) -> Counter[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.status, func.count())
                                .group_by(OutboxMessage.status)).all()
        return Counter({status: int(count) for status, count in rows})

    def close(self) -> None:
        self.engine.dispose()


def _arrived_keys(receiver: WebhookReceiver) -> set[str]:
    keys: set[str] = set()
    for post in receiver.all():
        keys.update(KEY.findall(str(post.body.get("message", ""))))
    return keys


def run(db_kind: str, *, quick: bool, postgres_url: str, n: int | None = None,
        timeout: float | None = None, log: Any = print) -> dict[str, Any]:
    """Seed the storm, start the server, and time recording and notification."""
    n = n or (QUICK_N if quick else FULL_N)
    timeout = timeout or (120.0 if quick else 900.0)
    with temp_dir("storm") as work, webhook_receiver() as receiver, \
            database(db_kind, work, postgres_url) as db:
        policies = write_policies(work / "policies", receiver=receiver)
        data_dir = work / "data"
        # 20 minutes and a few seconds ago: warning (75%) and breach (100%) both due,
        # the next rung (150%, 30 minutes) ten minutes away.
        opened_at = datetime.now(UTC) - timedelta(minutes=20, seconds=5)
        seed_s = seed(db, policies, data_dir, n, opened_at)
        log(f"  storm  {db_kind:8} seeded {n} complaints in {seed_s:.1f} s")
        probe = StoreProbe(db)
        try:
            with caseflow_server(data_dir=data_dir, db=db, policies=policies,
                                 wait=False) as server:
                row = _watch(server, probe, receiver, n, timeout, log, db_kind)
        finally:
            probe.close()
    return {"database": db_kind, "n": n, "seed_s": seed_s, **row}


def _watch(server: Any, probe: StoreProbe, receiver: WebhookReceiver, n: int,
           timeout: float, log: Any, db_kind: str) -> dict[str, Any]:
    t0 = server.started_at
    ready = first = record = notify = None
    any_step = breaches = 0
    outbox: Counter[str] = Counter()
    keys: set[str] = set()
    import httpx

    while True:
        now = time.perf_counter() - t0
        if now > timeout:
            raise BenchError(
                f"storm on {db_kind} not done after {timeout:.0f} s: {breaches}/{n} breaches, "
                f"outbox {dict(outbox)}, {len(keys)} messages arrived\n{server.log_tail()}")
        if not server.alive():
            raise BenchError(f"caseflow died during the storm:\n{server.log_tail()}")
        if ready is None:
            try:
                if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                    ready = time.perf_counter() - t0
            except httpx.HTTPError:
                pass
        try:
            any_step, breaches = probe.escalations()
            outbox = probe.outbox()
        except Exception:  # the store may not be open yet during start-up; try again
            time.sleep(POLL_SECONDS)
            continue
        at = time.perf_counter() - t0
        if first is None and any_step > 0:
            first = at
        if record is None and breaches >= n:
            record = at
            log(f"  storm  {db_kind:8} all {n} breaches recorded at {record:.1f} s")
        if record is not None:
            if outbox.get("dead"):
                raise BenchError(f"{outbox['dead']} notifications went dead:\n"
                                 f"{server.log_tail()}")
            total = sum(outbox.values())
            keys = _arrived_keys(receiver)
            if outbox.get("delivered", 0) == total and len(keys) >= total and ready:
                notify = time.perf_counter() - t0
                break
        time.sleep(POLL_SECONDS)
    posts = Counter(post.path.lstrip("/") for post in receiver.all())
    total_notifications = sum(outbox.values())
    log(f"  storm  {db_kind:8} all {total_notifications} notifications delivered at "
        f"{notify:.1f} s in {sum(posts.values())} posts")
    assert first is not None and record is not None
    span = max(record - first, 1e-9)
    return {
        "ready_s": ready, "first_s": first, "record_s": record, "notify_s": notify,
        "records_per_s": n / record, "timers_per_s": any_step / span,
        "escalation_entries": any_step, "notifications": total_notifications,
        "posts": sum(posts.values()), "recipients": len(posts),
        "max_posts": max(posts.values(), default=0),
        "posts_by_recipient": dict(sorted(posts.items())),
        "sweep_log": [line for line in server.log_tail(400).splitlines()
                      if "sweep:" in line],
    }
