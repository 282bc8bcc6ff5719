"""JSON columns hold what the standard library's json would have written, read back the
same, on SQLite and PostgreSQL, inserted one at a time and many to a statement."""

import json

import pytest
from sqlalchemy import insert, select
from sqlmodel import Session

from engine.db import json_text
from engine.store import CASES
from tests.store.test_intake_statements import NEW_CASE

VALUES = [
    {"tags": ["fragile"], "n": 1, "ratio": 0.1, "none": None, "yes": True},
    {"投诉": "快递破损", "emoji": "📦"},  # written as UTF-8, not as escapes
    {2: "an integer key", None: "a null key", True: "a boolean key"},  # keys made text
    {"amount": 10**30},  # beyond 64 bits: orjson refuses it, the standard library writes it
    {"nested": {"deep": [[1, 2], {"k": "v"}]}},
]


@pytest.mark.parametrize("value", VALUES)
def test_json_text_reads_back_as_the_standard_library_writes_it(value):
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_text_is_written_as_utf8_not_escaped():
    assert json_text({"subject": "快递破损"}) == '{"subject":"快递破损"}'


def test_json_columns_store_and_read_back_each_value(make_runtime):
    engine = make_runtime().engine
    with Session(engine) as session:
        ids = [session.execute(insert(CASES).returning(CASES.c.id),
                               {**NEW_CASE, "data": value}).scalar_one() for value in VALUES]
        # Many rows to a statement, their ids back, as a batch of intakes inserts them.
        session.execute(insert(CASES).returning(CASES.c.id, sort_by_parameter_order=True),
                        [{**NEW_CASE, "data": value} for value in VALUES]).all()
        session.commit()
        stored = session.execute(select(CASES.c.id, CASES.c.data).order_by(CASES.c.id)).all()
    expected = [json.loads(json.dumps(value)) for value in VALUES]
    assert [row.data for row in stored if row.id in ids] == expected  # one at a time
    assert [row.data for row in stored if row.id not in ids] == expected  # together
