"""The intake writer: complaints written together in one commit, each answered alone."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import tempfile
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from api.app import create_app
from core.cases import CustomerInput, IdempotencyConflict, OpenCase, Opened
from core.keys import hash_key, read_key
from domain.access import ActorKind
from domain.policy import Tier
from engine.db import WriteBaton
from engine.models import (
    Case,
    CaseEvent,
    Customer,
    CustomerIdentity,
    SlaClock,
    TeamMember,
    Timer,
)
from processes.complaint import intake as intake_module
from processes.complaint.intake import Intake, IntakeResult, IntakeWriter
from tests.conftest import build_runtime
from tests.support import bearer, issue_key, write_policies


def _intake(rt: Any, n: int, *, key: str | None = None, ref: str | None = None,
            subject: str | None = None) -> Intake:
    request = OpenCase(subject=subject or f"parcel #{n} arrived broken", description="",
                       channel="phone", idempotency_key=key,
                       customer=CustomerInput(ref=ref or f"cust-{n}", name="Lin", tier=Tier.B,
                                              phone=None, email=None))
    return Intake(request, "agent:test", ActorKind.person, rt.clock.now())


def _write_together(rt: Any, intakes: list[Intake]) -> list[IntakeResult | BaseException]:
    """Open the intakes at once, as requests read in one turn of the event loop: the
    writer takes them as one batch (up to its `MAX_BATCH`)."""
    writer = IntakeWriter(rt)

    async def open_all() -> list[IntakeResult | BaseException]:
        return await asyncio.gather(*(writer.open(intake) for intake in intakes),
                                    return_exceptions=True)

    return asyncio.run(open_all())


def _written_on(writer: IntakeWriter, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Record each batch the writer writes in one transaction: its size, and whether it
    was written on the thread that called (the event loop's, when on it)."""
    batches: list[tuple[int, bool]] = []
    real = writer._write_batch
    loop_thread = threading.get_ident()

    def recorded(intakes: list[Intake], *args: Any, **kw: Any) -> Any:
        batches.append((len(intakes), threading.get_ident() == loop_thread))
        return real(intakes, *args, **kw)

    monkeypatch.setattr(writer, "_write_batch", recorded)
    return batches


def _count(rt: Any, table: Any) -> int:
    with Session(rt.engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_a_batch_opens_each_complaint_with_its_own_rows(make_runtime):
    rt = make_runtime()
    results = _write_together(rt, [_intake(rt, n) for n in range(20)])
    assert all(isinstance(r, tuple) and r[1] for r in results)
    opened = [r[0] for r in results if isinstance(r, tuple)]
    assert all(isinstance(o, Opened) for o in opened)
    ids = [o.opening.case.id for o in opened if isinstance(o, Opened)]
    assert len(set(ids)) == 20
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, SlaClock)) == (20, 20, 40)
    assert _count(rt, CaseEvent) == 60 and _count(rt, Timer) == 40
    first = opened[0]
    assert isinstance(first, Opened)
    assert first.opening.case.stage == "assigned" and first.opening.case.version == 2
    assert [e.type for e in first.opening.timeline] == ["opened", "classify", "assign"]
    assert first.customer.external_ref == "cust-0"


def test_a_batch_spreads_its_complaints_over_the_team_like_one_at_a_time(make_runtime):
    rt = make_runtime()
    _write_together(rt, [_intake(rt, n) for n in range(9)])
    with Session(rt.engine) as session:
        loads = session.exec(select(Case.assignee, func.count()).group_by(Case.assignee)).all()
    assert sorted(n for _, n in loads) == [3, 3, 3]


def test_a_key_used_twice_in_one_batch_opens_one_case(make_runtime):
    rt = make_runtime()
    first, again = _write_together(rt, [_intake(rt, 1, key="k-1"), _intake(rt, 1, key="k-1")])
    assert isinstance(first, tuple) and isinstance(again, tuple)
    assert first[1] is True and again[1] is False
    assert isinstance(first[0], Opened) and isinstance(again[0], Case)
    assert again[0].id == first[0].opening.case.id
    assert _count(rt, Case) == 1


