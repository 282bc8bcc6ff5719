"""Several server processes on one data directory: who runs the scheduler, who follows a
policy reload, and whose turn it is to write the SQLite file."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import yaml
from sqlalchemy import create_engine

from core.workers import ReloadStamp, SchedulerLock, WorkerDuties
from engine.db import WriteBaton, make_engine
from tests.conftest import build_runtime
from tests.support import write_policies


class FakeScheduler:
    """Stands in for the sweep scheduler (APScheduler and Prefect): started, then stopped."""

    def __init__(self, started: list[FakeScheduler]) -> None:
        self.stopped = False
        started.append(self)

    def shutdown(self) -> None:
        self.stopped = True


def test_one_holder_of_the_scheduler_lock_per_data_directory(tmp_path):
    first, second = SchedulerLock(tmp_path), SchedulerLock(tmp_path)
    assert first.acquire() and first.acquire()  # holding it, asking again is fine
    assert not second.acquire()
    first.release()
    assert second.acquire() and second.held
    assert SchedulerLock(tmp_path / "elsewhere").acquire()
    second.release()


def test_the_scheduler_lock_goes_with_a_holder_that_is_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from core.workers import SchedulerLock; "
         f"assert SchedulerLock(Path({str(tmp_path)!r})).acquire(); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        lock = SchedulerLock(tmp_path)
        assert not lock.acquire()
        holder.kill()  # a crash: no clean-up runs in the holder
        holder.wait(timeout=10)
        assert lock.acquire()
        assert (tmp_path / "scheduler.lock").read_text().strip().isdigit()  # the holder's pid
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_reload_stamp_is_news_to_the_others_once_and_never_to_its_writer(tmp_path):
    writer, other = ReloadStamp(tmp_path), ReloadStamp(tmp_path)
    assert not writer.changed() and not other.changed()
    writer.write("v2")
    assert not writer.changed()
    assert other.changed() and not other.changed()
    late = ReloadStamp(tmp_path)  # a worker started after the reload loaded the new files
    assert not late.changed()
    writer.write("v2")  # the same version again is a reload all the same
    assert other.changed() and late.changed()


def test_the_write_baton_passes_between_writers_of_one_sqlite_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'caseflow.db'}")
    first, second = WriteBaton.for_engine(engine), WriteBaton.for_engine(engine)
    assert first.path == tmp_path / "caseflow.db.write-turn"
    order: list[str] = []
    second_waiting = threading.Event()

    def take_second() -> None:
        second_waiting.set()
        with second:
            order.append("second")

    with first:
        thread = threading.Thread(target=take_second)
        thread.start()
        second_waiting.wait(5)
        thread.join(0.2)  # it cannot get in while the first holds the turn
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]
    first.close()
    second.close()
    engine.dispose()


def test_no_baton_where_the_store_takes_turns_itself():
    for url in ("sqlite://", "postgresql+psycopg://caseflow@127.0.0.1:5432/test"):
        engine = create_engine(url)
        baton = WriteBaton.for_engine(engine)
        assert baton.path is None
        with baton:  # nothing to wait for
            pass
        engine.dispose()


def _two_workers(tmp_path: Path, clock, **settings: object):  # type: ignore[no-untyped-def]
    """Two runtimes as two workers of one service: one store, one data dir, one policies."""
    policies = write_policies(tmp_path / "policies")
    database = (f"sqlite:///{tmp_path / 'caseflow.db'}", {})
    values = {"data_dir": tmp_path / "data", "workers": 2, **settings}
    return policies, [build_runtime(database, policies, clock, **values) for _ in range(2)]


def test_one_worker_runs_the_scheduler_and_another_takes_over_when_it_stops(tmp_path, clock):
    _, (rt_a, rt_b) = _two_workers(tmp_path, clock, scheduler_enabled=True)
    started: list[FakeScheduler] = []
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler(started), poll_seconds=3600).start()
    b = WorkerDuties(rt_b, lambda rt: FakeScheduler(started), poll_seconds=3600).start()
    try:
        assert (a.scheduler is not None, b.scheduler is None, len(started)) == (True, True, 1)
        b.poll()
        assert b.scheduler is None
        a.stop()
        assert started[0].stopped
        b.poll()
        assert b.scheduler is started[1] and not started[1].stopped
    finally:
        a.stop()
        b.stop()
        for rt in (rt_a, rt_b):
            rt.engine.dispose()
    assert started[1].stopped


def test_a_policy_reload_in_one_worker_is_followed_by_the_other(tmp_path, clock):
    policies, (rt_a, rt_b) = _two_workers(tmp_path, clock)
    a = WorkerDuties(rt_a, lambda rt: FakeScheduler([]), poll_seconds=3600)
    b = WorkerDuties(rt_b, lambda rt: FakeScheduler([]), poll_seconds=3600)
    assert a.lock is None and b.lock is None  # scheduler_enabled=False: nothing to lock
    try:
        teams = yaml.safe_load((policies / "teams.yaml").read_text())
        teams["teams"]["billing"]["members"].append("he.ping")
        (policies / "teams.yaml").write_text(yaml.safe_dump(teams))
        previous, version = rt_a.reload_policies()
        assert previous != version and rt_b.policies.version == previous
        a.poll()  # its own reload is no news to it
        b.poll()
        assert rt_b.policies.version == version
        assert "he.ping" in rt_b.policies.teams["billing"].members

        (policies / "teams.yaml").write_text("teams: [not, a, mapping]\n")
        rt_a.reload_stamp.write("broken")  # type: ignore[union-attr] - as if a reload raced an edit
        b.poll()  # the files are bad now: the other keeps what it runs
        assert rt_b.policies.version == version
    finally:
        for rt in (rt_a, rt_b):
            rt.engine.dispose()


def test_a_single_worker_neither_stamps_nor_watches(tmp_path, clock):
    policies = write_policies(tmp_path / "policies")
    rt = build_runtime((f"sqlite:///{tmp_path / 'caseflow.db'}", {}), policies, clock,
                       data_dir=tmp_path / "data", scheduler_enabled=True)
    started: list[FakeScheduler] = []
    duties = WorkerDuties(rt, lambda rt: FakeScheduler(started)).start()
    try:
        assert rt.reload_stamp is None and duties._thread is None and len(started) == 1
        rt.reload_policies()
        assert not (tmp_path / "data" / "policies.reloaded").exists()
    finally:
        duties.stop()
        rt.engine.dispose()
