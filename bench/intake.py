"""Intake: complaints opened over HTTP against the real server, at rising concurrency.

Each level sends a fixed number of POST /cases from `clients` threads, each with its
own keep-alive connection (bench/http_client.py), after a short untimed warm-up. The
client is a plain socket, not httpx: on this 2-core machine httpx's 0.6 ms of CPU per
request was taken from the server it measured (finding 11 in README.md). Every
complaint is from a new customer (its own `ref`), tier B, so each request opens a case
and inserts a customer. The first level starts once the server idles after start-up
(its Prefect runner warms up the local Prefect API in a background thread for seconds
after /health answers). The same client, levels and counts are then pointed at a bare
FastAPI endpoint (bench/bare_app.py) as the reference point.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchError,
    Calm,
    CpuMeter,
    ServerProcess,
    bare_server,
    caseflow_server,
    cpu_per_request,
    database,
    percentile,
    temp_dir,
)
from bench.http_client import HttpError, KeepAliveClient

LEVELS = (1, 4, 16, 32)
FULL_REQUESTS = 2000
QUICK_REQUESTS = 50
REQUEST_TIMEOUT = 30.0   # seconds for one request
LEVEL_DEADLINE = 600.0   # seconds for one level, whatever happens
ONCE = Calm()            # measure each level once, however busy the machine is
FLOOR = "FastAPI + psycopg"  # the bare app that also writes the rows (`run_floor`)

COLUMNS = [
    ("database", "database"), ("target", "target"), ("workers", "workers"),
    ("clients", "clients"),
    ("requests", "requests"), ("errors", "errors"), ("per_s", "complaints/s"),
    ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("server_cores", "server cores"),
    ("cpu_ms", "server CPU ms"), ("postgres_cpu_ms", "of it PostgreSQL"),
    ("client_cores", "client cores"), ("other_cores", "other cores"),
]


def _body(tag: str, i: int) -> dict[str, Any]:
    return {"subject": f"parcel arrived broken ({tag} #{i})",
            "description": "The box was crushed and the vase inside is in pieces.",
            "channel": "phone",
            "customer": {"ref": f"{tag}-{i}", "name": "Lin", "tier": "B"}}


def _level(base_url: str, clients: int, requests: int, tag: str,
           pgid: int | tuple[int, ...] | None = None,
           headers: dict[str, str] | None = None, database: str | None = None
           ) -> dict[str, Any]:
    """Send `requests` complaints from `clients` threads, each with its own connection."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    ids: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LEVEL_DEADLINE

    def worker(client: KeepAliveClient, numbers: Iterator[int], record: bool) -> None:
        while time.monotonic() < deadline:
            with lock:  # one iterator shared by all workers: each number once
                i = next(numbers, None)
            if i is None:
                return
            start = time.perf_counter()
            try:
                status, body = client.post_json("/cases", _body(tag, i))
                code = str(status)
                case_id = json.loads(body)["id"] if code == "201" else None
            except (HttpError, ValueError, KeyError) as exc:
                code, case_id = type(exc).__name__, None
            elapsed = (time.perf_counter() - start) * 1000
            if record:
                with lock:
                    statuses[code] += 1
                    if case_id is not None:
                        latencies.append(elapsed)
                        ids.append(case_id)

    def burst(numbers: Iterator[int], record: bool) -> float:
        threads = [threading.Thread(target=worker, args=(client, numbers, record), daemon=True)
                   for client in pool]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT)
        return time.perf_counter() - started

    # The connections are made before the clock starts, by an untimed warm-up of two
    # requests each.
    pool = [KeepAliveClient(base_url, headers=headers, timeout=REQUEST_TIMEOUT)
            for _ in range(clients)]
    try:
        burst(iter(range(-2 * clients, 0)), record=False)
        meter = CpuMeter(pgid, database=database)
        wall = burst(iter(range(requests)), record=True)
        cpu = meter.stop()
    finally:
        for client in pool:
            client.close()
    done = sum(statuses.values())
    if done < requests:
        statuses["not sent (level deadline)"] += requests - done
    ok = statuses.get("201", 0)
    return {
        "clients": clients, "requests": requests, "errors": requests - ok,
        "statuses": dict(statuses), "seconds": wall, "per_s": ok / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99), "max_ms": max(latencies, default=float("nan")),
        "last_id": max(ids) if ids else None, **cpu, **cpu_per_request(cpu, ok, wall),
    }