def test_a_key_reused_with_another_body_fails_that_complaint_only(make_runtime):
    rt = make_runtime()
    results = _write_together(rt, [_intake(rt, 1, key="k-1"), _intake(rt, 2),
                                   _intake(rt, 3, key="k-1", subject="something else")])
    assert isinstance(results[2], IdempotencyConflict)
    assert all(isinstance(r, tuple) and r[1] for r in results[:2])
    assert _count(rt, Case) == 2


def test_a_failed_batch_is_written_again_one_by_one_each_once(make_runtime, monkeypatch):
    """A lost race (here: a unique key taken, once) rolls the batch back; nothing is lost
    and nothing is written twice."""
    rt = make_runtime()
    real = intake_module.write_complaint
    failed: list[str] = []

    def lose_a_race_once(session: Session, request: OpenCase, *args: Any, **kw: Any) -> Any:
        if request.subject == "poison" and not failed:
            failed.append(request.subject)
            real(session, request, *args, **kw)  # written, then the batch must undo it
            raise IntegrityError("INSERT", {}, Exception("unique key taken meanwhile"))
        return real(session, request, *args, **kw)

    monkeypatch.setattr(intake_module, "write_complaint", lose_a_race_once)
    results = _write_together(rt, [_intake(rt, 1), _intake(rt, 2, subject="poison"),
                                   _intake(rt, 3)])
    assert failed == ["poison"]
    assert all(isinstance(r, tuple) and r[1] for r in results)
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, CaseEvent)) == (3, 3, 9)


def test_an_error_fails_its_own_complaint_and_not_the_batch(make_runtime, monkeypatch):
    rt = make_runtime()
    real = intake_module.write_complaint

    def refuse_poison(session: Session, request: OpenCase, *args: Any, **kw: Any) -> Any:
        if request.subject == "poison":
            raise ValueError("cannot write this one")
        return real(session, request, *args, **kw)

    monkeypatch.setattr(intake_module, "write_complaint", refuse_poison)
    results = _write_together(rt, [_intake(rt, 1), _intake(rt, 2, subject="poison"),
                                   _intake(rt, 3)])
    assert isinstance(results[1], ValueError)
    assert isinstance(results[0], tuple) and isinstance(results[2], tuple)
    assert _count(rt, Case) == 2


def test_complaints_opened_from_many_tasks_are_all_answered(make_runtime):
    rt = make_runtime()
    results = _write_together(rt, [_intake(rt, n) for n in range(200)])
    ids = {r[0].opening.case.id for r in results if isinstance(r, tuple)
           and isinstance(r[0], Opened)}
    assert len(ids) == 200
    assert _count(rt, Case) == 200


def test_the_writer_serves_a_new_event_loop_once_the_last_one_closed(make_runtime):
    """Nothing of a closed loop stays behind (a test's client, a worker's restart)."""
    rt = make_runtime()
    writer = IntakeWriter(rt)
    first, _ = asyncio.run(writer.open(_intake(rt, 1)))
    second, created = asyncio.run(writer.open(_intake(rt, 2)))
    assert created and isinstance(first, Opened) and isinstance(second, Opened)
    assert _count(rt, Case) == 2


@pytest.mark.parametrize("customer", [
    {"ref": "cust-9", "name": "Lin", "tier": "VIP", "phone": "+86 138 0013 8000",
     "email": "Lin@Example.com", "birthday": "1990-05-01", "greetings_consent": True,
     "preferred_channel": "email"},
    {"name": "Wang", "phone": "13900139000"},
])
def test_the_answer_to_opening_is_what_reading_the_case_gives(make_runtime, customer):
    """The answer is built from the rows written, not read back: it must not differ."""
    rt = make_runtime()
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(rt, "supervisor"))) as client:
        body = {"subject": "Parcel arrived broken", "description": "The vase is in pieces.",
                "channel": "phone", "category": "delivery", "customer": customer}
        opened = client.post("/cases", json=body, headers={"Idempotency-Key": "k-9"})
        assert opened.status_code == 201
        read = client.get(opened.headers["Location"])
        replayed = client.post("/cases", json=body, headers={"Idempotency-Key": "k-9"})
    assert opened.json() == read.json()
    assert replayed.status_code == 200 and replayed.json() == read.json()


# On SQLite, `open` writes on the event loop's own thread; elsewhere on a pool thread.

