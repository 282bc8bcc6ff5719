"""Instances of one service on several hosts: two runtimes on one PostgreSQL schema, each
with its own data directory, coordinate through PostgreSQL (leadership, policy reloads,
key revocations); and the claims of an instance that stops renewing them are taken over."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from core.cases import CustomerInput, OpenCase
from core.keys import Unauthenticated, check_key, hash_key, revoke_key
from core.runtime import Runtime
from core.workers import WorkerDuties
from domain.policy import Tier
from engine.claims import Leases, claim_due
from engine.coordination import LEADER_LOCK, dead_instances, hold, instance_lock, lock_key
from engine.db import make_engine
from engine.flow_runs import dead_owners
from engine.models import Customer, Timer
from engine.sweeper import InlineRunner, Sweeper
from processes.complaint.intake import Intake
from tests.conftest import build_runtime
from tests.store.helpers import escalations, open_complaint
from tests.store.test_workers import FakeScheduler
from tests.support import POSTGRES_URL, REPO, issue_key, write_policies

FOLLOW_WITHIN = 2.0  # seconds: leadership taken over, a reload followed


@pytest.fixture
def two_hosts(pg_database, clock, tmp_path) -> Iterator[tuple[Path, list[Runtime]]]:  # type: ignore[no-untyped-def]
    """Two instances as on two hosts: one store, a data directory each, one worker each."""
    policies = write_policies(tmp_path / "policies")
    runtimes = [build_runtime(pg_database, policies, clock, data_dir=tmp_path / f"host{n}",
                              scheduler_enabled=True, instance_id=f"host{n}")
                for n in range(2)]
    yield policies, runtimes
    for rt in runtimes:
        rt.engine.dispose()


def _within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long `condition` took to hold, checked every 50 ms; fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _kill_the_leaders_connection(rt: Runtime) -> None:
    """What the server sees when the leader's process or host dies: its session ends."""
    with rt.engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    key = lock_key(LEADER_LOCK, schema) & 0xFFFF_FFFF_FFFF_FFFF
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        killed = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND classid = :high AND objid = :low"),
            {"high": key >> 32, "low": key & 0xFFFF_FFFF}).scalars().all()
    admin.dispose()
    assert killed == [True]


def test_one_instance_leads_and_another_takes_over_when_its_connection_dies(two_hosts):
    _, (rt_a, rt_b) = two_hosts
    started: list[FakeScheduler] = []
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler(started)).start()
    b = WorkerDuties(rt_b, lambda rt: FakeScheduler(started)).start()
    try:
        assert (a.scheduler is not None, b.scheduler is None, len(started)) == (True, True, 1)
        b.poll()
        assert b.scheduler is None  # separate data directories, yet one leader

        _kill_the_leaders_connection(rt_a)
        _within(FOLLOW_WITHIN, lambda: b.scheduler is not None)
        # The old leader finds its lock gone with its connection, and stops its scheduler.
        _within(FOLLOW_WITHIN, lambda: a.scheduler is None)
        assert started[0].stopped and not started[1].stopped
        a.poll()
        assert a.scheduler is None  # it waits its turn again
    finally:
        a.stop()
        b.stop()
    assert started[1].stopped


def test_a_leader_that_stops_hands_over(two_hosts):
    _, (rt_a, rt_b) = two_hosts
    started: list[FakeScheduler] = []
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler(started), poll_seconds=3600).start()
    b = WorkerDuties(rt_b, lambda rt: FakeScheduler(started), poll_seconds=3600).start()
    try:
        assert b.scheduler is None
        a.stop()
        b.poll()
        assert b.scheduler is started[1]
    finally:
        b.stop()


def test_a_policy_reload_on_one_host_reaches_the_other_within_two_seconds(two_hosts):
    policies, (rt_a, rt_b) = two_hosts
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler([])).start()
    b = WorkerDuties(rt_b, lambda rt: FakeScheduler([])).start()
    try:
        teams = yaml.safe_load((policies / "teams.yaml").read_text())
        teams["teams"]["billing"]["members"].append("he.ping")
        (policies / "teams.yaml").write_text(yaml.safe_dump(teams))
        previous, version = rt_a.reload_policies()
        assert previous != version
        _within(FOLLOW_WITHIN, lambda: rt_b.policies.version == version)
        assert "he.ping" in rt_b.policies.teams["billing"].members
        assert rt_a.reload_stamp is not None and not rt_a.reload_stamp.changed()  # its own
    finally:
        a.stop()
        b.stop()


