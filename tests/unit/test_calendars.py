"""Business calendars: working hours, CN holidays and make-up days, time zones, properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendars import BusinessCalendar, always_open
from tests.unit.builders import SHANGHAI, calendars, hours, minutes, sh, warmed, working_hours

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


# --- the examples from the design ------------------------------------------------------

def test_friday_evening_complaint_is_due_monday_morning() -> None:
    due = working_hours().add(sh(2026, 11, 20, 17, 50), minutes(20))
    assert due == sh(2026, 11, 23, 9, 10)
    assert due.tzinfo is UTC


def test_twenty_working_minutes_before_monday_morning_is_friday_evening() -> None:
    assert working_hours().subtract(sh(2026, 11, 23, 9, 10), minutes(20)) == sh(
        2026, 11, 20, 17, 50)
    # Used up exactly at Friday's closing time: then, not at Monday's opening.
    assert working_hours().subtract(sh(2026, 11, 23, 9, 10), minutes(10)) == sh(
        2026, 11, 20, 18, 0)


def test_subtract_skips_the_lunch_break_holidays_and_a_make_up_day() -> None:
    cal = working_hours()
    assert cal.subtract(sh(2026, 11, 20, 13, 10), minutes(20)) == sh(2026, 11, 20, 11, 50)
    # Back from after the Spring Festival, over the make-up Saturday 2026-02-14.
    assert cal.subtract(sh(2026, 2, 24, 9, 10), hours(8) + minutes(20)) == sh(
        2026, 2, 13, 17, 50)
    # From a night: the day's last working moment first.
    assert cal.subtract(sh(2026, 11, 20, 22, 0), hours(1)) == sh(2026, 11, 20, 17, 0)
    assert cal.subtract(sh(2026, 11, 20, 22, 0), timedelta(0)) == sh(2026, 11, 20, 18, 0)


def test_24x7_subtract_is_plain_subtraction() -> None:
    assert always_open().subtract(sh(2026, 11, 20, 10, 0), hours(30)) == sh(
        2026, 11, 19, 4, 0)


def test_a_calendar_without_working_days_refuses_to_subtract() -> None:
    never = BusinessCalendar(name="never", intervals=((time(9), time(18)),),
                             workdays=frozenset())
    with pytest.raises(ValueError, match="no working time"):
        never.subtract(sh(2026, 11, 20, 10, 0), minutes(1))


def test_make_up_saturday_is_a_working_day() -> None:
    # 2026-02-14 is a Saturday China declared a working day (调休) before the Spring Festival.
    assert working_hours().add(sh(2026, 2, 13, 17, 50), minutes(20)) == sh(2026, 2, 14, 9, 10)


def test_spring_festival_is_skipped_after_the_make_up_day() -> None:
    # 10 min on Friday, 8 h on the make-up Saturday, then 16-23 Feb are holidays or weekend.
    due = working_hours().add(sh(2026, 2, 13, 17, 50), hours(8) + minutes(20))
    assert due == sh(2026, 2, 24, 9, 10)


def test_make_up_sunday_is_a_working_day() -> None:
    assert working_hours().add(sh(2026, 9, 18, 17, 50), minutes(20)) == sh(2026, 9, 20, 9, 10)


def test_national_day_week_is_skipped() -> None:
    assert working_hours().add(sh(2026, 9, 30, 17, 50), minutes(20)) == sh(2026, 10, 8, 9, 10)


def test_make_up_saturday_after_national_day_counts() -> None:
    # Thursday 8 h, Friday 8 h, make-up Saturday 2026-10-10 8 h.
    assert working_hours().add(sh(2026, 10, 8, 9, 0), hours(24)) == sh(2026, 10, 10, 18, 0)


@pytest.mark.parametrize(("day", "working"), [
    *[(date(2026, 10, d), False) for d in range(1, 8)],
    (date(2026, 10, 8), True),
    (date(2026, 10, 10), True),   # make-up Saturday
    (date(2026, 10, 11), False),  # ordinary Sunday
    (date(2026, 2, 14), True),    # make-up Saturday
    (date(2026, 11, 21), False),  # ordinary Saturday
    (date(2026, 11, 23), True),   # ordinary Monday
])
def test_is_working_day_on_the_cn_calendar(day: date, working: bool) -> None:
    assert warmed(working_hours()).is_working_day(day) is working


def test_year_boundary_skips_new_year_and_weekend() -> None:
    assert working_hours().add(sh(2026, 12, 31, 17, 0), hours(2)) == sh(2027, 1, 4, 10, 0)


# --- working windows -------------------------------------------------------------------

def test_lunch_break_is_skipped() -> None:
    cal = working_hours()
    assert cal.add(sh(2026, 11, 23, 11, 50), minutes(20)) == sh(2026, 11, 23, 13, 10)
    assert cal.add(sh(2026, 11, 23, 12, 30), minutes(20)) == sh(2026, 11, 23, 13, 20)
    assert cal.between(sh(2026, 11, 23, 11, 30), sh(2026, 11, 23, 13, 30)) == hours(1)


def test_time_before_opening_does_not_count() -> None:
    assert working_hours().add(sh(2026, 11, 23, 7, 0), minutes(20)) == sh(2026, 11, 23, 9, 20)


def test_a_target_ending_at_closing_time_stays_on_that_day() -> None:
    assert working_hours().add(sh(2026, 11, 20, 17, 50), minutes(10)) == sh(2026, 11, 20, 18, 0)


def test_between_over_a_weekend() -> None:
    cal = working_hours()
    assert cal.between(sh(2026, 11, 20, 17, 0), sh(2026, 11, 23, 10, 0)) == hours(2)
    assert cal.between(sh(2026, 11, 21, 0, 0), sh(2026, 11, 23, 0, 0)) == timedelta(0)


def test_between_is_zero_when_end_is_not_after_start() -> None:
    cal = working_hours()
    assert cal.between(sh(2026, 11, 23, 11), sh(2026, 11, 23, 10)) == timedelta(0)
    assert cal.between(sh(2026, 11, 23, 11), sh(2026, 11, 23, 11)) == timedelta(0)


def test_durations_spanning_many_days() -> None:
    cal = working_hours()
    # 15 working days of 8 hours from Monday 2 November: three plain weeks in November.
    due = cal.add(sh(2026, 11, 2, 9, 0), hours(120))
    assert due == sh(2026, 11, 20, 18, 0)
    assert cal.between(sh(2026, 11, 2, 9, 0), due) == hours(120)
    # Across the whole National Day week.
    assert cal.between(sh(2026, 9, 30, 9, 0), sh(2026, 10, 9, 18, 0)) == hours(8 * 3)


def test_a_calendar_without_working_days_refuses_to_add() -> None:
    cal = BusinessCalendar("never", intervals=((time(9), time(17)),), workdays=frozenset())
    with pytest.raises(ValueError, match="no working time"):
        cal.add(sh(2026, 11, 23, 9), minutes(1))


# --- time zones ------------------------------------------------------------------------

def test_start_in_other_zones_gives_the_same_instant_in_utc() -> None:
    cal = working_hours()
    in_utc = datetime(2026, 11, 20, 9, 50, tzinfo=UTC)  # 17:50 in Shanghai
    in_new_york = in_utc.astimezone(NEW_YORK)
    for start in (in_utc, in_new_york):
        due = cal.add(start, minutes(20))
        assert due == datetime(2026, 11, 23, 1, 10, tzinfo=UTC)
        assert due.tzinfo is UTC
        assert due.astimezone(SHANGHAI).time() == time(9, 10)


def test_naive_datetimes_are_refused() -> None:
    cal = working_hours()
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2026, 11, 20, 17, 50), minutes(20))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.between(datetime(2026, 11, 20, 17, 50), sh(2026, 11, 23))
    with pytest.raises(ValueError, match="timezone-aware"):
        always_open().add(datetime(2026, 11, 20, 17, 50), minutes(20))


def test_working_hours_follow_the_calendars_own_zone_across_dst() -> None:
    # Berlin moves to summer time on Sunday 2026-03-29; hours stay 09:00-17:00 local.
    cal = BusinessCalendar("berlin", timezone="Europe/Berlin", intervals=((time(9), time(17)),))
    start = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)
    due = cal.add(start, hours(2))
    assert due == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert cal.between(start, due) == hours(2)


def test_24x7_counts_every_minute() -> None:
    cal = calendars()["24x7"]
    assert cal.always_open
    assert cal.is_working_day(date(2026, 10, 1))
    start = sh(2026, 11, 20, 17, 50)
    assert cal.add(start, minutes(20)) == sh(2026, 11, 20, 18, 10)
    assert cal.between(start, sh(2026, 11, 23, 9, 10)) == hours(63) + minutes(20)


# --- make-up days on a calendar that has not loaded the year yet ------------------------
# holidays fills `weekend_workdays` only for years it has loaded; the first query of a year
# must still see a make-up day (this failed before is_working_day looked the day up first).

def test_fresh_calendar_knows_a_make_up_day_on_first_query() -> None:
    cal = working_hours()
    first = cal.is_working_day(date(2026, 2, 14))
    assert first is True
    assert cal.is_working_day(date(2026, 2, 14)) is first


def test_fresh_calendar_adds_from_a_make_up_day() -> None:
    assert working_hours().add(sh(2026, 2, 14, 8, 0), minutes(20)) == sh(2026, 2, 14, 9, 20)


def test_fresh_calendar_counts_a_make_up_day_in_between() -> None:
    assert working_hours().between(sh(2026, 10, 10, 9), sh(2026, 10, 10, 18)) == hours(8)


# --- properties ------------------------------------------------------------------------

# Warmed, so that a first-query-of-a-year regression (above) shows there, not as flakiness.
WORKING = warmed(working_hours())
ALWAYS = always_open()
ZONES = [SHANGHAI, UTC, NEW_YORK, BERLIN]

starts = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30)),
    st.sampled_from(ZONES),
)
durations = st.timedeltas(min_value=timedelta(0), max_value=hours(200))
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(start=starts, duration=durations)
def test_between_undoes_add(start: datetime, duration: timedelta) -> None:
    assert WORKING.between(start, WORKING.add(start, duration)) == duration


@PROPERTY
@given(end=starts, duration=durations)
def test_between_undoes_subtract(end: datetime, duration: timedelta) -> None:
    for cal in (WORKING, ALWAYS):
        assert cal.between(cal.subtract(end, duration), end) == duration


@PROPERTY
@given(end=starts, duration=durations)
def test_subtract_lands_inside_a_working_window_or_at_its_end(
    end: datetime, duration: timedelta
) -> None:
    # So it is the earliest moment that far back: a moment before it adds working time.
    begin = WORKING.subtract(end, duration)
    assert begin.tzinfo is UTC
    local = begin.astimezone(SHANGHAI)
    assert WORKING.is_working_day(local.date())
    assert any(open_at < local.time() <= close_at for open_at, close_at in WORKING.intervals)


@PROPERTY
@given(end=starts, a=durations, b=durations)
def test_subtract_goes_further_back_for_a_longer_duration(
    end: datetime, a: timedelta, b: timedelta
) -> None:
    short, long = sorted((a, b))
    assert WORKING.subtract(end, long) <= WORKING.subtract(end, short)


@PROPERTY
@given(start=starts, a=durations, b=durations)
def test_add_is_monotonic_in_the_duration(start: datetime, a: timedelta, b: timedelta) -> None:
    short, long = sorted((a, b))
    assert WORKING.add(start, short) <= WORKING.add(start, long)


@PROPERTY
@given(start=starts, duration=durations)
def test_24x7_add_is_plain_addition(start: datetime, duration: timedelta) -> None:
    due = ALWAYS.add(start, duration)
    assert due == start.astimezone(UTC) + duration
    assert due.tzinfo is UTC
    assert ALWAYS.between(start, due) == duration
    if start.tzinfo is SHANGHAI:  # no DST: wall-clock addition is the same instant
        assert due == start + duration


@PROPERTY
@given(start=starts, duration=durations)
def test_add_lands_inside_a_working_window_or_at_its_end(
    start: datetime, duration: timedelta
) -> None:
    due = WORKING.add(start, duration)
    assert due.tzinfo is UTC
    local = due.astimezone(SHANGHAI)
    assert WORKING.is_working_day(local.date())
    assert any(open_at <= local.time() <= close_at for open_at, close_at in WORKING.intervals)
    if duration > timedelta(0):
        assert any(open_at < local.time() <= close_at for open_at, close_at in WORKING.intervals)


gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))


@PROPERTY
@given(first=starts, gap1=gaps, gap2=gaps)
def test_between_is_additive(first: datetime, gap1: timedelta, gap2: timedelta) -> None:
    middle = first + gap1
    last = middle + gap2
    assert WORKING.between(first, last) == (
        WORKING.between(first, middle) + WORKING.between(middle, last))


@PROPERTY
@given(day=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
def test_a_fresh_calendar_agrees_with_a_warmed_one(day: date) -> None:
    assert working_hours().is_working_day(day) == WORKING.is_working_day(day)


# --- the same answers as walking the days one by one -----------------------------------
# The calendar finds due times by binary search over windows laid out once; these walk
# the days' windows one at a time, from the calendar's public rules, as it once did.

def _day_windows(cal: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    if not cal.is_working_day(day):
        return []
    zone = ZoneInfo(cal.timezone)
    return [(datetime.combine(day, start, zone).astimezone(UTC),
             datetime.combine(day, end, zone).astimezone(UTC))
            for start, end in cal.intervals or ()]


def walked_add(cal: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    start, remaining = start.astimezone(UTC), duration
    day = start.astimezone(ZoneInfo(cal.timezone)).date()
    while True:
        for open_at, close_at in _day_windows(cal, day):
            begin = max(open_at, start)
            if begin >= close_at:
                continue
            if remaining <= close_at - begin:
                return begin + remaining
            remaining -= close_at - begin
        day += timedelta(days=1)


def walked_subtract(cal: BusinessCalendar, end: datetime, duration: timedelta) -> datetime:
    end, remaining = end.astimezone(UTC), duration
    day = end.astimezone(ZoneInfo(cal.timezone)).date()
    while True:
        for open_at, close_at in reversed(_day_windows(cal, day)):
            finish = min(close_at, end)
            if finish <= open_at:
                continue
            if remaining < finish - open_at:
                return finish - remaining
            remaining -= finish - open_at
        day -= timedelta(days=1)


def walked_between(cal: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total, zone = timedelta(0), ZoneInfo(cal.timezone)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:
        for open_at, close_at in _day_windows(cal, day):
            total += max(min(close_at, end) - max(open_at, start), timedelta(0))
        day += timedelta(days=1)
    return total


# Up to a year and a half of working time, so that answers fall past the days laid out
# first; one calendar for every example, so that its layout grows both ways in any order.
long_durations = st.timedeltas(min_value=timedelta(0), max_value=hours(4000))
# On the hour and at the windows' edges, where off-by-one answers hide, as well as anywhere.
edges = st.builds(lambda day, at, zone: datetime.combine(day, at, zone),
                  st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 6, 30)),
                  st.sampled_from([time(0), time(9), time(12), time(13, 30), time(18),
                                   time(12, 0, 0, 1), time(17, 59, 59, 999999)]),
                  st.sampled_from(ZONES))
moments = st.one_of(starts, edges)
SHARED = working_hours()


@settings(max_examples=400, deadline=None)
@given(moment=moments, other=moments, duration=st.one_of(durations, long_durations,
                                                        st.just(timedelta(0))))
def test_binary_search_gives_the_day_walk_s_answers(moment: datetime, other: datetime,
                                                    duration: timedelta) -> None:
    assert SHARED.add(moment, duration) == walked_add(SHARED, moment, duration)
    assert SHARED.subtract(moment, duration) == walked_subtract(SHARED, moment, duration)
    start, end = sorted((moment, other))
    assert SHARED.between(start, end) == walked_between(SHARED, start, end)


def test_a_fresh_calendar_answers_far_from_where_it_was_first_asked() -> None:
    fresh = working_hours()
    near = sh(2026, 11, 20, 10)
    assert fresh.add(near, hours(3)) == walked_add(fresh, near, hours(3))
    for moment in (sh(2019, 3, 1, 10), sh(2031, 7, 4, 17), sh(2026, 11, 20, 10)):
        assert fresh.subtract(moment, hours(900)) == walked_subtract(fresh, moment, hours(900))
        assert fresh.add(moment, hours(900)) == walked_add(fresh, moment, hours(900))
    assert fresh.between(sh(2019, 3, 1, 10), sh(2031, 7, 4, 17)) == walked_between(
        fresh, sh(2019, 3, 1, 10), sh(2031, 7, 4, 17))
