"""The intake's statements are plain SQLAlchemy Core, run in the caller's transaction: seen
by SQLAlchemy's events and its echo like any other, and answered from the rows written
as they are stored. (The intake writer's batch reads on PostgreSQL are sent by psycopg
itself, in one pipeline with the BEGIN: `engine.pg_pipeline`.)"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlmodel import Session

from api.app import create_app
from core.cases import CustomerInput, OpenCase, write_complaint
from core.customers import CustomerClaim, recognise_row
from domain.access import ActorKind
from domain.policy import Tier
from engine.db import BUSY_TIMEOUT_SECONDS, begin_writing, make_engine
from engine.models import Customer
from engine.store import CASES, CLOCKS, EVENTS, MEMBERS, TIMERS, Appends
from tests.support import bearer, issue_key

OPENED_AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
NEW_CASE = {"process": "complaint", "stage": "new", "priority": "P2", "tier": "B",
            "channel": "phone", "subject": "parcel arrived broken", "team": "complaints",
            "policy_version": "v1", "opened_at": OPENED_AT, "stage_entered_at": OPENED_AT,
            "updated_at": OPENED_AT, "data": {"tags": ["fragile"], "n": 1}}
BODY = {"subject": "Parcel arrived broken", "description": "The vase is in pieces.",
        "channel": "phone", "customer": {"ref": "c-1", "name": "Lin", "tier": "B",
                                         "phone": "13800138000"}}


def _request(ref: str = "c-1") -> OpenCase:
    return OpenCase(subject="Parcel arrived broken", description="", channel="phone",
                    customer=CustomerInput(ref=ref, name="Lin", tier=Tier.B,
                                           phone="13800138000", email=None))


def _write(rt: Any, session: Session, ref: str = "c-1", appends: Appends | None = None
           ) -> Any:
    return write_complaint(session, _request(ref), None, ("agent:lin", ActorKind.person),
                           rt.policies, rt.calendars, rt.clock.now(), appends=appends)


def test_sqlalchemys_events_see_every_statement_of_a_complaints_intake(make_runtime):
    rt = make_runtime()
    key = issue_key(rt, "supervisor")
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        with TestClient(create_app(manage_runtime=False), headers=bearer(key)) as client:
            assert client.post("/cases", json=BODY).status_code == 201
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    for table in ("customers", "customer_identities", "cases", "sla_clocks", "case_events",
                  "timers"):
        # On PostgreSQL the batch's rows go in with one statement, an insert a CTE.
        assert any(f"INSERT INTO {table} " in s for s in seen), (table, seen)
    assert any("UPDATE team_members " in s for s in seen)
    assert any(s.startswith("SELECT") and "FROM api_keys" in s for s in seen)  # the key
    if rt.engine.dialect.name == "sqlite":  # the write lock, taken first
        assert "BEGIN IMMEDIATE" in seen


def test_sqlalchemys_echo_logs_them(make_runtime, caplog):
    rt = make_runtime()
    rt.engine.echo = True
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), \
                Session(rt.engine) as session:
            _write(rt, session)
            session.commit()
    finally:
        rt.engine.echo = False
    assert "INSERT INTO cases " in caplog.text and "INSERT INTO case_events " in caplog.text


def test_an_openings_answer_is_its_rows_as_stored(make_runtime):
    rt = make_runtime()
    with Session(rt.engine) as session:
        opening = _write(rt, session).opening
        session.commit()
        case = session.execute(select(CASES).where(CASES.c.id == opening.case.id)).one()
        clocks = session.execute(select(CLOCKS).order_by(CLOCKS.c.id)).all()
        timeline = session.execute(select(EVENTS).order_by(EVENTS.c.id)).all()
    assert tuple(opening.case) == tuple(case)
    # A clock's id is in no answer: it is not read back.
    assert [tuple(row) for row in opening.clocks] == [(None, *tuple(row)[1:]) for row in clocks]
    assert [tuple(row) for row in opening.timeline] == [tuple(row) for row in timeline]
    assert [row.type for row in opening.timeline] == ["opened", "classify", "assign"]


def test_a_batchs_rows_are_inserted_together_with_their_ids_in_the_order_written(
        make_runtime):
    rt = make_runtime()
    statements: list[tuple[str, bool]] = []
    texts: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        statements.append((" ".join(statement.split()[:3]), executemany))
        texts.append(" ".join(statement.split()))

    with Session(rt.engine) as session:
        appends = Appends(ids=True)
        openings = [_write(rt, session, ref=f"c-{n}", appends=appends).opening
                    for n in range(3)]
        assert _count(session, EVENTS) == 0  # left to `appends`
        event.listen(rt.engine, "before_cursor_execute", record)
        try:
            appends.insert(session)
        finally:
            event.remove(rt.engine, "before_cursor_execute", record)
        session.commit()
        stored = session.execute(select(EVENTS.c.id, EVENTS.c.case_id, EVENTS.c.type)
                                 .order_by(EVENTS.c.id)).all()
        assert _count(session, TIMERS) == 6
        loads = session.execute(select(MEMBERS.c.open_cases)).scalars().all()
    answered = [(row.id, row.case_id, row.type) for o in openings for row in o.timeline]
    assert answered == [tuple(row) for row in stored]
    assert sum(loads) == 3 and max(loads) == 1  # one case each, written together
    if rt.engine.dialect.name == "postgresql":
        # The timeline's ids taken first from its sequence, with one statement; then
        # every row of the three complaints, and the loads' changes, with one more.
        assert [statement.split("(")[0] for statement, _ in statements] == [
            "SELECT nextval", "WITH new_customers AS"]
        for part in ("INSERT INTO cases ", "INSERT INTO sla_clocks ",
                     "INSERT INTO case_events ", "INSERT INTO timers ",
                     "UPDATE team_members "):
            assert part in texts[-1], part
        return
    # One statement per table for the three complaints (on SQLite, one INSERT per row
    # where the ids come back: SQLAlchemy runs them in one execution).
    assert {statement.split("(")[0] for statement, _ in statements} == {
        "INSERT INTO cases", "UPDATE team_members SET", "INSERT INTO sla_clocks",
        "INSERT INTO case_events", "INSERT INTO timers"}
    assert ("UPDATE team_members SET", True) in statements
    assert ("INSERT INTO timers", True) in statements


def _count(session: Session, table: Any) -> int:
    return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_its_writes_are_the_callers_transaction_and_roll_back_with_it(make_runtime):
    rt = make_runtime()
    with Session(rt.engine) as session:
        _write(rt, session)
        assert _count(session, CASES) == 1
        session.rollback()
        assert _count(session, CASES) == 0
        assert _count(session, Customer.__table__) == 0  # type: ignore[attr-defined]


def test_a_sessions_pending_changes_are_flushed_before_them(make_runtime):
    """As `Session.execute` would: the customer added is the one recognised."""
    rt = make_runtime()
    with Session(rt.engine) as session:
        pending = Customer(external_ref="c-2", name="Wang", created_at=OPENED_AT)
        session.add(pending)
        found = recognise_row(session, CustomerClaim(ref="c-2"), channel="phone",
                              now=OPENED_AT)
        assert found.id == pending.id and found.name == "Wang"


def test_a_writer_not_to_wait_gives_up_at_once_and_the_connection_waits_again_after(
        sqlite_database):
    engine = make_engine(sqlite_database[0], pool_size=1)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    other = sqlite3.connect(engine.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with Session(engine) as session:
            assert begin_writing(session, wait=False) is False
        other.execute("COMMIT")
        with Session(engine) as session:
            assert begin_writing(session, wait=False) is True
            connection = session.connection()
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == (
                BUSY_TIMEOUT_SECONDS * 1000)
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            session.commit()
    finally:
        other.close()
        engine.dispose()


def test_a_batchs_rows_go_in_whatever_their_json_holds(make_runtime):
    """Rows bound as JSON text on PostgreSQL: what orjson refuses (an integer beyond 64
    bits) the standard library writes, times and all."""
    rt = make_runtime()
    with Session(rt.engine) as session:
        appends = Appends(ids=True)
        opening = _write(rt, session, appends=appends).opening
        appends.cases[0]["data"] = {"big": 2**70, "n": 1}
        appends.insert(session)
        session.commit()
        stored = session.execute(select(CASES).where(CASES.c.id == opening.case.id)).one()
    assert stored.data == {"big": 2**70, "n": 1}
    assert stored.opened_at == opening.case.opened_at