@pytest.fixture
def sqlite_runtime(sqlite_database, clock, tmp_path):  # type: ignore[no-untyped-def]
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    yield rt
    rt.engine.dispose()


def test_complaints_opened_at_once_are_written_together(make_runtime, monkeypatch):
    rt = make_runtime()
    writer = IntakeWriter(rt)
    batches = _written_on(writer, monkeypatch)

    async def open_all() -> list[IntakeResult]:
        return await asyncio.gather(*(writer.open(_intake(rt, n)) for n in range(50)))

    results = asyncio.run(open_all())
    assert len({r[0].opening.case.id for r in results if isinstance(r[0], Opened)}) == 50
    assert _count(rt, Case) == 50
    # On SQLite on the event loop's own thread; on PostgreSQL on a pool thread.
    on_loop = writer.on_event_loop
    assert batches == [(intake_module.MAX_BATCH, on_loop),
                       (50 - intake_module.MAX_BATCH, on_loop)]


def test_on_the_event_loop_a_caller_gone_before_its_turn_is_not_written(sqlite_runtime):
    rt = sqlite_runtime
    writer = IntakeWriter(rt)

    async def one_gone() -> IntakeResult:
        gone = asyncio.ensure_future(writer.open(_intake(rt, 1)))
        kept = asyncio.ensure_future(writer.open(_intake(rt, 2)))
        await asyncio.sleep(0)  # both are waiting, the writing has not begun
        gone.cancel()
        return await kept

    result, created = asyncio.run(one_gone())
    assert created and isinstance(result, Opened)
    assert result.opening.case.subject == "parcel #2 arrived broken"
    assert _count(rt, Case) == 1


def test_while_another_process_writes_the_loop_goes_on_and_the_complaint_waits(
        sqlite_runtime):
    """The write turn held elsewhere (another worker) is waited for off the loop."""
    rt = sqlite_runtime
    writer = IntakeWriter(rt)
    other_process = WriteBaton.for_engine(rt.engine)  # its own open file: its own flock

    async def scenario() -> tuple[bool, int, IntakeResult]:
        other_process.acquire()
        opening = asyncio.ensure_future(writer.open(_intake(rt, 1)))
        ticks = 0
        for _ in range(20):  # the loop is free: other work runs meanwhile
            await asyncio.sleep(0.005)
            ticks += 1
        waited = not opening.done()
        other_process.release()
        return waited, ticks, await asyncio.wait_for(opening, 30)

    try:
        waited, ticks, (result, created) = asyncio.run(scenario())
    finally:
        other_process.close()
    assert waited and ticks == 20
    assert created and _count(rt, Case) == 1


def test_on_the_event_loop_a_failed_batch_goes_to_a_pool_thread(sqlite_runtime,
                                                                  monkeypatch):
    """A lost race rolls the loop's batch back; a pool thread writes each complaint once."""
    rt = sqlite_runtime
    writer = IntakeWriter(rt)
    batches = _written_on(writer, monkeypatch)
    real = intake_module.write_complaint
    failed: list[str] = []

    def lose_a_race_once(session: Session, request: OpenCase, *args: Any, **kw: Any) -> Any:
        if request.subject == "poison" and not failed:
            failed.append(request.subject)
            raise IntegrityError("INSERT", {}, Exception("unique key taken meanwhile"))
        return real(session, request, *args, **kw)

    monkeypatch.setattr(intake_module, "write_complaint", lose_a_race_once)

    async def open_three() -> list[IntakeResult]:
        return await asyncio.gather(*(writer.open(_intake(rt, n, subject=subject))
                                      for n, subject in enumerate(["a", "poison", "b"])))

    results = asyncio.run(open_three())
    assert failed == ["poison"] and batches == [(3, True), (3, False)]
    assert [r[0].opening.case.subject for r in results if isinstance(r[0], Opened)] == [
        "a", "poison", "b"]
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, CaseEvent)) == (3, 3, 9)


