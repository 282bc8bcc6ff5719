"""SLA clocks on working-hours calendars, end to end through the store and the sweeper."""


from sqlmodel import Session, select

from engine.models import SlaClock
from tests.conftest import sweep
from tests.store.helpers import escalations, open_complaint
from tests.support import shanghai

WORKING_FIRST_RESPONSE = {
    "first_response": {"calendar": "cn-working-hours",
                       "targets": {"urgent": "PT10M", "ordinary": "PT20M", "routine": "PT2H",
                                   "recovery": "PT4H"}},
    "resolution": {"calendar": "24x7",
                   "targets": {"urgent": "PT4H", "ordinary": "PT24H", "routine": "PT72H",
                               "recovery": "PT24H"}},
}


def _due(rt, case_id, name):
    with Session(rt.engine) as session:
        return session.exec(select(SlaClock).where(SlaClock.case_id == case_id,
                                                   SlaClock.name == name)).one().due_at


def test_friday_evening_complaint_is_due_on_monday_morning(make_runtime, clock):
    clock.set(shanghai(2026, 11, 20, 17, 50))  # a Friday
    rt = make_runtime(complaint={"clocks": WORKING_FIRST_RESPONSE})
    case_id = open_complaint(rt)
    assert _due(rt, case_id, "first_response") == shanghai(2026, 11, 23, 9, 10)
    # The two clocks run on different calendars: resolution counts the weekend.
    assert _due(rt, case_id, "resolution") == shanghai(2026, 11, 21, 17, 50)
    clock.set(shanghai(2026, 11, 22, 23, 0))  # all weekend: no first-response rung
    sweep(rt)
    assert [e for e in escalations(rt, case_id) if e[0] == "first_response"] == []
    clock.set(shanghai(2026, 11, 23, 9, 5))  # 15 working minutes: 75%
    sweep(rt)
    assert ("first_response", "warning") in escalations(rt, case_id)


def test_a_make_up_working_saturday_counts(make_runtime, clock):
    clock.set(shanghai(2026, 2, 13, 17, 50))  # Friday before the 2026-02-14 make-up day
    rt = make_runtime(complaint={"clocks": WORKING_FIRST_RESPONSE})
    case_id = open_complaint(rt)
    assert _due(rt, case_id, "first_response") == shanghai(2026, 2, 14, 9, 10)


def test_the_spring_festival_holiday_does_not_count(make_runtime, clock):
    clock.set(shanghai(2026, 2, 14, 17, 50))  # the make-up Saturday, then nine days off
    rt = make_runtime(complaint={"clocks": WORKING_FIRST_RESPONSE})
    case_id = open_complaint(rt)
    assert _due(rt, case_id, "first_response") == shanghai(2026, 2, 24, 9, 10)
