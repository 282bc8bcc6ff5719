"""Intake: complaints opened over HTTP against the real server, at rising concurrency.

Each level sends a fixed number of POST /cases from `clients` concurrent connections
(one asyncio loop, httpx.AsyncClient), after a short untimed warm-up. Every complaint
is from a new customer (its own `ref`), tier B, so each request opens a case and
inserts a customer. The same client, levels and counts are then pointed at a bare
FastAPI endpoint (bench/bare_app.py) as the reference point.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchError,
    ServerProcess,
    bare_server,
    caseflow_server,
    database,
    percentile,
    temp_dir,
)

LEVELS = (1, 4, 16, 32)
FULL_REQUESTS = 2000
QUICK_REQUESTS = 50
REQUEST_TIMEOUT = 30.0   # seconds for one request
LEVEL_DEADLINE = 600.0   # seconds for one level, whatever happens

COLUMNS = [
    ("database", "database"), ("target", "target"), ("clients", "clients"),
    ("requests", "requests"), ("errors", "errors"), ("per_s", "complaints/s"),
    ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
]


def _body(tag: str, i: int) -> dict[str, Any]:
    return {"subject": f"parcel arrived broken ({tag} #{i})",
            "description": "The box was crushed and the vase inside is in pieces.",
            "channel": "phone",
            "customer": {"ref": f"{tag}-{i}", "name": "Lin", "tier": "B"}}


async def _level(base_url: str, clients: int, requests: int, tag: str) -> dict[str, Any]:
    """Send `requests` complaints over `clients` connections; latency of each in ms."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    last_id: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits,
                                 timeout=REQUEST_TIMEOUT) as client:
        async def worker(numbers: Any, record: bool) -> None:
            for i in numbers:  # one iterator shared by all workers: each number once
                start = time.perf_counter()
                try:
                    response = await client.post("/cases", json=_body(tag, i))
                    code = str(response.status_code)
                    if response.status_code == 201 and record:
                        last_id.append(response.json()["id"])
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                elapsed = (time.perf_counter() - start) * 1000
                if record:
                    statuses[code] += 1
                    if code == "201":
                        latencies.append(elapsed)

        warmup = iter(range(-min(requests, 2 * clients), 0))
        await asyncio.gather(*(worker(warmup, False) for _ in range(clients)))
        numbers = iter(range(requests))
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker(numbers, True) for _ in range(clients))),
                LEVEL_DEADLINE)
        except TimeoutError:
            statuses["level deadline"] += requests - sum(statuses.values())
        wall = time.perf_counter() - started
    ok = statuses.get("201", 0)
    return {
        "clients": clients, "requests": requests, "errors": requests - ok,
        "statuses": dict(statuses), "seconds": wall, "per_s": ok / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99), "max_ms": max(latencies, default=float("nan")),
        "last_id": last_id[-1] if last_id else None,
    }


def _sweep(server: ServerProcess, target: str, db_kind: str, levels: tuple[int, ...],
           requests: int, log: Any) -> list[dict[str, Any]]:
    rows = []
    for clients in levels:
        tag = f"{target[:4]}-{clients}-{uuid.uuid4().hex[:6]}"
        row = asyncio.run(_level(server.base_url, clients, requests, tag))
        if not server.alive():
            raise BenchError(f"{server.name} died during intake:\n{server.log_tail()}")
        row = {"database": db_kind, "target": target, **row}
        log(f"  intake {db_kind:8} {target:12} {clients:>3} clients: {row['per_s']:8.1f}/s "
            f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms errors {row['errors']}")
        rows.append(row)
    return rows


def _check_readback(server: ServerProcess, case_id: int | None) -> None:
    """The last complaint reads back with its timeline: the writes were real."""
    if case_id is None:
        raise BenchError("intake opened no complaint at all")
    response = httpx.get(f"{server.base_url}/cases/{case_id}", timeout=10)
    if response.status_code != 200 or not response.json().get("timeline"):
        raise BenchError(f"GET /cases/{case_id} answered {response.status_code}: "
                         f"{response.text[:300]}")


def run_caseflow(db_kind: str, *, quick: bool, postgres_url: str,
                 levels: tuple[int, ...] = LEVELS, requests: int | None = None,
                 log: Any = print) -> list[dict[str, Any]]:
    """Intake against `caseflow serve` on a fresh store of kind `db_kind`."""
    requests = requests or (QUICK_REQUESTS if quick else FULL_REQUESTS)
    with temp_dir("intake") as work, database(db_kind, work, postgres_url) as db, \
            caseflow_server(data_dir=work / "data", db=db) as server:
        rows = _sweep(server, "caseflow", db_kind, levels, requests, log)
        _check_readback(server, rows[-1]["last_id"])
    return rows


def run_bare(*, quick: bool, levels: tuple[int, ...] = LEVELS, requests: int | None = None,
             log: Any = print) -> list[dict[str, Any]]:
    """The same load against the bare FastAPI reference app."""
    requests = requests or (QUICK_REQUESTS if quick else FULL_REQUESTS)
    with temp_dir("bare") as work, bare_server(Path(work)) as server:
        return _sweep(server, "bare FastAPI", "-", levels, requests, log)
