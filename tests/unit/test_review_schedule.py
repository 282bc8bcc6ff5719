"""Review slots and periods: cron arithmetic on any clock, and the period each slot covers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prefect.server.schemas.schedules import CronSchedule  # what Prefect's scheduler runs

from domain.reviews.model import period_for
from domain.reviews.policy import Covers, PeriodKind, ReviewPolicy
from processes.reviews.schedule import due_at, latest_slot, next_slot
from tests.unit.builders import POLICIES, sh

REVIEWS = POLICIES.reviews


def _period(slot: datetime, kind: str, covers: str = "previous") -> tuple[datetime, datetime]:
    p = period_for(slot, PeriodKind(kind), Covers(covers), "Asia/Shanghai")
    return p.start, p.end


@pytest.mark.parametrize(("slot", "kind", "covers", "start", "end"), [
    (sh(2026, 11, 23, 9), "day", "previous", sh(2026, 11, 22), sh(2026, 11, 23)),
    (sh(2026, 11, 23, 8), "day", "current", sh(2026, 11, 23), sh(2026, 11, 24)),
    # Monday 23 Nov: the week that just ended began Monday 16 Nov.
    (sh(2026, 11, 23, 9), "week", "previous", sh(2026, 11, 16), sh(2026, 11, 23)),
    (sh(2026, 11, 25, 9), "week", "current", sh(2026, 11, 23), sh(2026, 11, 30)),
    (sh(2026, 12, 1, 9), "month", "previous", sh(2026, 11, 1), sh(2026, 12, 1)),
    (sh(2027, 1, 1, 9), "month", "previous", sh(2026, 12, 1), sh(2027, 1, 1)),
    (sh(2027, 1, 1, 9), "quarter", "previous", sh(2026, 10, 1), sh(2027, 1, 1)),
    (sh(2026, 11, 23, 9), "quarter", "current", sh(2026, 10, 1), sh(2027, 1, 1)),
    (sh(2026, 4, 1, 9), "quarter", "previous", sh(2026, 1, 1), sh(2026, 4, 1)),
    # 00:30 Shanghai is the previous day in UTC: the period is drawn in local time.
    (sh(2026, 11, 23, 0, 30), "day", "previous", sh(2026, 11, 22), sh(2026, 11, 23)),
])
def test_the_period_a_slot_covers(slot, kind, covers, start, end) -> None:
    assert _period(slot, kind, covers) == (start, end)


def test_periods_follow_local_midnight_across_daylight_saving() -> None:
    # New York springs forward on 8 March 2026: that day is 23 hours long.
    p = period_for(datetime(2026, 3, 9, 9, tzinfo=UTC), PeriodKind.day, Covers.previous,
                   "America/New_York")
    assert (p.end - p.start) == timedelta(hours=23)
    assert p.as_json() == {"start": "2026-03-08T00:00:00-05:00",
                           "end": "2026-03-09T00:00:00-04:00", "timezone": "America/New_York"}


def test_the_latest_slot_at_or_before_now() -> None:
    daily, weekly = REVIEWS["daily-sla-digest"], REVIEWS["weekly-complaint-review"]
    quarterly = REVIEWS["quarterly-service-evaluation"]
    assert latest_slot(daily, sh(2026, 11, 20, 9)) == sh(2026, 11, 20, 9)  # inclusive
    assert latest_slot(daily, sh(2026, 11, 20, 8, 59)) == sh(2026, 11, 19, 9)
    assert latest_slot(weekly, sh(2026, 11, 20, 10)) == sh(2026, 11, 16, 9)  # a Monday
    assert latest_slot(quarterly, sh(2026, 11, 20, 10)) == sh(2026, 10, 1, 9)
    assert next_slot(daily, sh(2026, 11, 20, 9)) == sh(2026, 11, 21, 9)
    due = due_at(weekly, sh(2026, 11, 23, 9, 0, 1))
    assert due is not None and due.slot == sh(2026, 11, 23, 9)
    assert (due.period.start, due.period.end) == (sh(2026, 11, 16), sh(2026, 11, 23))


def test_a_cron_that_never_fired_in_two_years_has_no_slot() -> None:
    review = ReviewPolicy(computes="satisfaction", title="leap day", cron="0 9 29 2 *",
                          period="day")
    assert latest_slot(review, sh(2026, 2, 1)) == sh(2024, 2, 29, 9)  # 703 days before
    assert latest_slot(review, sh(2026, 11, 20)) is None  # 995 days before


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_the_embedded_scheduler_and_prefect_agree_on_every_slot_for_a_year(name: str) -> None:
    review = REVIEWS[name]
    start = sh(2026, 12, 31, 12)
    ours, moment = [], start
    while len(ours) < 40 and moment < start + timedelta(days=366):
        moment = next_slot(review, moment)
        ours.append(moment)
    # The dates a deployment with the review's cron and timezone is scheduled for.
    schedule = CronSchedule(cron=review.cron, timezone=review.timezone)
    theirs = asyncio.run(schedule.get_dates(n=len(ours), start=start + timedelta(seconds=1)))
    assert ours == theirs