def test_the_loop_does_not_wait_for_sqlites_lock_held_by_another_writer(sqlite_runtime,
                                                                          monkeypatch):
    """A sweep writing a storm holds the file's lock: the complaint waits on a pool thread."""
    rt = sqlite_runtime
    writer = IntakeWriter(rt)
    batches = _written_on(writer, monkeypatch)
    other = sqlite3.connect(rt.engine.url.database, isolation_level=None)

    async def scenario() -> tuple[bool, float, IntakeResult]:
        other.execute("BEGIN IMMEDIATE")
        opening = asyncio.ensure_future(writer.open(_intake(rt, 1)))
        started = time.monotonic()
        for _ in range(20):  # 0.1 s of other work, were the loop free
            await asyncio.sleep(0.005)
        ticking = time.monotonic() - started
        waited = not opening.done()
        other.execute("COMMIT")
        return waited, ticking, await asyncio.wait_for(opening, 30)

    try:
        waited, ticking, (result, created) = asyncio.run(scenario())
    finally:
        other.close()
    # Blocked on the lock, the loop would have stood still for SQLite's busy timeout (30 s).
    assert waited and ticking < 5 and batches == [(1, True), (1, False)]
    assert created and isinstance(result, Opened) and _count(rt, Case) == 1


def test_a_batch_that_cannot_be_written_anywhere_fails_its_callers_and_not_the_next(
        make_runtime, monkeypatch):
    rt = make_runtime()
    writer = IntakeWriter(rt)
    monkeypatch.setattr(writer, "_write_batch", lambda *args, **kw: None)
    monkeypatch.setattr(writer, "_write_waiting_for_the_store", lambda *args: (
        _ for _ in ()).throw(RuntimeError("the store is gone")))
    with pytest.raises(RuntimeError, match="the store is gone"):
        asyncio.run(writer.open(_intake(rt, 1)))
    monkeypatch.undo()
    result, created = asyncio.run(writer.open(_intake(rt, 2)))
    assert created and _count(rt, Case) == 1


def test_a_connection_closed_between_batches_loses_no_complaint(pg_database, clock,
                                                                tmp_path):
    """The writer holds its connection between batches (PostgreSQL): one that the server
    closed meanwhile (a restart, an idle timeout) fails the next batch, whose complaints
    are written again alone, and the batch after it takes another connection."""
    rt = build_runtime(pg_database, write_policies(tmp_path / "policies"), clock)
    writer = IntakeWriter(rt)

    def open_all(intakes: list[Intake]) -> list[IntakeResult | BaseException]:
        async def gathered() -> list[IntakeResult | BaseException]:
            return await asyncio.gather(*(writer.open(intake) for intake in intakes),
                                        return_exceptions=True)
        return asyncio.run(gathered())

    assert all(isinstance(r, tuple) for r in open_all([_intake(rt, 1), _intake(rt, 2)]))
    held = writer._held
    assert held is not None
    backend = held.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    held.rollback()
    with rt.engine.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
    assert all(isinstance(r, tuple) for r in open_all([_intake(rt, 3), _intake(rt, 4)]))
    assert writer._held is None  # let go once it failed
    assert all(isinstance(r, tuple) for r in open_all([_intake(rt, 5)]))
    assert writer._held is not None and writer._held is not held
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, CaseEvent)) == (5, 5, 15)
    writer.let_go()
    rt.engine.dispose()


def _round_trips(held: Any, action: Any) -> int:
    """The round trips to PostgreSQL that `action` made on the writer's connection `held`:
    the answers that ended a pipeline or a statement (ReadyForQuery), in libpq's trace."""
    pgconn = held.connection.driver_connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            pgconn.untrace()
        trace.seek(0)
        return sum(1 for line in trace if "\tReadyForQuery" in line and line.startswith("B"))


def test_a_batch_on_postgresql_is_two_round_trips(pg_database, clock, tmp_path):
    """Its BEGIN goes with its reads (keys, ids, customers, idempotency keys, team loads),
    and its COMMIT with its rows: a round trip each, whatever the batch's size."""
    rt = build_runtime(pg_database, write_policies(tmp_path / "policies"), clock)
    writer = IntakeWriter(rt)
    record = read_key(rt.engine, hash_key(issue_key(rt, "agent")))
    assert record is not None
    key_id = record.id  # checked in the batch, as a cached key is

    def write(intakes: list[Intake]) -> None:
        outcomes = writer._write_waiting_for_the_store(intakes, rt.policies, rt.calendars)
        assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes

    def keyed(n: int, key: str | None = None) -> Intake:
        return dataclasses.replace(_intake(rt, n, key=key), unchecked_key=key_id)

    write([keyed(0)])  # the writer now holds its connection
    assert writer._held is not None
    for batch in ([keyed(1)], [keyed(n, key=f"k-{n}") for n in range(2, 18)]):
        assert _round_trips(writer._held, lambda batch=batch: write(batch)) == 2
    assert _count(rt, Case) == 18
    writer.let_go()
    rt.engine.dispose()


