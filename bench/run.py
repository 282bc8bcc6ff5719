"""Run Caseflow's benchmarks against the real server process and print a table of figures.

    python bench/run.py                         # intake and storm on SQLite, full size
    python bench/run.py --quick                 # small counts: proves the scripts work
    python bench/run.py --database both         # SQLite and PostgreSQL side by side
    python bench/run.py --only storm --database postgres
    python bench/run.py --peers none            # Caseflow alone, without the peers
    python bench/run.py --only console --console-cases 100000   # the console's queries

The peers (bench/peers/: the same complaint process built the Prefect-native way and on
SpiffWorkflow) run the same intake and a `live` storm in the same run, on the same
store kinds; their rows carry ratios to Caseflow's row of the same store and clients
(intake) or the same store in mode live (storm). With peers, the storm modes include
live, since that is the mode they are compared with.

Every server it starts is stopped at the end (also on error or Ctrl-C), and every temp
dir and PostgreSQL database it creates is removed. The figures are also written as JSON
to bench/results/ (ignored by git). The exit code is 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench`, `core` and `tests` importable
    sys.path.insert(0, str(ROOT))

from bench import console, intake, pg_reference, storm  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    Calm,
    code_version,
    format_table,
    postgres_reachable,
    wait_for_calm,
)
from bench.cpu_limit import CpuLimitError, cpu_quota  # noqa: E402
from bench.peers import harness as peers  # noqa: E402

SCENARIOS = ("intake", "storm")  # what runs by default
# console fills a store with a million cases (minutes), so it runs when asked for only.
KNOWN_SCENARIOS = (*SCENARIOS, "console")
INTAKE_RATIOS = [("x_rate", "cf/peer rate"), ("x_p50", "peer/cf p50"),
                 ("x_p99", "peer/cf p99")]
# Each intake row beside the limits measured in the same run (same clients): the bare
# endpoint (HTTP alone) and, on PostgreSQL, the same rows written by the bare driver,
# and both at once: the bare endpoint writing those rows before it answers.
LIMIT_RATIOS = [("of_bare", "of bare"), ("of_raw", "of raw pg"),
                ("of_floor", "of FastAPI+pg")]
LIMITS = ("bare FastAPI", "raw psycopg", intake.FLOOR)
STORM_RATIOS = [("x_rate", "cf/peer breaches/s"), ("x_record", "peer/cf record"),
                ("x_notify", "peer/cf notify")]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{intake.QUICK_REQUESTS} requests per level, a storm of "
                             f"{storm.QUICK_N}")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios: intake,storm,console")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="server to create a throwaway database on (trust auth)")
    parser.add_argument("--levels", default=",".join(map(str, intake.LEVELS)),
                        help="intake concurrency levels")
    parser.add_argument("--workers", default="1",
                        help="intake: Caseflow's server processes (CASEFLOW_WORKERS), "
                             "comma-separated to compare, e.g. 1,2")
    parser.add_argument("--requests", type=int, default=None,
                        help="intake requests per level (overrides --quick)")
    parser.add_argument("--storm-n", type=int, default=None,
                        help="complaints in the storm (overrides --quick)")
    parser.add_argument("--storm-runners", default="prefect",
                        help="flow runner(s) of the storm server: prefect, inline or both "
                             "comma-separated (inline shows what Prefect adds)")
    parser.add_argument("--storm-sweepers", default="1",
                        help="sweeping processes: the service, and N-1 running the sweep "
                             "flow every second beside it (bench/sweeper.py); "
                             "comma-separated to compare, e.g. 1,2")
    parser.add_argument("--storm-batch", default="",
                        help="timers and notifications a sweeper claims at a time "
                             "(CASEFLOW_SWEEP_BATCH_SIZE; default the service's), "
                             "comma-separated to compare, e.g. 10000,1000")
    parser.add_argument("--storm-modes", default="restart",
                        help="restart (all overdue when the server starts), live (due "
                             "together once it has been up a while) or restart,live")
    parser.add_argument("--peers", default=",".join(peers.PEERS),
                        help="peers measured beside Caseflow: prefect, spiff, both "
                             "comma-separated, or none")
    parser.add_argument("--peer-requests", type=int, default=None,
                        help="intake requests per level for the peers (default: "
                             "--requests); the Prefect-native peer opens one or two a "
                             "second, so a full level of 2,000 would take it half an hour")
    parser.add_argument("--peer-storm-n", type=int, default=None,
                        help="complaints in the peers' storms (default: --storm-n)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the limits: the bare FastAPI endpoint, the raw "
                             "PostgreSQL reference, and the bare endpoint writing its rows")
    parser.add_argument("--calm", type=float, default=None, metavar="CORES",
                        help="repeat (up to --retries times) a measurement during which "
                             "other processes used more than CORES cores, e.g. 0.2; keep "
                             "the calmest attempt")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each scenario, wait up to this long for other "
                             "processes to use less than a quarter of a core")
    parser.add_argument("--cpus", type=float, default=None, metavar="CORES",
                        help="run everything within CORES cores of CPU time (a cgroup "
                             "quota; needs root), e.g. 0.85 for this machine at its "
                             "slowest hour seen (bench/cpu_limit.py)")
    parser.add_argument("--console-cases", type=int, default=None,
                        help=f"console: cases in the store (default 1,000,000; quick "
                             f"{console.QUICK_CASES:,})")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the figures (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in KNOWN_SCENARIOS]
    if unknown or not args.only:
        parser.error(f"--only takes {', '.join(KNOWN_SCENARIOS)}; got {args.only}")
    args.levels = tuple(int(x) for x in args.levels.split(","))
    try:
        args.workers = tuple(int(x) for x in args.workers.split(","))
    except ValueError:
        parser.error(f"--workers takes numbers, e.g. 1,2; got {args.workers}")
    if not args.workers or min(args.workers) < 1:
        parser.error(f"--workers takes numbers of at least 1; got {args.workers}")
    args.storm_runners = [r.strip() for r in args.storm_runners.split(",") if r.strip()]
    if not set(args.storm_runners) <= {"prefect", "inline"} or not args.storm_runners:
        parser.error("--storm-runners takes prefect, inline or prefect,inline")
    try:
        args.storm_sweepers = [int(x) for x in args.storm_sweepers.split(",")]
        args.storm_batch = [int(x) for x in args.storm_batch.split(",") if x.strip()] or [None]
    except ValueError:
        parser.error("--storm-sweepers and --storm-batch take comma-separated integers")
    args.storm_modes = [m.strip() for m in args.storm_modes.split(",") if m.strip()]
    if not set(args.storm_modes) <= {"restart", "live"} or not args.storm_modes:
        parser.error("--storm-modes takes restart, live or restart,live")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip() not in ("", "none")]
    if not set(args.peers) <= set(peers.PEERS):
        parser.error(f"--peers takes {', '.join(peers.PEERS)} or none; got {args.peers}")
    if args.peers and "live" not in args.storm_modes:
        args.storm_modes.append("live")  # the peers' storms compare with Caseflow's live one
    return args


def _terminate(signum: int, _frame: Any) -> None:
    # SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` stops its servers.
    raise KeyboardInterrupt(f"signal {signum}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def settle(name: str, patience: float) -> None:
    """Say how busy the machine is before a scenario; wait for calm if asked to."""
    load = wait_for_calm(0.25, patience, log)
    log(f"{name}: starting; other processes use {load:.2f} cores")


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def add_limit_ratios(rows: list[dict[str, Any]]) -> None:
    """Put each intake row's throughput as a share of the limits at its clients: the bare
    endpoint's, and on PostgreSQL the raw driver's and the bare endpoint's writing the
    same rows (1.0: as fast as the limit)."""
    bare = {r["clients"]: r for r in rows if r["target"] == "bare FastAPI"}
    raw = {r["clients"]: r for r in rows if r["target"] == "raw psycopg"}
    floor = {r["clients"]: r for r in rows if r["target"] == intake.FLOOR}
    for row in rows:
        if row["target"] in LIMITS:
            continue
        if row["clients"] in bare:
            row["of_bare"] = _ratio(row["per_s"], bare[row["clients"]]["per_s"])
        if row["database"] == "postgres" and row["clients"] in raw:
            row["of_raw"] = _ratio(row["per_s"], raw[row["clients"]]["per_s"])
        if row["database"] == "postgres" and row["clients"] in floor:
            row["of_floor"] = _ratio(row["per_s"], floor[row["clients"]]["per_s"])


def add_ratios(results: dict[str, list[dict[str, Any]]]) -> None:
    """Put each peer row's ratios to Caseflow beside its figures (> 1: Caseflow does better).

    Intake: the Caseflow row of the same store and clients (with the most workers, if
    several were run). Storm: Caseflow's live storm on the same store (its Prefect
    runner if there are several); its breaches a second, and its times when the storms
    were of one size (`--peer-storm-n` may make the peers' smaller).
    """
    caseflow = {(r["database"], r["clients"]): r for r in sorted(
        (r for r in results["intake"] if r["target"] == "caseflow"), key=lambda r: r["workers"])}
    for row in results["intake"]:
        ref = caseflow.get((row["database"], row["clients"]))
        if row["target"] in peers.PEERS.values() and ref:
            row.update(x_rate=_ratio(ref["per_s"], row["per_s"]),
                       x_p50=_ratio(row["p50_ms"], ref["p50_ms"]),
                       x_p99=_ratio(row["p99_ms"], ref["p99_ms"]))
    live: dict[str, dict[str, Any]] = {}
    for row in results["storm"]:
        if row["target"] == "caseflow" and row["mode"] == "live" and (
                row["database"] not in live or row["runner"] == "prefect"):
            live[row["database"]] = row
    for row in results["storm"]:
        ref = live.get(row["database"])
        if row["target"] in peers.PEERS.values() and ref:
            row.update(x_rate=_ratio(ref["records_per_s"], row["records_per_s"]))
            if row["n"] == ref["n"]:  # times compare only for storms of one size
                row.update(x_record=_ratio(row["record_s"], ref["record_s"]),
                           x_notify=_ratio(row["notify_s"], ref["notify_s"]))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    if args.cpus is None:
        return _run(args)
    try:
        with cpu_quota(args.cpus) as group:
            log(f"within {args.cpus} cores of CPU time (cgroup {group})")
            return _run(args)
    except CpuLimitError as exc:
        print(f"FAILED {exc}")
        return 1


def _run(args: argparse.Namespace) -> int:
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results: dict[str, list[dict[str, Any]]] = {"intake": [], "storm": [], "console": []}
    failures: list[str] = []
    started = time.perf_counter()
    code = code_version()  # now: the servers run the work tree as it is while they start
    calm = Calm(args.calm, args.retries)

    if "postgres" in databases:
        reason = postgres_reachable(args.postgres_url)
        if reason:
            failures.append(f"postgres: not reachable at {args.postgres_url}: {reason}")
            databases.remove("postgres")

    def attempt(name: str, fn: Any) -> Any:
        settle(name, args.wait_idle)
        try:
            return fn()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            log(f"FAILED {name}:\n{traceback.format_exc()}")
            return None

    if "intake" in args.only:
        for db in databases:
            for workers in args.workers:
                rows = attempt(f"intake/{db}/{workers}", lambda db=db, w=workers:
                               intake.run_caseflow(db, quick=args.quick,
                                                   postgres_url=args.postgres_url,
                                                   levels=args.levels, requests=args.requests,
                                                   calm=calm, log=log, workers=w))
                results["intake"] += rows or []
            for peer in args.peers:
                rows = attempt(f"intake/{db}/{peer}", lambda db=db, peer=peer: peers.run_intake(
                    peer, db, quick=args.quick, postgres_url=args.postgres_url,
                    levels=args.levels, requests=args.peer_requests or args.requests,
                    calm=calm, log=log))
                results["intake"] += rows or []
            if db == "postgres" and not args.no_reference:
                rows = attempt("intake/postgres/raw psycopg", lambda: pg_reference.run(
                    postgres_url=args.postgres_url, levels=args.levels,
                    requests=args.requests or (intake.QUICK_REQUESTS if args.quick
                                               else intake.FULL_REQUESTS),
                    calm=calm, log=log))
                results["intake"] += rows or []
                rows = attempt(f"intake/postgres/{intake.FLOOR}", lambda: intake.run_floor(
                    quick=args.quick, postgres_url=args.postgres_url, levels=args.levels,
                    requests=args.requests, workers=max(args.workers), calm=calm, log=log))
                results["intake"] += rows or []
        if not args.no_reference:
            rows = attempt("intake/bare FastAPI", lambda: intake.run_bare(
                quick=args.quick, levels=args.levels, requests=args.requests, calm=calm,
                log=log))
            results["intake"] += rows or []
    if "storm" in args.only:
        for mode in args.storm_modes:
            for db in databases:
                for runner, sweepers, batch in itertools.product(
                        args.storm_runners, args.storm_sweepers, args.storm_batch):
                    name = (f"storm/{db}/{runner}/{mode}/{sweepers} sweeper(s)"
                            + (f"/batch {batch}" if batch else ""))

                    def one(db: str = db, runner: str = runner, mode: str = mode,
                            sweepers: int = sweepers, batch: int | None = batch) -> Any:
                        return storm.run(db, quick=args.quick, postgres_url=args.postgres_url,
                                         n=args.storm_n, runner=runner, mode=mode,
                                         sweepers=sweepers, batch=batch, log=log)

                    row = attempt(name, lambda name=name, one=one: calm.measure(name, one, log))
                    if row:
                        results["storm"].append({"target": "caseflow", **row})
        for db in databases:
            for peer in args.peers:
                name = f"storm/{db}/{peer}"

                def peer_storm(db: str = db, peer: str = peer) -> Any:
                    return peers.run_storm(peer, db, quick=args.quick,
                                           postgres_url=args.postgres_url,
                                           n=args.peer_storm_n or args.storm_n, log=log)

                row = attempt(name, lambda name=name, fn=peer_storm: calm.measure(name, fn, log))
                if row:
                    results["storm"].append(row)
    if "console" in args.only:
        cases = args.console_cases or (console.QUICK_CASES if args.quick else 1_000_000)
        for db in databases:
            rows = attempt(f"console/{db}", lambda db=db: console.run(
                db, cases, postgres_url=args.postgres_url, log=log))
            results["console"] += rows or []
    add_ratios(results)
    add_limit_ratios(results["intake"])

    print()
    if "intake" in args.only:
        print(format_table("intake: complaints opened over HTTP (POST /cases)",
                           intake.COLUMNS + LIMIT_RATIOS
                           + (INTAKE_RATIOS if args.peers else []),
                           results["intake"]))
        for row in results["intake"]:
            if row["errors"]:
                failed = {k: v for k, v in row["statuses"].items() if k != "201"}
                print(f"  {row['database']} {row['target']} {row['clients']} clients: "
                      f"{row['errors']} requests failed {failed}")
        print()
    if "storm" in args.only:
        print(format_table("storm: breaches due in the same second, then notified",
                           storm.COLUMNS[:1] + [("target", "target")] + storm.COLUMNS[1:]
                           + (STORM_RATIOS if args.peers else []), results["storm"]))
        for row in results["storm"]:
            print(f"  {row['database']}/{row['target']}/{row['runner']}/{row['mode']}: posts "
                  f"per recipient {row['posts_by_recipient']}")
            if row.get("extra_sweeps"):
                print(f"    the extra sweepers did {row['extra_sweeps']}")
            if row.get("cores_by_process"):
                print(f"    cores by process: {row['cores_by_process']}")
        print()
    if "console" in args.only:
        print(format_table("console: the supervisors' queries on a filled store",
                           console.COLUMNS, results["console"]))
        print()
    elapsed = time.perf_counter() - started
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"{'quick' if args.quick else 'full'} run of {code}, {elapsed:.0f} s, "
          f"{len(failures)} failure(s)")

    out = args.json or ROOT / "bench" / "results" / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"code": code, "finished": datetime.now().isoformat(),
                               "args": {k: (str(v) if isinstance(v, Path) else v)
                                        for k, v in vars(args).items()},
                               "results": results, "failures": failures}, indent=2,
                              default=str))
    print(f"figures written to {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
