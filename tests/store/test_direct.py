"""Direct statements answer as SQLAlchemy would, inside the caller's transaction."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError, NoResultFound
from sqlmodel import Session

from engine.db import make_engine
from engine.direct import Direct
from engine.models import Customer
from engine.store import CASES, EVENTS

OPENED_AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
NEW_CASE = {"process": "complaint", "stage": "new", "priority": "P2", "tier": "B",
            "channel": "phone", "subject": "parcel arrived broken", "team": "complaints",
            "policy_version": "v1", "opened_at": OPENED_AT, "stage_entered_at": OPENED_AT,
            "updated_at": OPENED_AT, "data": {"tags": ["fragile"], "n": 1}}


@pytest.fixture
def engine(make_runtime):  # type: ignore[no-untyped-def]
    return make_runtime().engine


def test_an_insert_returns_the_row_sqlalchemy_returns_defaults_and_types_included(engine):
    statement = insert(CASES).returning(*CASES.c)
    with Session(engine) as session:
        direct = Direct(statement).execute(session, NEW_CASE).one()
        plain = session.execute(statement, NEW_CASE).one()
        session.commit()
    assert direct.id != plain.id
    assert tuple(direct)[1:] == tuple(plain)[1:]  # all but the id, which comes first
    assert direct.description == "" and direct.version == 1  # the columns' scalar defaults
    assert direct.opened_at == OPENED_AT and direct.data == {"tags": ["fragile"], "n": 1}


def test_many_rows_come_back_in_the_order_given(engine):
    with Session(engine) as session:
        new_case = Direct(insert(CASES).returning(CASES.c.id))
        case_id = new_case.execute(session, NEW_CASE).scalar_one()
        rows = Direct(insert(EVENTS).returning(*EVENTS.c)).execute(session, [
            {"case_id": case_id, "type": f"note {n}", "actor": "agent:lin", "at": OPENED_AT,
             "details": {"n": n}} for n in range(3)]).all()
        session.commit()
    assert [(row.type, row.details, row.actor_kind) for row in rows] == [
        (f"note {n}", {"n": n}, "person") for n in range(3)]
    with Session(engine) as session:
        stored = session.execute(select(EVENTS.c.id, EVENTS.c.type).order_by(EVENTS.c.id)).all()
    assert [(row.id, row.type) for row in rows] == [tuple(row) for row in stored]


def test_its_writes_are_the_callers_transaction_and_roll_back_with_it(engine):
    with Session(engine) as session:
        Direct(insert(CASES)).execute(session, NEW_CASE)
        session.rollback()
    with Session(engine) as session:
        assert session.execute(select(CASES.c.id)).all() == []


def test_an_update_sets_the_columns_its_parameters_name(engine):
    change = Direct(update(CASES).where(CASES.c.id == bindparam("case_id_"))
                    .values(version=CASES.c.version + 1).returning(CASES.c.stage, CASES.c.version))
    with Session(engine) as session:
        case_id = Direct(insert(CASES).returning(CASES.c.id)).execute(session, NEW_CASE).scalar()
        first = change.execute(session, {"case_id_": case_id, "stage": "in_progress"}).one()
        second = change.execute(session, {"case_id_": case_id, "priority": "P1"}).one()
        session.commit()
    assert (first.stage, first.version) == ("in_progress", 2)
    assert (second.stage, second.version) == ("in_progress", 3)


def test_a_broken_constraint_is_sqlalchemys_integrity_error(engine):
    """Callers retry a lost race on SQLAlchemy's IntegrityError: the driver's is wrapped."""
    new = Direct(insert(Customer.__table__))  # type: ignore[attr-defined]
    row = {"external_ref": "c-1", "name": "Lin", "created_at": OPENED_AT}
    with Session(engine) as session:
        new.execute(session, row)
        with pytest.raises(IntegrityError):
            new.execute(session, row)


def test_pending_model_changes_are_flushed_first_as_session_execute_does(engine):
    with Session(engine) as session:
        session.add(Customer(external_ref="c-2", name="Wang", created_at=OPENED_AT))
        found = Direct(select(Customer.__table__).where(  # type: ignore[attr-defined]
            Customer.__table__.c.external_ref == "c-2")).execute(session).one()  # type: ignore[attr-defined]
    assert found.name == "Wang"


def test_no_row_where_one_is_required_is_said_as_sqlalchemy_says_it(engine):
    with Session(engine) as session, pytest.raises(NoResultFound):
        Direct(select(CASES.c.id).where(CASES.c.id == -1)).execute(session).one()
    with Session(engine) as session:
        assert Direct(select(CASES.c.id).where(CASES.c.id == -1)).execute(session).first() is None


def test_statements_it_cannot_run_alike_are_refused_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'refused.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("made", String, default=lambda: "made by a function"))
    table.metadata.create_all(engine)
    with Session(engine) as session:
        with pytest.raises(ValueError, match="default that only SQLAlchemy"):
            Direct(insert(table)).execute(session, {"id": 1})
        with pytest.raises(ArgumentError, match="'wanted'"):
            Direct(select(table).where(table.c.id == bindparam("wanted"))).execute(session)
        with pytest.raises(ValueError, match="expanding"):
            Direct(select(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
                   ).execute(session, {"ids": [1]})


def test_inserted_ids_are_the_new_rows_ids_in_the_order_given(engine):
    with Session(engine) as session:
        new_case = Direct(insert(CASES).returning(CASES.c.id))
        case_id = new_case.execute(session, NEW_CASE).scalar_one()
        ids = Direct(insert(EVENTS)).inserted_ids(session, [
            {"case_id": case_id, "type": f"note {n}", "actor": "agent:lin", "at": OPENED_AT,
             "details": {"n": n}} for n in range(3)])
        session.commit()
    with Session(engine) as session:
        stored = session.execute(select(EVENTS.c.id, EVENTS.c.details).order_by(EVENTS.c.id)).all()
    assert [(row.id, row.details) for row in stored] == [
        (new_id, {"n": n}) for n, new_id in enumerate(ids)]