def test_a_batch_reads_its_teams_loads_unlocked_and_shifts_them(pg_database, clock,
                                                                tmp_path, monkeypatch):
    """Another transaction may change the loads while a batch decides (they are locked
    only as it commits): the counts stay exact, and a last assignment never moves back."""
    rt = build_runtime(pg_database, write_policies(tmp_path / "policies"), clock)
    writer = IntakeWriter(rt)
    real = intake_module.commit_with
    later = rt.clock.now() + timedelta(hours=1)

    def commit_after_a_rival(connection: Any, writes: Any) -> None:
        with rt.engine.connect() as rival:
            rival.exec_driver_sql("SET lock_timeout = '1s'")  # fails if the batch locked
            rival.execute(update(TeamMember).values(
                open_cases=TeamMember.open_cases + 1, last_assigned_at=later))
            rival.commit()
        real(connection, writes)

    monkeypatch.setattr(intake_module, "commit_with", commit_after_a_rival)
    outcomes = writer._write_waiting_for_the_store([_intake(rt, 1), _intake(rt, 2)],
                                                   rt.policies, rt.calendars)
    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    with Session(rt.engine) as session:
        members = session.exec(select(TeamMember).where(
            TeamMember.team == "complaints")).all()
    assert sum(m.open_cases for m in members) == len(members) + 2
    assert all(m.last_assigned_at == later for m in members)
    writer.let_go()
    rt.engine.dispose()


def _phoned(rt: Any, n: int, phone: str, ref: str | None = None) -> Intake:
    request = OpenCase(subject=f"parcel #{n} arrived broken", description="", channel="phone",
                       customer=CustomerInput(ref=ref, name="Lin", tier=Tier.B, phone=phone,
                                              email=None))
    return Intake(request, "agent:test", ActorKind.person, rt.clock.now())


def test_a_batch_recognises_a_customer_by_a_phone_given_earlier_in_it(make_runtime):
    """Customers without a ref are recognised by their phone, one given earlier in the same
    batch too (its identity not stored yet); a phone that another customer owns stays
    theirs; and the batch is written whole."""
    rt = make_runtime()
    writer = IntakeWriter(rt)
    batches = []
    real = writer._write_batch

    def recorded(intakes: list[Intake], *args: Any, **kw: Any) -> Any:
        outcomes = real(intakes, *args, **kw)
        batches.append(outcomes is not None)
        return outcomes

    writer._write_batch = recorded  # type: ignore[method-assign]

    async def open_all(intakes: list[Intake]) -> list[Any]:
        return await asyncio.gather(*(writer.open(intake) for intake in intakes))

    results = asyncio.run(open_all([
        _intake(rt, 0), _phoned(rt, 1, "138 0013 8001", ref="c-a"),
        _phoned(rt, 2, "+86 13800138001"), _phoned(rt, 3, "13900139001"),
        _phoned(rt, 4, "13900139001"), _phoned(rt, 5, "13800138001", ref="c-b")]))
    customers = [opened.customer.id for opened, _ in results]  # type: ignore[union-attr]
    assert batches == [True]  # one transaction, nothing written again alone
    assert customers[2] == customers[1] and customers[4] == customers[3]
    assert len({customers[0], customers[1], customers[3], customers[5]}) == 4
    later = asyncio.run(open_all([_phoned(rt, 6, "13800138001"),
                                  _phoned(rt, 7, "13900139001")]))
    assert [opened.customer.id for opened, _ in later] == [  # type: ignore[union-attr]
        customers[1], customers[3]]
    with Session(rt.engine) as session:
        owners = session.exec(select(CustomerIdentity.value, CustomerIdentity.customer_id)
                              .order_by(CustomerIdentity.value)).all()
    assert owners == [("13800138001", customers[1]), ("13900139001", customers[3])]
