"""Run the peers under the same workload as Caseflow: intake at rising concurrency, a storm.

Intake is bench/intake.py's client, levels and counts, pointed at the peer's `POST /cases`
(the same body). The storm is Caseflow's `live` storm: N complaints received at one
instant, so that their first-response deadlines (PT20M, ordinary tier B) fall due in the
same second while the peer is up. They are opened through the peer's own HTTP API, with
`opened_at` set to that instant, before the due second. Times count from the due second:
until every escalation row is in the peer's store (record), and until both posts of
every escalation have reached the local receiver (notify).

Each peer runs as its own server process (`python -m bench.peers.<name>`) on a fresh
store of the given kind. The Prefect-native peer also gets a `prefect server start` of
its own (a temp PREFECT_HOME, SQLite, or a throwaway PostgreSQL database when the
store is PostgreSQL, as DESIGN.md advises), whose CPU counts as the peer's.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import intake, storm
from bench.common import (
    BenchError,
    Calm,
    CpuMeter,
    Database,
    ServerProcess,
    _clean_env,
    database,
    free_port,
    temp_dir,
)
from bench.peers.base import escalations
from engine.db import make_engine
from tests.support import WebhookReceiver, webhook_receiver

PEERS = {"prefect": "prefect-native", "spiff": "SpiffWorkflow"}  # --peers name: target
MODULES = {"prefect": "bench.peers.prefect_native", "spiff": "bench.peers.spiff"}
FIRST_RESPONSE = timedelta(minutes=20)  # what the peers are started with (PT20M)
SEED_CLIENTS = 8
# The storm's due second is LEAD_BASE s plus LEAD_FACTOR times the time that opening the
# N complaints should take, at the rate measured on PROBE complaints opened first (these
# are due 20 min later, after the storm).
LEAD_BASE = 10.0
LEAD_FACTOR = 2.0
PROBE = 8
SEED_ATTEMPTS = 3
POLL_SECONDS = 0.2
NOWHERE = "http://127.0.0.1:9"  # intake never escalates (PT20M); nothing listens here


@contextmanager
def prefect_api(work: Path, db_kind: str, postgres_url: str, log: Any
                ) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """`prefect server start` on a free port; yields it and the env its clients need."""
    home = work / "prefect-home"
    env = _clean_env() | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    store = database("postgres", work, postgres_url) if db_kind == "postgres" else nullcontext()
    with store as prefect_db:
        if prefect_db is not None:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_db.sqlalchemy_url.replace(
                "+psycopg", "+asyncpg")
        port = free_port()
        cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
               "--port", str(port)]
        server = ServerProcess("prefect server", cmd, env, port, work / "prefect-server.log")
        try:
            ready = server.wait_ready("/api/health", timeout=180.0)
            log(f"  prefect server ({db_kind}) ready after {ready:.1f} s")
            yield server, {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "PREFECT_API_URL": f"{server.base_url}/api"}
        finally:
            server.stop()


@contextmanager
def peer_server(peer: str, work: Path, db: Database, postgres_url: str, notify_url: str,
                log: Any) -> Iterator[ServerProcess]:
    """The peer's app process (and, for Prefect, its API server) on a fresh store."""
    api = prefect_api(work, db.kind, postgres_url, log) if peer == "prefect" else nullcontext()
    with api as started:
        companion, extra_env = started if started else (None, {})
        port = free_port()
        cmd = [sys.executable, "-m", MODULES[peer], "--port", str(port),
               "--database-url", db.sqlalchemy_url, "--notify-url", notify_url,
               "--first-response", "PT20M"]
        server = ServerProcess(PEERS[peer], cmd, _clean_env() | extra_env, port,
                               work / f"{peer}.log")
        if companion is not None:
            server.companions.append(companion)
        try:
            server.wait_ready("/health", timeout=90.0)
            yield server
        finally:
            server.stop()


def run_intake(peer: str, db_kind: str, *, quick: bool, postgres_url: str,
               levels: tuple[int, ...] = intake.LEVELS, requests: int | None = None,
               calm: Calm = intake.ONCE, log: Any = print) -> list[dict[str, Any]]:
    """bench/intake.py's load against the peer on a fresh store of kind `db_kind`."""
    requests = requests or (intake.QUICK_REQUESTS if quick else intake.FULL_REQUESTS)
    with temp_dir(f"peer-{peer}") as work, database(db_kind, work, postgres_url) as db, \
            peer_server(peer, work, db, postgres_url, NOWHERE, log) as server:
        if not quick:
            settled = server.wait_settled()
            log(f"  intake {db_kind:8} {PEERS[peer]}: ready after {server.ready_after:.1f} s, "
                f"idle {settled:.1f} s later")
        rows = intake._sweep(server, PEERS[peer], db_kind, levels, requests, calm, log)
        last = rows[-1]["last_id"]
        if last is None:
            raise BenchError(f"{PEERS[peer]} accepted no complaint at all:\n{server.log_tail()}")
        answer = httpx.get(f"{server.base_url}/cases/{last}", timeout=10)
        if answer.status_code != 200 or answer.json().get("status") != "waiting":
            raise BenchError(f"GET /cases/{last} answered {answer.status_code}: "
                             f"{answer.text[:300]}")
    return rows


