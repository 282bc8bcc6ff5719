"""The limit for PostgreSQL intake: the same rows per complaint, written by the same
driver with nothing in between.

A complaint opened by Caseflow writes a customer, a case, its clocks, its timeline, its
timers and notifications, and moves its assignee's load. This reference opens one
complaint through the service's own command on a fresh, migrated database, reads back
every row it wrote, and then has `clients` processes, each with its own psycopg
connection, write those rows again (with new keys) for `requests` complaints: one
transaction and one commit per complaint, its statements sent in one pipeline (the ids
of the new customer and case taken with `currval` on the server), which is the fewest
round trips the driver allows. No HTTP, no ORM, no Python decision: what the server
and the driver cost, so Caseflow's rows can say how far they are from it.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import CpuMeter, Database, cpu_per_request, database, percentile, temp_dir

LEVEL_DEADLINE = 600.0  # seconds for one level, whatever happens
# Tables whose new rows belong to the complaint, in the order they are written.
_CHILD_TABLES = ("sla_clocks", "case_events", "timers", "outbox")
# Columns that are unique, and so get the complaint's tag.
_UNIQUE = {"customers": ("external_ref",), "timers": ("key",), "outbox": ("key",)}


class ComplaintRows:
    """Every row one complaint wrote, as statements that write them again for another."""

    def __init__(self, url: str) -> None:
        self.statements: list[tuple[str, dict[str, Any]]] = []
        self.load_change: tuple[str, dict[str, Any]] | None = None
        with psycopg.connect(url, autocommit=True) as conn:
            case = _rows(conn, "SELECT * FROM cases ORDER BY id DESC LIMIT 1")[0]
            customer = _rows(conn, "SELECT * FROM customers WHERE id = %(id)s",
                             {"id": case["customer_id"]})[0]
            self._add("customers", customer, {})
            self._add("cases", case, {"customer_id": "currval(pg_get_serial_sequence("
                                                     "'customers', 'id'))"})
            for table in _CHILD_TABLES:
                for row in _rows(conn, f"SELECT * FROM {table} WHERE case_id = %(id)s "  # noqa: S608
                                 "ORDER BY id", {"id": case["id"]}):
                    self._add(table, row, {"case_id": "currval(pg_get_serial_sequence("
                                                      "'cases', 'id'))"})
            self.load_change = (
                "UPDATE team_members SET open_cases = open_cases + 1, last_assigned_at = "
                "%(at)s WHERE team = %(team)s AND person = %(person)s",
                {"at": case["opened_at"], "team": case["team"], "person": case["assignee"]})

    def _add(self, table: str, row: dict[str, Any], by_server: dict[str, str]) -> None:
        values = {k: v for k, v in row.items() if k != "id" and k not in by_server}
        columns = [*values, *by_server]
        placeholders = [f"%({k})s" for k in values] + list(by_server.values())
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
               f"VALUES ({', '.join(placeholders)})")
        self.statements.append((sql, {k: Jsonb(v) if isinstance(v, dict | list) else v
                                      for k, v in values.items()}))

    @property
    def count(self) -> int:
        """Statements a complaint takes (the load's update among them)."""
        return len(self.statements) + 1

    def write(self, conn: psycopg.Connection[Any], tag: str) -> None:
        """Write one complaint's rows under `tag`, in one transaction, and commit."""
        with conn.pipeline(), conn.transaction():
            for sql, params in self.statements:
                table = sql.split()[2]
                tagged = {k: (f"{v}-{tag}" if k in _UNIQUE.get(table, ()) and v else v)
                          for k, v in params.items()}
                conn.execute(sql, tagged)
            assert self.load_change is not None
            conn.execute(*self.load_change)


def _rows(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any] | None = None
          ) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def seed_one(db: Database, data_dir: Path) -> None:
    """Open one complaint through the service's command, as the intake would."""
    from sqlmodel import Session

    from core import runtime as runtime_module
    from core.cases import CustomerInput, OpenCase, open_case
    from core.settings import Settings
    from domain.policy import Tier

    root = Path(__file__).resolve().parent.parent
    settings = Settings(data_dir=data_dir, database_url=db.url, policies=root / "policies",
                        scheduler_enabled=False, flow_runner="inline")
    rt = runtime_module.configure(settings)  # migrates the fresh store
    try:
        request = OpenCase(
            subject="parcel arrived broken (reference)", channel="phone",
            description="The box was crushed and the vase inside is in pieces.",
            customer=CustomerInput(ref="reference", name="Lin", tier=Tier.B, phone=None,
                                   email=None))
        with Session(rt.engine, expire_on_commit=False) as session:
            open_case(session, request=request, actor="bench:reference",
                      policies=rt.policies, calendars=rt.calendars, now=datetime.now(UTC))
    finally:
        rt.engine.dispose()


