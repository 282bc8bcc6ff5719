"""The table an escalation batch publishes: what fired, without customer contact data."""

from datetime import timedelta

from sqlmodel import Session, col, select

from engine import escalation_report
from engine.escalation_report import fired_rungs
from engine.models import Timer
from tests.conftest import sweep
from tests.store.helpers import open_complaint


def test_the_table_lists_the_first_rows_and_counts_them_all(make_runtime, clock,
                                                            monkeypatch):
    rt = make_runtime()
    case_ids = [open_complaint(rt, ref=f"r{n}") for n in range(3)]
    clock.advance(timedelta(minutes=16))
    sweep(rt)
    with Session(rt.engine) as session:
        timer_ids = list(session.exec(select(Timer.id).where(Timer.status == "fired")
                                      .order_by(col(Timer.id))))
    monkeypatch.setattr(escalation_report, "MAX_ROWS", 2)

    rows, fired = fired_rungs(rt, timer_ids)

    assert fired == 3 and [row["case"] for row in rows] == case_ids[:2]
    assert rows[0]["rung"] == 1 and rows[0]["step"] == "warning" and rows[0]["level"] == 0
    assert rows[0]["notified"].endswith("(assignee)") and "@" not in rows[0]["notified"]