def test_a_key_revoked_on_one_host_is_refused_at_once_on_the_other(two_hosts, clock):
    _, (rt_a, rt_b) = two_hosts
    secret = issue_key(rt_a, "agent", name="desk")
    identity, _ = check_key(rt_b.engine, secret, clock.now(), rt_b.keys)
    with Session(rt_a.engine) as session:
        revoke_key(session, identity.key_id or 0, by="admin", now=clock.now())
    with pytest.raises(Unauthenticated, match="revoked"):
        check_key(rt_b.engine, secret, clock.now(), rt_b.keys)


def test_a_key_revoked_on_one_host_is_refused_at_once_by_the_others_intake(two_hosts, clock):
    """The intake takes its caller's key from the cache, which no revocation elsewhere
    empties on PostgreSQL: its batch checks the key before it writes."""
    _, (rt_a, rt_b) = two_hosts
    secret = issue_key(rt_a, "agent", name="desk")
    identity, _ = check_key(rt_b.engine, secret, clock.now(), rt_b.keys)
    with Session(rt_a.engine) as session:
        revoke_key(session, identity.key_id or 0, by="admin", now=clock.now())
    # B's cache still holds the key for a caller that checks its revocation itself.
    assert rt_b.keys.get(hash_key(secret), clock.now(), revocation_checked_later=True)
    request = OpenCase(subject="parcel arrived broken", description="", channel="phone",
                       customer=CustomerInput(ref="c-revoked", name="Lin", tier=Tier.B,
                                              phone=None, email=None))

    async def open_both() -> list[object]:
        return await asyncio.gather(*(rt_b.intake.open(Intake(
            request if key is not None else replace(request, customer=replace(
                request.customer, ref="c-kept")),
            identity.name, identity.kind, clock.now(), unchecked_key=key))
            for key in (identity.key_id, None)), return_exceptions=True)

    refused, kept = asyncio.run(open_both())
    assert isinstance(refused, Unauthenticated) and "revoked" in str(refused)
    assert not isinstance(kept, BaseException)  # the batch's other complaint is written
    with Session(rt_b.engine) as session:
        refs = session.exec(select(Customer.external_ref)).all()
    assert refs == ["c-kept"]


# Liveness: an instance is alive while some process holds its lock, on any host.

def test_an_instance_is_alive_while_its_lock_is_held_and_dead_once_its_holder_is_gone(
        two_hosts):
    _, (rt_a, rt_b) = two_hosts
    held = instance_lock(rt_a.engine, "api-a")
    assert hold(held) and held.held
    # Asked from another connection (another host): alive; an id nobody holds, dead.
    assert dead_instances(rt_b.engine, ["api-a", "api-gone"]) == {"api-gone"}
    assert dead_instances(rt_b.engine, ["api-a"]) == set()  # asking took nothing
    assert held.acquire()  # and left the holder holding
    held.release()  # its connection closes, as when its process dies
    assert dead_instances(rt_b.engine, ["api-a"]) == {"api-a"}
    assert dead_instances(rt_b.engine, []) == set()


def test_the_processes_of_one_instance_id_hold_its_lock_together(two_hosts):
    _, (rt_a, rt_b) = two_hosts
    first, second = instance_lock(rt_a.engine, "api-x"), instance_lock(rt_b.engine, "api-x")
    assert hold(first) and hold(second)  # shared: two workers of one instance id
    first.release()
    assert dead_instances(rt_a.engine, ["api-x"]) == set()  # the other still lives
    second.release()
    assert dead_instances(rt_a.engine, ["api-x"]) == {"api-x"}