def _level(db: Database, rows: ComplaintRows, clients: int, requests: int, tag: str
           ) -> dict[str, Any]:
    """Write `requests` complaints from `clients` processes, each with its own connection.

    Processes, not threads: threads, a connection each, were the limit themselves. At
    16 clients they queued for the GIL between each statement's sending and its
    answer, and wrote fewer complaints a second than one thread (664 against 1,128/s)
    on a server that commits 4,936 such transactions a second for pgbench. psycopg's
    asyncio API on one event loop spent half as much CPU again as the plain driver per
    complaint (1.2 against 0.8 ms), which on two cores is taken from the server.
    """
    context = multiprocessing.get_context("spawn")  # nothing of this process inherited
    start = context.Barrier(clients + 1)  # every client connected and warmed up
    # The clients keep their connections until the meter has read their backends' CPU.
    metered = context.Barrier(clients + 1)
    counter = context.Value("i", 0)  # the next complaint's number, shared
    results = context.Queue()
    procs = [context.Process(target=_client, daemon=True,
                             args=(db.url, rows, requests, f"{tag}-{n}", (start, metered),
                                   counter, results))
             for n in range(clients)]
    for proc in procs:
        proc.start()
    try:
        start.wait(timeout=LEVEL_DEADLINE)
        began = time.perf_counter()
        meter = CpuMeter(database=db.name)
        done = [results.get(timeout=LEVEL_DEADLINE + 30) for _ in procs]
        wall = time.perf_counter() - began
        cpu = meter.stop()
        metered.wait(timeout=LEVEL_DEADLINE)
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    latencies = [ms for client in done for ms in client["latencies"]]
    errors = [error for client in done for error in client["errors"]]
    # The clients' CPU is this bench's, not another program's.
    client_cpu = sum(client["cpu"] for client in done) / wall
    cpu = {**cpu, "client_cores": cpu["client_cores"] + client_cpu,
           "other_cores": max(0.0, cpu["other_cores"] - client_cpu)}
    ok = len(latencies)
    return {"clients": clients, "requests": requests, "errors": requests - ok,
            "statuses": {"ok": ok, **{e: errors.count(e) for e in set(errors)}},
            "seconds": wall, "per_s": ok / wall if wall else 0.0,
            "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies, default=float("nan")), **cpu,
            **cpu_per_request(cpu, ok, wall)}


def _client(url: str, rows: ComplaintRows, requests: int, tag: str, barriers: Any,
            counter: Any, results: Any) -> None:
    """One client process: connect, warm up, wait for the others, then write complaints
    until `counter` reaches `requests`; put its latencies, errors and CPU on `results`,
    and close its connection once the level has been metered."""
    start, metered = barriers
    latencies: list[float] = []
    errors: list[str] = []
    with psycopg.connect(url) as conn:
        for i in range(2):  # untimed
            rows.write(conn, f"{tag}-warm-{i}")
        start.wait(timeout=LEVEL_DEADLINE)
        deadline = time.monotonic() + LEVEL_DEADLINE
        cpu = time.process_time()
        while time.monotonic() < deadline:
            with counter.get_lock():
                i = counter.value
                counter.value += 1
            if i >= requests:
                break
            began = time.perf_counter()
            try:
                rows.write(conn, f"{tag}-{i}")
            except psycopg.Error as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append((time.perf_counter() - began) * 1000)
        cpu = time.process_time() - cpu
        results.put({"latencies": latencies, "errors": errors, "cpu": cpu})
        metered.wait(timeout=LEVEL_DEADLINE)


def run(*, postgres_url: str, levels: tuple[int, ...], requests: int, calm: Any,
        log: Any = print) -> list[dict[str, Any]]:
    """The reference's rows, one per level, on a fresh database of its own."""
    with temp_dir("pgref") as work, database("postgres", work, postgres_url) as db:
        seed_one(db, work / "data")
        rows = ComplaintRows(db.url)
        log(f"  intake postgres  raw psycopg: {rows.count} statements per complaint")
        out = []
        for clients in levels:
            def measure(clients: int = clients) -> dict[str, Any]:
                return _level(db, rows, clients, requests, f"ref-{clients}-{time.time_ns()}")

            row = calm.measure(f"intake postgres raw psycopg {clients}", measure, log)
            row = {"database": "postgres", "target": "raw psycopg", **row}
            log(f"  intake postgres  raw psycopg  {clients:>3} clients: {row['per_s']:8.1f}/s "
                f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms errors {row['errors']} "
                f"(PostgreSQL CPU {row['postgres_cpu_ms']:.2f} ms a complaint)")
            out.append(row)
        return out