def _seed(server: ServerProcess, n: int, opened_at: datetime, tag: str = "storm",
          log: Any = print) -> float:
    """Open N complaints received at `opened_at` through the peer's API, 8 at a time;
    return the seconds it took."""
    numbers = iter(range(n))
    lock = threading.Lock()
    failures: list[str] = []
    retries = [0]

    def worker() -> None:
        # longer than the Prefect peer waits to accept (60 s): it gives up first, then we retry
        with httpx.Client(base_url=server.base_url, timeout=90) as client:
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None or failures:
                    return
                body = intake._body(tag, i) | {"opened_at": opened_at.isoformat(),
                                                   "priority": "ordinary"}
                for _attempt in range(SEED_ATTEMPTS):  # as a client would: retry a 503
                    try:
                        answer = client.post("/cases", json=body)
                        if answer.status_code == 201:
                            break
                        error = f"{answer.status_code} {answer.text[:200]}"
                    except httpx.HTTPError as exc:
                        error = f"{type(exc).__name__}: {exc}"
                    with lock:
                        retries[0] += 1
                else:
                    failures.append(f"{error} ({SEED_ATTEMPTS} attempts)")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(SEED_CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchError(f"opening the {tag} complaints failed: {failures[0]}")
    if retries[0]:
        log(f"  opening the {tag} complaints took {retries[0]} retries")
    return time.perf_counter() - started


def run_storm(peer: str, db_kind: str, *, quick: bool, postgres_url: str, n: int | None = None,
              timeout: float | None = None, log: Any = print) -> dict[str, Any]:
    """N complaints due in the same second: time until escalated and notified."""
    n = n or (storm.QUICK_N if quick else storm.FULL_N)
    timeout = timeout or (120.0 if quick else 900.0)
    name = f"{db_kind}/{PEERS[peer]}"
    with temp_dir(f"peer-storm-{peer}") as work, webhook_receiver() as receiver, \
            database(db_kind, work, postgres_url) as db, \
            peer_server(peer, work, db, postgres_url, f"http://127.0.0.1:{receiver.port}",
                        log) as server:
        if not quick:
            server.wait_settled()
        probe_s = _seed(server, PROBE, datetime.now(UTC), tag="probe", log=log)
        due_wall = time.time() + LEAD_BASE + LEAD_FACTOR * n * probe_s / PROBE
        seed_s = _seed(server, n, datetime.fromtimestamp(due_wall, UTC) - FIRST_RESPONSE,
                       log=log)
        log(f"  storm  {name}: opened {n} complaints in {seed_s:.1f} s, due in "
            f"{due_wall - time.time():.1f} s")
        if time.time() > due_wall - 1.0:
            raise BenchError(f"storm {name}: opening took {seed_s:.1f} s, past the due second; "
                             f"raise LEAD_FACTOR")
        origin = time.perf_counter() + (due_wall - time.time())
        row = _watch(server, db, receiver, n, origin, timeout, log, name)
    return {"database": db_kind, "target": PEERS[peer], "runner": "-", "mode": "live", "n": n,
            "seed_s": seed_s, "ready_s": server.ready_after,
            "prefect_ready_s": (server.companions[0].ready_after if server.companions
                                else None), **row}


def _watch(server: ServerProcess, db: Database, receiver: WebhookReceiver, n: int,
           origin: float, timeout: float, log: Any, name: str) -> dict[str, Any]:
    """From the due second on, poll the peer's store and the receiver until all is done."""
    engine = make_engine(db.sqlalchemy_url)
    time.sleep(max(0.0, origin - time.perf_counter()))
    meter = CpuMeter(server.pgids)
    first = record = notify = None
    done = 0
    posts: Counter[str] = Counter()
    try:
        while True:
            at = time.perf_counter() - origin
            if at > timeout:
                raise BenchError(f"storm {name} not done after {timeout:.0f} s: {done}/{n} "
                                 f"escalations, {sum(posts.values())} posts\n{server.log_tail()}")
            if not server.alive():
                raise BenchError(f"{server.name} died during the storm:\n{server.log_tail()}")
            with engine.connect() as conn:
                done = int(conn.execute(select(func.count()).select_from(escalations))
                           .scalar_one())
            posts = Counter(post.path.lstrip("/") for post in receiver.all())
            if first is None and done:
                first = at
            if record is None and done >= n:
                record = at
                log(f"  storm  {name}: all {n} escalations recorded at {record:.1f} s")
            if record is not None and sum(posts.values()) >= 2 * n:
                notify = at
                break
            time.sleep(POLL_SECONDS)
    finally:
        engine.dispose()
    cpu = meter.stop()
    keys = set(storm._arrived_keys(receiver))
    if len(keys) < n:
        raise BenchError(f"storm {name}: {sum(posts.values())} posts, but only {len(keys)} of "
                         f"{n} complaints among them")
    log(f"  storm  {name}: all {2 * n} notifications delivered at {notify:.1f} s in "
        f"{sum(posts.values())} posts")
    assert first is not None and record is not None
    return {"first_s": first, "record_s": record, "notify_s": notify,
            "records_per_s": n / record if record > 0 else None,
            "timers_per_s": done / max(record - first, POLL_SECONDS),
            "escalation_entries": done, "notifications": 2 * n, "posts": sum(posts.values()),
            "recipients": len(posts), "max_posts": max(posts.values(), default=0),
            "posts_by_recipient": dict(sorted(posts.items())), **cpu}