def _sweep(server: ServerProcess, target: str, db_kind: str, levels: tuple[int, ...],
           requests: int, calm: Calm, log: Any, database: str | None = None
           ) -> list[dict[str, Any]]:
    rows = []
    for clients in levels:
        def measure(clients: int = clients) -> dict[str, Any]:
            tag = f"{target[:4]}-{clients}-{uuid.uuid4().hex[:6]}"
            row = _level(server.base_url, clients, requests, tag, server.pgids,
                         server.headers, database)
            if not server.alive():
                raise BenchError(f"{server.name} died during intake:\n{server.log_tail()}")
            return row

        row = calm.measure(f"intake {db_kind} {target} {clients}", measure, log)
        row = {"database": db_kind, "target": target, **row}
        log(f"  intake {db_kind:8} {target:12} {clients:>3} clients: {row['per_s']:8.1f}/s "
            f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms errors {row['errors']} "
            f"(cores: server {row['server_cores']:.2f}, other {row['other_cores']:.2f}; server CPU "
            f"{row['cpu_ms']:.2f} ms a complaint, PostgreSQL {row['postgres_cpu_ms']:.2f})")
        rows.append(row)
    return rows


def _check_readback(server: ServerProcess, case_id: int | None) -> None:
    """The last complaint reads back with its timeline: the writes were real."""
    if case_id is None:
        raise BenchError("intake opened no complaint at all")
    response = httpx.get(f"{server.base_url}/cases/{case_id}", timeout=10,
                         headers=server.headers)
    if response.status_code != 200 or not response.json().get("timeline"):
        raise BenchError(f"GET /cases/{case_id} answered {response.status_code}: "
                         f"{response.text[:300]}")


def run_caseflow(db_kind: str, *, quick: bool, postgres_url: str,
                 levels: tuple[int, ...] = LEVELS, requests: int | None = None,
                 calm: Calm = ONCE, log: Any = print, workers: int = 1
                 ) -> list[dict[str, Any]]:
    """Intake against `caseflow serve` with `workers` processes on a fresh store of kind
    `db_kind`."""
    requests = requests or (QUICK_REQUESTS if quick else FULL_REQUESTS)
    with temp_dir("intake") as work, database(db_kind, work, postgres_url) as db, \
            caseflow_server(data_dir=work / "data", db=db,
                            env={"CASEFLOW_WORKERS": str(workers)}) as server:
        if not quick:  # quick proves the scripts work; it need not wait for steady state
            settled = server.wait_settled()
            log(f"  intake {db_kind:8} caseflow ({workers} workers): ready after "
                f"{server.ready_after:.1f} s, idle {settled:.1f} s later (Prefect warm-up)")
        rows = _sweep(server, "caseflow", db_kind, levels, requests, calm, log,
                      db.name or "")
        _check_readback(server, rows[-1]["last_id"])
    return [{**row, "workers": workers} for row in rows]


def run_bare(*, quick: bool, levels: tuple[int, ...] = LEVELS, requests: int | None = None,
             calm: Calm = ONCE, log: Any = print) -> list[dict[str, Any]]:
    """The same load against the bare FastAPI reference app."""
    requests = requests or (QUICK_REQUESTS if quick else FULL_REQUESTS)
    with temp_dir("bare") as work, bare_server(Path(work)) as server:
        return _sweep(server, "bare FastAPI", "-", levels, requests, calm, log, "")


def run_floor(*, quick: bool, postgres_url: str, levels: tuple[int, ...] = LEVELS,
              requests: int | None = None, workers: int = 1, calm: Calm = ONCE,
              log: Any = print) -> list[dict[str, Any]]:
    """The same load against the bare app writing a complaint's rows per request on a
    fresh PostgreSQL database (`bench/bare_app.py --postgres-url`), in `workers` processes:
    the floor under Caseflow's PostgreSQL intake, HTTP and a durable commit together."""
    from bench.pg_reference import seed_one

    requests = requests or (QUICK_REQUESTS if quick else FULL_REQUESTS)
    with temp_dir("floor") as work, database("postgres", work, postgres_url) as db:
        seed_one(db, work / "data")
        with bare_server(Path(work), postgres_url=db.url, workers=workers) as server:
            rows = _sweep(server, FLOOR, "postgres", levels, requests, calm, log,
                          db.name or "")
        written = _cases_written(db.url) - 1  # less the one the service opened
    return [{**row, "workers": workers, "cases_written": written} for row in rows]


def _cases_written(url: str) -> int:
    """The cases in the database at `url`: that the floor's requests wrote rows."""
    import psycopg

    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT count(*) FROM cases").fetchone()
    return int(found[0]) if found else 0
