"""Console pages: each page's server time on a store holding N cases (1,000,000 in full).

The store is filled as bench/scale.py fills it (the newest twentieth of the cases open,
over two teams). Each page under /console is then requested in-process (the app over an
ASGI test client: no network, no browser), signed in as a supervisor of one team and as
a manager of every team, at one frozen instant, several times each; the median is
printed beside the 150 ms limit of a page, with the median CPU time of the process (the
figure to read on a busy machine) and the load average. The time is the whole request:
the session and key check, the queries, and the template.

Beside the pages: the queue's page 201 (10,000 cases in, reached with the cursor that
the API's page ending there gives), the API's queue page there (`GET /cases?sort=due`
with that cursor), and the facets over all time (`GET /cases/facets`).

    python bench/console_pages.py --cases 100000
    python bench/console_pages.py --cases 1000000 --database postgres
    python bench/console_pages.py --store /tmp/filled.db  # a SQLite store filled before
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import format_table, postgres_cpu, temp_dir  # noqa: E402
from bench.scale import NOW, chosen_stores, filled_store, store_arguments  # noqa: E402

LIMIT_MS = 150.0  # a console page's server time (issue 22: "under 150 ms")
PAGES = ("queue", "overview", "workload", "crises", "calls", "improvement", "reports")
DEEP = 10_000  # cases into the queue, for its deep page
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _signed_in(client: Any, key: str) -> None:
    page = client.get("/console/sign-in")
    token = CSRF.search(page.text)
    assert token, page.text[:300]
    answer = client.post("/console/sign-in", data={"csrf_token": token[1], "credentials": key})
    assert answer.status_code == 303, answer.text


def _median_ms(client: Any, path: str, repeat: int, headers: dict[str, str] | None = None,
               database: str | None = None) -> tuple[float, float, float | None]:
    """The median wall time of `path`, the median CPU time of this process over the
    request (the app runs in it: on SQLite that is all the work, on PostgreSQL all but
    the database server's), which a busy machine slows less than the wall time, and on
    PostgreSQL (`database` named) the mean CPU time of its backends serving that
    database: the kernel counts it in ticks of 10 ms, too coarse for one request's."""
    times, cpu = [], []
    backends = postgres_cpu(database) if database else 0.0
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        answer = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    database_ms = (postgres_cpu(database) - backends) * 1000 / repeat if database else None
    return statistics.median(times), statistics.median(cpu), database_ms


def measure(url: str, work: Path, *, repeat: int, database: str | None = None
            ) -> list[dict[str, Any]]:
    """Each page's median time, for a supervisor of one team and a manager (and the
    CPU time of the PostgreSQL backends of `database`, where it is one)."""
    from fastapi.testclient import TestClient
    from sqlmodel import Session, col, select

    from api.app import create_app
    from core import runtime as runtime_module
    from core.keys import create_key
    from core.settings import Settings
    from domain.access import AccessRole, ActorKind
    from engine.clock import FrozenClock
    from engine.models import Case

    settings = Settings(database_url=url, data_dir=work, scheduler_enabled=False,
                        flow_runner="inline", public_url="http://127.0.0.1:8000")
    rt = runtime_module.configure(settings, clock=FrozenClock(NOW))
    rows = []
    try:
        with Session(rt.engine) as session:
            open_case = session.exec(select(Case.id).where(
                col(Case.closed_at).is_(None), Case.team == "complaints")
                .order_by(col(Case.id).desc()).limit(1)).one()
        for role, name, teams in (("supervisor", "wang.fang", ["complaints"]),
                                  ("manager", "liu.yang", [])):
            with Session(rt.engine, expire_on_commit=False) as session:
                key = create_key(session, name=name, role=AccessRole(role), teams=teams,
                                 kind=ActorKind.person, expires_at=None, created_by="bench",
                                 policies=rt.policies, now=NOW).secret
            with TestClient(create_app(manage_runtime=False), follow_redirects=False,
                            base_url="http://127.0.0.1:8000") as client:
                _signed_in(client, key)
                bearer = {"Authorization": f"Bearer {key}"}
                deep = client.get("/cases", headers=bearer, params={
                    "sort": "due", "limit": 50, "offset": DEEP - 50}).json()["next_page"]
                paths: list[tuple[str, str, dict[str, str] | None]] = [
                    (page.split("/")[0], f"/console/{page}", None)
                    for page in (*PAGES, f"cases/{open_case}")]
                if deep is not None:  # a store with that many open cases in scope
                    paths += [("queue, page 201", f"/console/queue?after={deep}", None),
                              ("API queue, 10,000 in",
                               f"/cases?sort=due&limit=50&cursor={deep}", bearer)]
                paths.append(("API facets, all time", "/cases/facets", bearer))
                for name, path, headers in paths:
                    client.get(path, headers=headers)  # warm: templates, caches
                    ms, cpu_ms, database_ms = _median_ms(client, path, repeat, headers,
                                                         database)
                    rows.append({"who": role, "page": name, "ms": ms, "cpu_ms": cpu_ms,
                                 "postgres_cpu_ms": database_ms,
                                 "verdict": "ok" if ms <= LIMIT_MS else "OVER"})
    finally:
        rt.engine.dispose()
    return rows


def run(db_kind: str, n: int, *, postgres_url: str, repeat: int) -> list[dict[str, Any]]:
    with filled_store(db_kind, n, name="console-pages", postgres_url=postgres_url) as (
            work, db, _):
        rows = measure(db.sqlalchemy_url, work, repeat=repeat, database=db.name)
        return [{"database": db_kind, "cases": n, **row} for row in rows]


COLUMNS = [("database", "store"), ("cases", "cases"), ("who", "signed in as"),
           ("page", "page"), ("ms", "median ms"), ("cpu_ms", "CPU ms"),
           ("postgres_cpu_ms", "PostgreSQL CPU ms"),
           ("verdict", f"<= {LIMIT_MS:.0f} ms")]


def filled_before(path: Path, *, repeat: int) -> list[dict[str, Any]]:
    """Measure a SQLite store filled before (as bench/scale.py fills one), left in place;
    the service migrates it first, as it would at start-up."""
    cases = _cases_in(f"sqlite:///{path}")
    with temp_dir("console-pages") as work:
        rows = measure(f"sqlite:///{path}", work, repeat=repeat)
    return [{"database": "sqlite", "cases": cases, **row} for row in rows]


def _cases_in(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM cases")).scalar_one())
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = store_arguments(__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--store", type=Path, help="a filled SQLite store to measure as it is")
    args = parser.parse_args(argv)
    n, kinds = chosen_stores(args)
    rows = filled_before(args.store, repeat=args.repeat) if args.store else [
        row for kind in kinds
        for row in run(kind, n, postgres_url=args.postgres_url, repeat=args.repeat)]
    print(format_table("console pages: server time per request", COLUMNS, rows))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
