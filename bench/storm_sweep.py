"""Storm sweep: the CPU one sweeper spends firing and delivering a storm, in process.

For A/B comparisons on a busy machine, where the live storm's seconds mostly measure
the other engineers' load (and its seeding may not even finish before the storm's due
second). N complaints are opened once into a template store (a PostgreSQL database
`storm_sweep_<N>` kept on the server, or a SQLite file in --work) by this tree's code;
each run clones it, sweeps the 75% warnings (as a live storm does before its second),
then times the breaches: `fire_due` (N rungs) and `deliver_due` (2N notifications),
inline, with the people posting to a local webhook receiver. Printed as one JSON line:
wall and CPU seconds of this process, CPU seconds of the store's PostgreSQL backends,
statements and rows sent, and the posts the receiver got.

    python bench/storm_sweep.py --n 10000 --database postgres

Run it alternately from two trees (`cd <tree> && python bench/storm_sweep.py ...`):
the template of one serves both as long as their schemas agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_POSTGRES_URL, Database  # noqa: E402
from bench.storm import FIRST_RESPONSE, seed  # noqa: E402
from tests.support import webhook_receiver, write_policies  # noqa: E402

OPENED_AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
WARNING_AT = timedelta(minutes=15)  # 75% of the first response's 20 minutes


def _backend_cpu(admin: Connection, database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to `database`."""
    total = 0.0
    for (pid,) in admin.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                                {"d": database}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _clone(kind: str, n: int, work: Path, postgres_url: str, admin: Connection | None
           ) -> tuple[str, str]:
    """A fresh copy of the template store of `n` complaints (made first if need be):
    its URL and its name."""
    name = f"storm_sweep_{n}_run_{os.getpid()}"
    if kind == "sqlite":
        template = work / f"storm_sweep_{n}.db"
        if not template.exists():
            seed(Database("sqlite", f"sqlite:///{template}"), write_policies(work / "seeding"),
                 work / "seeding-data", n, OPENED_AT)
        shutil.copy(template, work / f"{name}.db")
        return f"sqlite:///{work / f'{name}.db'}", name
    assert admin is not None
    template_name = f"storm_sweep_{n}"
    base = postgres_url.rsplit("/", 1)[0]
    if admin.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                     {"d": template_name}).first() is None:
        admin.execute(text(f'CREATE DATABASE "{template_name}"'))
        seed(Database("postgres", f"{base}/{template_name}"), write_policies(work / "seeding"),
             work / "seeding-data", n, OPENED_AT)
    admin.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    return f"{base}/{name}", name


def run(kind: str, n: int, work: Path, postgres_url: str) -> dict[str, Any]:
    from core import runtime as runtime_module
    from core.settings import Settings
    from engine.clock import FrozenClock
    from engine.sweeper import InlineRunner, Sweeper

    work.mkdir(parents=True, exist_ok=True)
    admin = (create_engine(Database("postgres", postgres_url).sqlalchemy_url,
                           isolation_level="AUTOCOMMIT").connect()
             if kind == "postgres" else None)
    url, name = _clone(kind, n, work, postgres_url, admin)
    figures: dict[str, Any] = {"tree": os.getcwd(), "n": n, "database": kind,
                               "load": os.getloadavg()[0]}
    try:
        with webhook_receiver() as receiver:
            clock = FrozenClock(OPENED_AT + WARNING_AT + timedelta(seconds=1))
            settings = Settings(data_dir=work / f"{name}-data", database_url=url,
                                policies=write_policies(work / f"{name}-policies",
                                                        receiver=receiver),
                                scheduler_enabled=False, flow_runner="inline",
                                survey_secret="storm-sweep-survey-secret-0123456789abcdef")
            rt = runtime_module.configure(settings, clock=clock)
            sweeper = Sweeper(rt, InlineRunner(rt))
            sweeper.tick()  # the warnings, which a live storm sends before its second
            clock.advance(FIRST_RESPONSE - WARNING_AT)
            sent = {"statements": 0, "rows": 0}

            @event.listens_for(rt.engine, "before_cursor_execute")
            def count(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any,
                      executemany: bool) -> None:
                sent["statements"] += 1
                sent["rows"] += len(parameters) if executemany else 1

            posts_before = len(receiver.all())
            for part in ("fire_due", "deliver_due"):
                statements, rows = sent["statements"], sent["rows"]
                backends = _backend_cpu(admin, name) if admin is not None else 0.0
                cpu, wall = time.process_time(), time.perf_counter()
                report = getattr(sweeper, part)()
                figures[part] = {
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "postgres_cpu_s": round(_backend_cpu(admin, name) - backends, 2)
                    if admin is not None else None,
                    "statements": sent["statements"] - statements,
                    "rows": sent["rows"] - rows,
                    "outcome": report.timers or report.messages}
            figures["posts"] = len(receiver.all()) - posts_before
            rt.engine.dispose()
    finally:
        if admin is not None:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.close()
        else:
            (work / f"{name}.db").unlink(missing_ok=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="complaints in the storm")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--work", type=Path, default=Path("/tmp/caseflow-storm-sweep"),
                        help="where the SQLite template, policies and data go")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.database, args.n, args.work, args.postgres_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
