"""Scale: a store holding N cases (1,000,000 in full), a realistic share still open.

The store is filled straight through SQLAlchemy Core in chunks (each case with its two
clocks, four timeline events and two timers: the open ones pending in the future, the
closed ones fired or cancelled), then measured in-process at one frozen instant:

- an idle sweeper tick: the claim queries with nothing due (median of many ticks);
- a filtered case list: one team's breached cases in a stage, first page (median);
- the complaint on-time rate KPI over every case (median of a few runs);
- the service's memory: `caseflow serve` started on that store, its resident memory
  (the service process alone, and with its local Prefect API) once it has settled.

    python bench/scale.py --cases 1000000 --database sqlite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    Database,
    caseflow_server,
    database,
    format_table,
    temp_dir,
)

OPEN_SHARE = 0.05  # a twentieth of all cases still open: a busy service's backlog
CHUNK = 5_000
QUICK_CASES = 20_000
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, as in the tests
YEAR = timedelta(days=365)
TEAMS = (("complaints", ("li.wei", "zhang.min", "chen.jing")),
         ("billing", ("sun.hao", "zhou.xin")))
CATEGORIES = ("delivery", "billing", "quality", "refund", None)


def fill(engine: Any, n: int, log: Any = print,
         case_rows: Callable[[int, int, int], dict[str, Any]] | None = None) -> float:
    """Insert `n` cases with what `case_rows(i, n, customers)` gives for each (its "case"
    row, and its "clocks", "events" and "timers" rows, each optional), over `n // 3`
    customers; by default this module's year of complaints. Return the seconds it took."""
    from engine.models import Case, CaseEvent, Customer, SlaClock, Timer

    make = case_rows or _case
    started = time.perf_counter()
    customers = max(1, n // 3)
    with engine.begin() as conn:
        for lo in range(0, customers, CHUNK):
            conn.execute(Customer.__table__.insert(), [  # type: ignore[attr-defined]
                {"id": i + 1, "external_ref": f"c-{i}", "name": "Lin", "tier": "ABC"[i % 3],
                 "created_at": NOW - timedelta(days=400)}
                for i in range(lo, min(customers, lo + CHUNK))])
    for lo in range(0, n, CHUNK):
        rows = [make(i, n, customers) for i in range(lo, min(n, lo + CHUNK))]
        with engine.begin() as conn:
            conn.execute(Case.__table__.insert(), [r["case"] for r in rows])  # type: ignore[attr-defined]
            for table, key in ((SlaClock, "clocks"), (CaseEvent, "events"), (Timer, "timers")):
                batch = [row for r in rows for row in r.get(key, ())]
                if batch:  # an insert given no rows would write one row of defaults
                    conn.execute(table.__table__.insert(), batch)  # type: ignore[union-attr]
        if (lo // CHUNK) % 40 == 0:
            log(f"  filled {lo + len(rows):,} of {n:,} cases")
    return time.perf_counter() - started


def _case(i: int, n: int, customers: int) -> dict[str, Any]:
    """Case `i` of `n`, opened evenly over the past year; the newest OPEN_SHARE are open."""
    case_id = i + 1
    team, members = TEAMS[i % len(TEAMS)]
    opened = NOW - YEAR + YEAR * (i / n)
    still_open = i >= n * (1 - OPEN_SHARE)
    stage = ("in_progress", "assigned")[i % 2] if still_open else "closed"
    fr_met = i % 10 != 0
    res_met = i % 7 != 0
    case = {"id": case_id, "process": "complaint", "stage": stage, "priority": "ordinary",
            "tier": "ABC"[i % 3], "category": CATEGORIES[i % len(CATEGORIES)],
            "channel": ("phone", "web", "wecom")[i % 3], "subject": f"complaint {i}",
            "description": "", "customer_id": (i % customers) + 1, "team": team,
            "assignee": members[i % len(members)], "escalation_level": 0 if fr_met else 1,
            "resolved_count": 0 if still_open else 1, "policy_version": "bench",
            "opened_at": opened, "stage_entered_at": opened, "updated_at": opened,
            "closed_at": None if still_open else opened + timedelta(hours=20), "version": 5,
            "data": {}}
    clocks, timers = [], []
    for name, target, met in (("first_response", 1200, fr_met), ("resolution", 86400, res_met)):
        running = still_open and (name == "resolution" or stage == "assigned")
        due = opened + timedelta(seconds=target)
        clocks.append({
            "case_id": case_id, "process": "complaint", "name": name, "calendar": "24x7",
            "target_seconds": target,
            "elapsed_seconds": 0 if running else (target * (0.5 if met else 1.5)),
            "state": "running" if running else "stopped", "steps_fired": 0 if met else 2,
            "started_at": opened, "running_since": opened if running else None,
            "stopped_at": None if running else opened + timedelta(seconds=target * 0.5),
            "breached_at": None if met else due, "ladder_stopped_at": None,
            "due_at": due if running else None, "warn_at": None})
        # Open cases wait on a future rung; closed ones keep their fired or cancelled rows.
        timers.append({
            "key": f"{case_id}:{name}:0", "case_id": case_id, "process": "complaint",
            "kind": "escalation", "name": name, "step": 0,
            "status": "pending" if running else ("fired" if not met else "cancelled"),
            "fire_at": NOW + timedelta(days=2) if running else due})
    events = [{"case_id": case_id, "type": kind, "actor": actor, "actor_kind": actor_kind,
               "at": opened, "details": {}}
              for kind, actor, actor_kind in (("opened", "web-form", "integration"),
                                              ("classify", "system", "system"),
                                              ("assign", "system", "system"),
                                              ("acknowledge", "li.wei", "person"))]
    return {"case": case, "clocks": clocks, "events": events, "timers": timers}


def _median_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(url: str, *, repeat: int) -> dict[str, float]:
    """Idle tick, filtered list and on-time KPI on a filled store, at the frozen instant."""
    from sqlmodel import Session

    from core import runtime as runtime_module
    from core.kpis import KpiFilter, on_time_rate
    from core.queries import CaseFilter, list_cases
    from core.settings import Settings
    from engine.clock import FrozenClock
    from engine.sweeper import InlineRunner, Sweeper

    settings = Settings(database_url=url, scheduler_enabled=False, flow_runner="inline")
    rt = runtime_module.configure(settings, clock=FrozenClock(NOW))
    sweeper = Sweeper(rt, InlineRunner(rt))
    try:
        tick = _median_ms(sweeper.tick, repeat * 5)
        flt = CaseFilter(team="complaints", stage="in_progress", breached=True)

        def page() -> None:
            with Session(rt.engine) as session:
                list_cases(session, flt, now=NOW, limit=50, before_id=None)

        def kpi() -> None:
            with Session(rt.engine) as session:
                on_time_rate(session, KpiFilter(), now=NOW)

        return {"idle_tick_ms": tick, "list_ms": _median_ms(page, repeat),
                "kpi_ms": _median_ms(kpi, max(3, repeat // 4))}
    finally:
        rt.engine.dispose()


def _rss_mb(pids: Iterator[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def service_memory(work: Path, db: Any) -> dict[str, float]:
    """Resident memory of `caseflow serve` on the filled store, after it settles."""
    with caseflow_server(data_dir=work / "data", db=db) as server:
        server.wait_settled()
        group = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                 and _pgid(int(p.name)) == server.proc.pid]
        return {"service_mb": _rss_mb(iter([server.proc.pid])),
                "with_prefect_mb": _rss_mb(iter(group))}


def _pgid(pid: int) -> int | None:
    try:
        import os

        return os.getpgid(pid)
    except OSError:
        return None


def _settle(engine: Any) -> None:
    """Give the store the statistics and visibility map that a live one has.

    A store that took a year to fill has been analysed and vacuumed by then (SQLite's
    `PRAGMA optimize`, PostgreSQL's autovacuum). Right after a bulk fill it has neither:
    PostgreSQL would plan with default estimates and read the heap on index-only scans.
    Nor has it the trends' roll-up of closed complaints, which closing them would have
    kept: it is counted here.
    """
    from sqlalchemy import text
    from sqlmodel import Session

    from processes.reviews import trend_rollup

    with Session(engine) as session:
        trend_rollup.rebuild(session, NOW)
        session.commit()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))


@contextmanager
def filled_store(db_kind: str, n: int, *, name: str, postgres_url: str = DEFAULT_POSTGRES_URL,
                 log: Any = print,
                 case_rows: Callable[[int, int, int], dict[str, Any]] | None = None,
                 ) -> Iterator[tuple[Path, Database, float]]:
    """A fresh store of kind `db_kind` in a work dir of its own, migrated, filled with `n`
    cases (`fill`, with `case_rows`) and settled as a live one: its work dir, its
    database and the fill's seconds; removed afterwards."""
    from sqlalchemy import create_engine

    from engine.db import make_engine, migrate

    with temp_dir(name) as work, database(db_kind, work, postgres_url) as db:
        engine = make_engine(db.sqlalchemy_url) if db_kind == "sqlite" else \
            create_engine(db.sqlalchemy_url)
        migrate(engine)
        seconds = fill(engine, n, log, case_rows)
        _settle(engine)
        engine.dispose()
        log(f"  {name} {db_kind}: {n:,} cases filled in {seconds:.0f} s")
        yield work, db, seconds


def run(db_kind: str, n: int, *, postgres_url: str = DEFAULT_POSTGRES_URL,
        log: Any = print) -> dict[str, Any]:
    """Fill a fresh store of kind `db_kind` with `n` cases and measure it."""
    with filled_store(db_kind, n, name="scale", postgres_url=postgres_url,
                      log=log) as (work, db, seconds):
        row: dict[str, Any] = {"database": db_kind, "cases": n, "fill_s": seconds}
        row.update(measure(db.sqlalchemy_url, repeat=20))
        row.update(service_memory(work, db))
        return row


COLUMNS = [("database", "store"), ("cases", "cases"), ("idle_tick_ms", "idle tick ms"),
           ("list_ms", "list ms"), ("kpi_ms", "on-time KPI ms"),
           ("service_mb", "service MB"), ("with_prefect_mb", "+Prefect MB"),
           ("fill_s", "fill s")]


def store_arguments(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options of every bench on a filled store: --cases, --quick,
    --database and --postgres-url (read back with `chosen_stores`)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES:,} cases")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    return parser


def chosen_stores(args: argparse.Namespace) -> tuple[int, list[str]]:
    """How many cases to fill, and in which stores, as `store_arguments` read them."""
    n = QUICK_CASES if args.quick else args.cases
    return n, ["sqlite", "postgres"] if args.database == "both" else [args.database]


def main(argv: list[str] | None = None) -> int:
    args = store_arguments(__doc__).parse_args(argv)
    n, kinds = chosen_stores(args)
    rows = [run(kind, n, postgres_url=args.postgres_url) for kind in kinds]
    print(format_table("scale: a filled store", COLUMNS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