def test_an_instance_killed_is_dead_at_once_and_a_default_id_of_this_host_needs_its_pid_gone(
        pg_database):
    url, options = pg_database
    engine = make_engine(url, **options)
    schema_option = options["connect_args"]["options"]
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from engine.db import make_engine; "
         "from engine.coordination import hold, instance_lock; "
         f"e = make_engine({url!r}, connect_args={{'options': {schema_option!r}}}); "
         "assert hold(instance_lock(e, 'host7-api')); print('held', flush=True); "
         "time.sleep(60)"], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        mine = f"{socket.gethostname()}-{os.getpid()}"  # a live pid of this host, no lock
        assert dead_owners({"host7-api", mine, "me"}, "me", engine) == set()
        holder.kill()  # no clean-up runs in the holder: its connection drops with it
        holder.wait(timeout=10)
        assert _within(FOLLOW_WITHIN, lambda: dead_instances(engine, ["host7-api"]) != set())
        # A process of this host that holds no lock (an older Caseflow) is alive while its
        # pid is; a gone pid of this host with no lock is dead.
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dead = dead_owners({"host7-api", mine, f"{socket.gethostname()}-{gone}"}, "me", engine)
        assert dead == {"host7-api", f"{socket.gethostname()}-{gone}"}
    finally:
        holder.kill()
        holder.wait(timeout=10)
        engine.dispose()


def test_a_worker_holds_its_liveness_lock_from_its_start_to_its_stop(two_hosts):
    _, (rt_a, rt_b) = two_hosts
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler([])).start()
    try:
        assert dead_instances(rt_b.engine, ["host0", "host1"]) == {"host1"}
    finally:
        a.stop()
    assert dead_instances(rt_b.engine, ["host0"]) == {"host0"}


# Claims: on both stores.

def _claim(rt: Runtime, instance: str) -> list[int]:
    return [row[0] for row in claim_due(rt.engine, Timer, due_column="fire_at",
                                        now=rt.clock.now(), limit=100, instance=instance,
                                        lease=rt.lease)]


def test_a_claim_renewed_is_kept_and_one_no_longer_renewed_is_taken_over(make_runtime, clock):
    rt = make_runtime()
    assert rt.lease == timedelta(seconds=10)  # the default: claims return within 15 s
    open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    leases = Leases(rt.engine, "a", clock)
    leases.begin()
    claimed = _claim(rt, "a")
    assert len(claimed) == 1
    for _ in range(3):  # 24 s of work, renewed every 8 s
        clock.advance(timedelta(seconds=8))
        assert leases.renew() == 1
        assert _claim(rt, "b") == []
    leases.end()  # "a" stops renewing: its work failed, or it died
    assert leases.renew() == 0
    clock.advance(timedelta(seconds=9))
    assert _claim(rt, "b") == []
    clock.advance(timedelta(seconds=2))
    assert _claim(rt, "b") == claimed


def test_claims_left_by_failed_work_are_not_kept_by_other_work_begun_after_them(
        make_runtime, clock):
    rt = make_runtime()
    open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    leases = Leases(rt.engine, "a", clock)
    firing = leases.begin()
    claimed = _claim(rt, "a")
    clock.advance(timedelta(seconds=1))
    delivery = leases.begin()  # the scheduler's delivery, beside the firing
    leases.end(firing)  # it failed, leaving its claim
    clock.advance(timedelta(seconds=3))
    assert leases.renew() == 0  # the delivery goes on, but began after that claim
    clock.advance(timedelta(seconds=5))
    assert _claim(rt, "b") == []
    clock.advance(timedelta(seconds=2))
    assert _claim(rt, "b") == claimed
    leases.end(delivery)


def test_a_sweepers_claims_are_renewed_while_its_batch_runs(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    sweeper = Sweeper(rt, InlineRunner(rt))
    taken_over: list[list[int]] = []

    class SlowRunner(InlineRunner):
        def process_timers(self, process, timer_ids, case_ids,  # type: ignore[no-untyped-def]
                           rungs=None):
            for _ in range(2):  # a batch that outlasts the lease, renewed meanwhile
                clock.advance(rt.lease * 0.6)
                sweeper.leases.renew()
                taken_over.append(_claim(rt, "other"))
            return super().process_timers(process, timer_ids, case_ids, rungs)

    sweeper.runner = SlowRunner(rt)
    report = sweeper.tick()
    assert taken_over == [[], []] and report.timers == {"fired": 1}
    assert escalations(rt, case_id) == [("first_response", "warning")]
