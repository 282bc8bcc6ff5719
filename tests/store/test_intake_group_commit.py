"""Group commit of complaints, on SQLite and PostgreSQL: what a batch reads together (its
customers, its case ids) and sends together (its appended rows, in one pipeline on
PostgreSQL) changes no row, fails no other complaint, and loses nothing answered."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, func, select

from core.cases import CustomerInput, OpenCase, Opened, open_case
from domain.access import ActorKind
from domain.policy import Tier
from engine.models import Case, CaseEvent, Customer, OutboxMessage, SlaClock, Timer
from engine.store import TIMERS, Appends, NewTimer
from processes.complaint import intake as intake_module
from processes.complaint.intake import Intake, IntakeResult, IntakeWriter


def _request(n: int, *, ref: str | None = None, subject: str | None = None) -> OpenCase:
    return OpenCase(subject=subject or f"parcel #{n} arrived broken", description="",
                    channel="phone",
                    customer=CustomerInput(ref=ref or f"cust-{n}", name="Lin", tier=Tier.B,
                                           phone=None, email=None))


def _together(rt: Any, requests: list[OpenCase]) -> list[IntakeResult | BaseException]:
    """Open the complaints at once: the writer takes them as one batch."""
    writer = IntakeWriter(rt)
    intakes = [Intake(r, "agent:test", ActorKind.person, rt.clock.now()) for r in requests]

    async def open_all() -> list[IntakeResult | BaseException]:
        return await asyncio.gather(*(writer.open(i) for i in intakes),
                                    return_exceptions=True)

    return asyncio.run(open_all())


def _count(rt: Any, table: Any) -> int:
    with Session(rt.engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def _rows_of(rt: Any, case_id: int) -> dict[str, Any]:
    """What one complaint wrote, without its ids, refs and subjects: its shape."""
    with Session(rt.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        customer = session.get(Customer, case.customer_id)
        assert customer is not None
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)
                              .order_by(col(CaseEvent.id))).all()
        clocks = session.exec(select(SlaClock).where(SlaClock.case_id == case_id)
                              .order_by(col(SlaClock.name))).all()
        timers = session.exec(select(Timer).where(Timer.case_id == case_id)
                              .order_by(col(Timer.key))).all()
        notices = session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                               .order_by(col(OutboxMessage.key))).all()
        return {
            "case": (case.stage, case.priority, case.tier, case.team, case.version,
                     case.escalation_level, case.opened_at, case.data),
            "customer": (customer.tier, customer.name),
            "events": [(e.type, e.actor, e.actor_kind, e.at,
                        {k: v for k, v in e.details.items() if k != "subject"})
                       for e in events],
            "clocks": [(c.name, c.calendar, c.target_seconds, c.state, c.due_at, c.warn_at)
                       for c in clocks],
            "timers": [(t.key.removeprefix(f"{case_id}:"), t.kind, t.name, t.step,
                        t.status, t.fire_at) for t in timers],
            "notices": [(m.recipient, m.role, m.status) for m in notices],
        }


def test_a_batch_writes_the_rows_and_ids_that_one_at_a_time_writes(make_runtime):
    """The same complaints, in one batch and then each in its own transaction (the
    command every other path uses): consecutive ids in the order asked, and the same
    rows for each."""
    rt = make_runtime()
    batch = _together(rt, [_request(n) for n in range(6)])
    batch_ids = [r[0].opening.case.id for r in batch
                 if isinstance(r, tuple) and isinstance(r[0], Opened)]
    alone_ids = []
    for n in range(6, 12):
        with Session(rt.engine, expire_on_commit=False) as session:
            case, created = open_case(session, request=_request(n), actor="agent:test",
                                      policies=rt.policies, calendars=rt.calendars,
                                      now=rt.clock.now())
            assert created
            alone_ids.append(case.id)
    assert batch_ids == list(range(batch_ids[0], batch_ids[0] + 6))
    assert alone_ids == list(range(batch_ids[-1] + 1, batch_ids[-1] + 7))
    # Assignment goes round the team, so complaint n of each set meets the same member.
    for in_batch, alone in zip(batch_ids, alone_ids, strict=True):
        assert _rows_of(rt, in_batch) == _rows_of(rt, alone)
    # And each answer is what was stored: its timeline with the ids the store gave.
    for result in batch:
        assert isinstance(result, tuple) and isinstance(result[0], Opened)
        opening = result[0].opening
        with Session(rt.engine) as session:
            stored = session.exec(select(CaseEvent.id).where(
                CaseEvent.case_id == opening.case.id).order_by(col(CaseEvent.id))).all()
        assert [e.id for e in opening.timeline] == list(stored)


def test_a_known_customer_in_a_batch_is_found_and_a_repeated_new_one_made_once(
        make_runtime):
    rt = make_runtime()
    _together(rt, [_request(0, ref="known")])
    results = _together(rt, [_request(1, ref="known"), _request(2, ref="new"),
                             _request(3, ref="new")])
    customers = [r[0].customer for r in results
                 if isinstance(r, tuple) and isinstance(r[0], Opened)]
    assert len(customers) == 3
    assert customers[1].id == customers[2].id
    assert _count(rt, Customer) == 2 and _count(rt, Case) == 4


def test_a_batchs_new_customers_are_answered_as_stored_and_inserted_together(
        make_runtime, caplog):
    """New customers wait to be inserted with one statement (on PostgreSQL, with ids
    taken beforehand), and the phones they are recognised by with them; one the batch
    changes again is inserted first. Each answer is its customer's row as stored, and
    no complaint had to be written again alone."""
    rt = make_runtime()
    inserts: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "INSERT INTO customers " in statement:  # on PostgreSQL, at the end, in a CTE
            inserts.append(statement)

    phoned = replace(_request(3, ref="phoned"), customer=CustomerInput(
        ref="phoned", name="Zhao", tier=Tier.A, phone="13800138000", email=None))
    renamed = replace(_request(2, ref="new"), customer=CustomerInput(
        ref="new", name="Wang", tier=None, phone=None, email=None))
    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        with caplog.at_level(logging.INFO, logger="caseflow.intake"):
            results = _together(rt, [_request(0, ref="a"), _request(1, ref="new"), renamed,
                                     phoned, _request(4, ref="b")])
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    assert "failed" not in caplog.text
    answered = [r[0].customer for r in results
                if isinstance(r, tuple) and isinstance(r[0], Opened)]
    assert len(answered) == 5
    latest = {customer.id: customer for customer in answered}  # "new" as renamed
    with Session(rt.engine) as session:
        for customer in latest.values():
            stored = session.get(Customer, customer.id)
            assert stored is not None
            assert tuple(customer) == tuple(getattr(stored, c) for c in customer._fields)
    assert answered[1].id == answered[2].id and answered[2].name == "Wang"
    assert len(latest) == 4 and answered[3].phone == "13800138000"
    assert _count(rt, Customer) == 4
    # On PostgreSQL: a and the first "new" before the rename, "phoned" (with its phone)
    # and b at the end; on SQLite each at once.
    assert len(inserts) == (2 if rt.engine.dialect.name == "postgresql" else 4)


def _poisoned(monkeypatch: Any) -> list[str]:
    """Make the complaint with subject "poison" write a timer key twice: the database
    refuses it at the batch's appended rows (in its pipeline, on PostgreSQL), and again
    when it is written alone."""
    real = intake_module.write_complaint
    tried: list[str] = []

    def poison(session: Session, request: OpenCase, *args: Any, **kw: Any) -> Any:
        opened = real(session, request, *args, **kw)
        if request.subject == "poison":
            tried.append("batch" if kw.get("appends") is not None else "alone")
            twice = NewTimer(key="poison-twice", case_id=opened.opening.case.id,
                             process="complaint", kind="escalation", name="x", step=None)
            appends: Appends | None = kw.get("appends")
            if appends is not None:
                appends.timers += [twice, replace(twice)]
            else:
                session.connection().execute(insert(TIMERS),
                                             [twice.columns(), twice.columns()])
        return opened

    monkeypatch.setattr(intake_module, "write_complaint", poison)
    return tried


def test_a_complaint_the_database_refuses_fails_alone_and_the_others_are_written(
        make_runtime, monkeypatch):
    rt = make_runtime()
    tried = _poisoned(monkeypatch)
    results = _together(rt, [_request(1), _request(2, subject="poison"), _request(3)])
    assert isinstance(results[1], IntegrityError)
    assert all(isinstance(r, tuple) and r[1] for r in (results[0], results[2]))
    # Refused in the batch, then alone (with the retries a lost race gets), never again
    # in a batch.
    assert tried[0] == "batch" and tried[-1] == "alone"
    assert tried.index("alone") == len(tried) - tried.count("alone")
    # Nothing of the refused one, everything of the others, each once.
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, CaseEvent)) == (2, 2, 6)
    assert _count(rt, Timer) == 4 and _count(rt, SlaClock) == 4


def test_a_crash_between_a_batchs_statements_loses_nothing_answered(make_runtime,
                                                                     monkeypatch):
    """The connection breaks after the batch's timeline went in and before the rest:
    nothing was answered, the transaction is gone, and every complaint is then written
    alone, all its rows once."""
    rt = make_runtime()
    real = Appends.insert
    crashed: list[int] = []

    def crash_once(self: Appends, db: Any) -> None:
        if not crashed and len(self.events) > 3:
            crashed.append(len(self.events))
            self.timers = []  # the timeline's insert runs, then the rest never does
            real(self, db)
            raise OperationalError("INSERT INTO timers", {}, Exception("server closed"))
        real(self, db)

    monkeypatch.setattr(Appends, "insert", crash_once)
    results = _together(rt, [_request(n) for n in range(5)])
    assert crashed == [15]
    answered = [r[0].opening.case.id for r in results
                if isinstance(r, tuple) and isinstance(r[0], Opened) and r[1]]
    assert len(answered) == 5
    assert (_count(rt, Case), _count(rt, Customer), _count(rt, CaseEvent)) == (5, 5, 15)
    assert _count(rt, Timer) == 10 and _count(rt, SlaClock) == 10
    for case_id in answered:
        assert len(_rows_of(rt, case_id)["timers"]) == 2
