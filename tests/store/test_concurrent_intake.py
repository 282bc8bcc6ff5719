"""Concurrent requests: the same new customer, the same Idempotency-Key."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from core import cases as cases_module
from domain.process import IllegalTransition
from engine.models import Case, Customer
from tests.store.helpers import open_complaint, send, timeline


def test_a_new_customer_complaining_twice_at_once_is_one_customer(make_runtime):
    rt = make_runtime()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: open_complaint(rt, ref="new-customer",
                                                     subject=f"complaint {n}"), range(16)))
    assert len(set(ids)) == 16
    with Session(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Customer)).one() == 1


def test_the_same_idempotency_key_at_once_opens_one_case(make_runtime):
    rt = make_runtime()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: open_complaint(rt, ref="c1", key="retry-1"),
                            range(16)))
    assert len(set(ids)) == 1
    with Session(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 1


def test_many_concurrent_intakes_all_succeed_and_spread_over_the_team(make_runtime):
    rt = make_runtime()
    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(lambda n: open_complaint(rt, ref=f"c{n}"), range(120)))
    assert len(set(ids)) == 120
    with Session(rt.engine) as session:
        loads = session.exec(select(Case.assignee, func.count()).group_by(Case.assignee)).all()
    assert sorted(n for _, n in loads) == [40, 40, 40]  # least-loaded keeps them level


def test_an_event_that_loses_a_race_is_decided_again_and_recorded_once(make_runtime,
                                                                        monkeypatch):
    """A deadlock or a unique key taken meanwhile rolls the event back; it is tried again."""
    rt = make_runtime()
    case_id = open_complaint(rt)
    real = cases_module.persist_decision
    lost: list[int] = []

    def lose_once(session: Session, *args: Any, **kw: Any) -> None:
        real(session, *args, **kw)
        if not lost:
            lost.append(1)
            raise IntegrityError("UPDATE", {}, Exception("lost a race"))

    monkeypatch.setattr(cases_module, "persist_decision", lose_once)
    assert send(rt, case_id, "acknowledge").stage == "in_progress"
    assert lost == [1]
    assert [e.type for e in timeline(rt, case_id)].count("acknowledge") == 1


def test_two_events_on_one_case_at_once_are_decided_one_after_the_other(make_runtime,
                                                                         monkeypatch):
    """The second event is decided on the case as the first left it, not as both read it
    (SQLite: the write lock is taken before the case is read; PostgreSQL: FOR UPDATE)."""
    rt = make_runtime()
    case_id = open_complaint(rt)
    real = cases_module.persist_decision
    both_read = threading.Barrier(2)

    def after_reading(*args: Any, **kw: Any) -> None:
        # Both events would now be decided on the stage they both read; the wait breaks
        # when the other cannot read yet, as it should not.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=1)
        real(*args, **kw)

    monkeypatch.setattr(cases_module, "persist_decision", after_reading)

    def acknowledge(_: int) -> str:
        try:
            return send(rt, case_id, "acknowledge").stage
        except IllegalTransition:
            return "refused"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(acknowledge, range(2)))
    assert outcomes == ["in_progress", "refused"]
    assert [e.type for e in timeline(rt, case_id)].count("acknowledge") == 1
