"""Storm: N complaints whose first-response deadline falls in the same second.

N ordinary tier-B complaints (PT20M first response) are opened straight through
`core.cases.open_case` with the server stopped, all at one frozen instant. Then the
real server starts (Prefect flow runner unless told otherwise, default batch size)
with people who post to a local webhook receiver, and the benchmark polls the store.

Two modes:

- restart (the default): the instant is 20 minutes and a few seconds ago, so every
  75% warning and every breach is already due when the service starts, as after
  downtime. Times count from the server process's start.
- live: the complaints are opened at the seeding's start, so that nothing falls due for
  a quarter of an hour. Once the service answers, and with the Prefect runner (not
  with --quick) once its Prefect API is ready, the store's times are moved back
  (`bench/time_shift.py`) so that the warnings fall due; when they are recorded and
  delivered, back again so that the breaches fall due together BREACH_LEAD_SECONDS
  later (more if the first move took long). So the storm is the Prefect runner's when
  that is the runner, however long seeding and start-up take. Times count from that
  due second; the warnings are not part of the figures.

Figures: seconds until all N breaches ("escalated", step "breach") are on the
timelines (record), until every outbox row is delivered (notify: a row is marked
delivered once the receiver answered the post that carried it; a digest's header names
only the lines it shows in full, so keys cannot be counted), and the posts each
recipient got (one digest per delivery round).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from bench.common import (
    BenchError,
    CpuMeter,
    Database,
    ServerProcess,
    caseflow_server,
    database,
    process_cpu,
    temp_dir,
)
from bench.time_shift import shift_times
from core.cases import CustomerInput, OpenCase, open_case
from domain.policy import Tier
from engine.db import make_engine
from engine.models import CaseEvent, OutboxMessage
from tests.support import WebhookReceiver, webhook_receiver, write_policies

FULL_N = 1000
QUICK_N = 50
POLL_SECONDS = 0.2
FIRST_RESPONSE = timedelta(minutes=20)  # ordinary priority, tier B, shipped policies
WARNING_AT = timedelta(minutes=15)  # its first rung: 75%
# Live: from moving the breaches' deadline to that deadline, at least (the move's own
# time counts: twice what moving the warnings took, if that is more).
BREACH_LEAD_SECONDS = 5.0
# Live: how long the service's Prefect API may take to get ready (the service gives up
# after 180 s and runs its batches inline; the storm then is not the Prefect runner's).
PREFECT_READY_TIMEOUT = 240.0
# Shared by the service and the extra sweepers: a flow run outside the service needs it.
SURVEY_SECRET = "storm-bench-survey-secret-0123456789abcdef"

COLUMNS = [
    ("database", "database"), ("runner", "runner"), ("mode", "mode"), ("sweepers", "sweepers"),
    ("batch", "batch"), ("n", "N"),
    ("seed_s", "seed s"), ("ready_s", "ready s"), ("prefect_ready_s", "prefect s"),
    ("first_s", "first s"), ("record_s", "record s"), ("notify_s", "notify s"),
    ("records_per_s", "breaches/s"), ("timers_per_s", "timers/s"),
    ("notifications", "notifications"), ("posts", "posts"), ("recipients", "recipients"),
    ("max_posts", "max posts/recip."), ("server_cores", "server cores"),
    ("other_cores", "other cores"),
]


def seed(db: Database, policies: Path, data_dir: Path, n: int, opened_at: datetime) -> float:
    """Open `n` complaints at `opened_at` through the command, with the server stopped."""
    from core import runtime as runtime_module
    from core.settings import Settings
    from engine.clock import FrozenClock

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


class CpuSplit:
    """Cores used from `start` to `stop` by each of `groups` (a name and a process group:
    the service, each extra sweeper) and by PostgreSQL's backends of the storm's store
    (those connected at either end, counted whole if they came meanwhile)."""

    def __init__(self, groups: dict[str, int], probe: StoreProbe) -> None:
        self.groups, self.probe = groups, probe
        self.wall = time.perf_counter()
        self.before = self._read()

    def _backends(self) -> set[int]:
        if self.probe.engine.dialect.name != "postgresql":
            return set()
        with self.probe.engine.connect() as conn:
            return set(conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalars())

    def _read(self) -> dict[int, tuple[str, float]]:
        names = {pgid: name for name, pgid in self.groups.items()}
        backends = self._backends()
        found: dict[int, tuple[str, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError):
                continue
            name = names.get(pgid) or ("postgres" if pid in backends else None)
            if name is not None:
                found[pid] = (name, process_cpu(pid))
        return found

    def stop(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self.wall, 1e-9)
        split: dict[str, float] = dict.fromkeys([*self.groups, "postgres"], 0.0)
        for pid, (name, cpu) in self._read().items():
            split[name] += (cpu - self.before.get(pid, (name, 0.0))[1]) / wall
        return {name: round(cores, 2) for name, cores in split.items()}


def _swept(sweepers: list[ServerProcess]) -> dict[str, dict[str, int]]:
    """What the extra sweepers did (their sweeps, timers and messages), from their logs."""
    total: dict[str, dict[str, int]] = {}
    for sweeper in sweepers:
        if not sweeper.alive():
            raise BenchError(f"{sweeper.name} died during the storm:\n{sweeper.log_tail()}")
        for line in sweeper.log_path.read_text(errors="replace").splitlines():
            if line.startswith("sweep: "):
                total.setdefault("sweeps", {"runs": 0})["runs"] += 1
                for kind, counts in json.loads(line.removeprefix("sweep: ")).items():
                    bucket = total.setdefault(kind, {})
                    for key, value in counts.items():
                        bucket[key] = bucket.get(key, 0) + value
    return total


def _arrived_keys(receiver: WebhookReceiver) -> set[str]:
    """The message keys the receiver got (the peers post one message per key)."""
    return set(receiver.keys())


def run(db_kind: str, *, quick: bool, postgres_url: str, n: int | None = None,
        runner: str = "prefect", mode: str = "restart", timeout: float | None = None,
        sweepers: int = 1, batch: int | None = None, log: Any = print) -> dict[str, Any]:
    """Seed the storm, start the server (and `sweepers - 1` sweeping processes beside it,
    bench/sweeper.py), and time recording and notification. `batch`: the timers and
    notifications each claims at a time (CASEFLOW_SWEEP_BATCH_SIZE; default the
    service's)."""
    if mode not in ("restart", "live"):
        raise ValueError(f"unknown storm mode {mode!r}")
    n = n or (QUICK_N if quick else FULL_N)
    timeout = timeout or (120.0 if quick else 900.0)
    name = (f"{db_kind}/{runner}/{mode}" + (f"/{sweepers} sweepers" if sweepers > 1 else "")
            + (f"/batch {batch}" if batch else ""))
    env = {"CASEFLOW_SURVEY_SECRET": SURVEY_SECRET}
    if batch:
        env["CASEFLOW_SWEEP_BATCH_SIZE"] = str(batch)
    with temp_dir("storm") as work, webhook_receiver() as receiver, \
            database(db_kind, work, postgres_url) as db:
        policies = write_policies(work / "policies", receiver=receiver)
        data_dir = work / "data"
        if mode == "restart":
            # Warning (75%) and breach (100%) both due; the next rung (150%) 10 min away.
            opened_at = datetime.now(UTC) - FIRST_RESPONSE - timedelta(seconds=5)
        else:
            opened_at = datetime.now(UTC)  # nothing due until the times are moved
        seed_s = seed(db, policies, data_dir, n, opened_at)
        log(f"  storm  {name}: seeded {n} complaints in {seed_s:.1f} s")
        probe = StoreProbe(db)
        try:
            with caseflow_server(data_dir=data_dir, db=db, policies=policies,
                                 flow_runner=runner, wait=False, env=env) as server, \
                    extra_sweepers(server, sweepers - 1, work, timeout) as extra:
                ready = None
                if mode == "restart":
                    origin = server.started_at
                else:
                    ready = server.wait_ready("/health", timeout)
                    origin = _set_the_storm(server, probe, n, opened_at,
                                            prefect=runner == "prefect" and not quick,
                                            timeout=timeout, log=log, name=name)
                row = _watch(server, probe, receiver, n, origin, mode, timeout, log, name,
                             extra, ready)
                if extra:
                    row["extra_sweeps"] = _swept(extra)
        finally:
            probe.close()
    return {"database": db_kind, "runner": runner, "mode": mode, "n": n, "seed_s": seed_s,
            "sweepers": sweepers, "batch": batch, **row}


@contextmanager
def extra_sweepers(server: ServerProcess, count: int, work: Path,
                   timeout: float) -> Iterator[list[ServerProcess]]:
    """`count` processes running the `sweep` flow every second on the server's store and
    its Prefect API, as workers would; stopped afterwards."""
    env = server.env
    api = f"http://127.0.0.1:{env['CASEFLOW_PREFECT_PORT']}/api"
    started = []
    try:
        for i in range(count):
            home = work / f"sweeper-{i}"
            home.mkdir()
            started.append(ServerProcess(
                f"sweeper {i}", [sys.executable, "-m", "bench.sweeper", "--api", api,
                                 "--seconds", str(timeout)],
                env | {"PREFECT_API_URL": api, "PREFECT_HOME": str(home)},
                0, home / "sweeper.log"))  # no port: it serves nothing
        yield started
    finally:
        for sweeper in started:
            sweeper.stop()


def _set_the_storm(server: ServerProcess, probe: StoreProbe, n: int, opened_at: datetime, *,
                   prefect: bool, timeout: float, log: Any, name: str) -> float:
    """Live: once the service (and, with `prefect`, its Prefect API) is ready, have the
    warnings fall due and go out, then the breaches fall due together; return when they
    do (`time.perf_counter`)."""
    started = time.perf_counter()
    if prefect:
        while server.seconds_until_logged("Prefect API ready") is None:
            if "Prefect API unavailable" in server.log_tail(100_000):
                raise BenchError(f"storm {name}: the service's Prefect API did not get ready:"
                                 f"\n{server.log_tail()}")
            if time.perf_counter() - started > PREFECT_READY_TIMEOUT or not server.alive():
                raise BenchError(f"storm {name}: no Prefect API after "
                                 f"{time.perf_counter() - started:.0f} s:\n{server.log_tail()}")
            time.sleep(POLL_SECONDS)
    moving = time.perf_counter()
    moved = opened_at + WARNING_AT - datetime.now(UTC)
    shift_times(probe.engine, moved)
    move_s = time.perf_counter() - moving
    log(f"  storm  {name}: warnings due (times moved back {moved.total_seconds():.0f} s "
        f"in {move_s:.1f} s)")
    deadline = time.perf_counter() + timeout
    while True:
        outbox = probe.outbox()
        if probe.escalations()[0] >= n and outbox.get("delivered", 0) == sum(outbox.values()):
            break
        if time.perf_counter() > deadline or not server.alive():
            raise BenchError(f"storm {name}: the warnings did not all go out: "
                             f"{dict(outbox)}\n{server.log_tail()}")
        time.sleep(POLL_SECONDS)
    due = datetime.now(UTC) + timedelta(seconds=max(BREACH_LEAD_SECONDS, 2 * move_s))
    shift_times(probe.engine, opened_at - moved + FIRST_RESPONSE - due)
    origin = time.perf_counter() + (due - datetime.now(UTC)).total_seconds()
    if origin <= time.perf_counter():
        raise BenchError(f"storm {name}: moving the breaches took past their deadline; "
                         f"raise BREACH_LEAD_SECONDS")
    log(f"  storm  {name}: warnings out; {n} breaches due at {due:%H:%M:%S}")
    return origin


def _watch(server: ServerProcess, probe: StoreProbe, receiver: WebhookReceiver, n: int,
           origin: float, mode: str, timeout: float, log: Any, name: str,
           extra: list[ServerProcess], ready: float | None = None) -> dict[str, Any]:
    """Poll until all N breaches are recorded and all their notifications have arrived
    (`ready`: when /health first answered, if known already)."""
    import httpx

    groups = {"service": server.proc.pid, **{s.name: s.proc.pid for s in extra}}
    meter: CpuMeter | None = CpuMeter(server.proc.pid) if mode == "restart" else None
    split: CpuSplit | None = CpuSplit(groups, probe) if mode == "restart" else None
    first = record = notify = None
    posts_before = outbox_before = 0
    any_step = breaches = 0
    outbox: Counter[str] = Counter()
    deadline = origin + timeout
    while True:
        if time.perf_counter() > deadline:
            raise BenchError(
                f"storm {name} not done after {timeout:.0f} s: {breaches}/{n} breaches, "
                f"outbox {dict(outbox)}, {len(receiver.all())} posts arrived\n"
                f"{server.log_tail()}")
        if not server.alive():
            raise BenchError(f"caseflow died during the storm:\n{server.log_tail()}")
        if ready is None:
            try:
                if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                    ready = time.perf_counter() - server.started_at
            except httpx.HTTPError:
                pass
        if meter is None and time.perf_counter() >= origin:
            # live: count from the due second on; the warnings went out before it
            meter = CpuMeter(server.proc.pid)
            split = CpuSplit(groups, probe)
            posts_before, outbox_before = len(receiver.all()), sum(probe.outbox().values())
        try:
            any_step, breaches = probe.escalations()
            outbox = probe.outbox()
        except Exception:  # the store may not be open yet during start-up; try again
            time.sleep(POLL_SECONDS)
            continue
        at = time.perf_counter() - origin
        if first is None and (breaches if mode == "live" else any_step) > 0:
            first = at
        if record is None and breaches >= n:
            record = at
            log(f"  storm  {name}: all {n} breaches recorded at {record:.1f} s")
        if record is not None:
            if outbox.get("dead"):
                raise BenchError(f"{outbox['dead']} notifications went dead:\n"
                                 f"{server.log_tail()}")
            total = sum(outbox.values())
            if outbox.get("delivered", 0) == total and ready:
                notify = time.perf_counter() - origin
                break
        time.sleep(POLL_SECONDS)
    cpu = meter.stop() if meter else {}
    cores = split.stop() if split else {}
    # Best effort, from the service log: when its Prefect API answered (batches before
    # that run inline), and how many flow runs failed over to inline.
    prefect_ready = server.seconds_until_logged("Prefect API ready")  # from server start
    flow_failures = server.log_tail(100_000).count("flow run for")
    posts = Counter(post.path.lstrip("/") for post in receiver.all()[posts_before:])
    notifications = sum(outbox.values()) - outbox_before
    log(f"  storm  {name}: all {notifications} notifications delivered at "
        f"{notify:.1f} s in {sum(posts.values())} posts")
    assert first is not None and record is not None
    counted = breaches if mode == "live" else any_step
    return {
        "ready_s": ready, "prefect_ready_s": prefect_ready, "flow_failures": flow_failures,
        "first_s": first, "record_s": record, "notify_s": notify,
        "records_per_s": n / record if record > 0 else None,
        "timers_per_s": counted / max(record - first, POLL_SECONDS),
        "escalation_entries": any_step, "notifications": notifications,
        "posts": sum(posts.values()), "recipients": len(posts),
        "max_posts": max(posts.values(), default=0),
        "posts_by_recipient": dict(sorted(posts.items())),
        **cpu,
        "cores_by_process": cores,
        "sweep_log": [line for line in server.log_tail(400).splitlines()
                      if "sweep:" in line],
    }
