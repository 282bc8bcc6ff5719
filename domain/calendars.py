"""Business calendars: 24x7, or working hours with public holidays and make-up working days.

All arithmetic is done on timezone-aware datetimes and returns UTC. A working-hours
calendar counts time only inside its daily intervals on working days. China's calendar
comes from the `holidays` package, which knows both the public holidays and the weekend
days declared as working days in exchange (调休).

A working-hours calendar lays its windows out once over a span of days (`_Span`), each
with the business time counted before it, so that a due time or the time between two
moments is two binary searches instead of a walk over the days in between: every event
of every case asks again for its clocks' due times.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

# A loop bound: no SLA target spans more than ten years of working days.
_MAX_DAYS_SCANNED = 3660
_ZERO = timedelta(0)
# How far a span is extended past the days asked for, so that a month of cases opened
# day after day does not lay the windows out again every day.
_AHEAD = timedelta(days=366)
_BEHIND = timedelta(days=31)


@dataclass(frozen=True)
class _Span:
    """The working windows of the local days from `first` to `end` (excluded), as UTC
    datetimes, with the business time counted from the span's start to each window's
    opening (`before`) and closing (`after`). Windows without length are left out: no
    time runs in them. Never changed: a longer span replaces it."""

    first: date
    end: date
    since: datetime  # the start of `first`, in UTC
    until: datetime  # the start of `end`, in UTC
    opens: list[datetime]
    closes: list[datetime]
    before: list[timedelta]
    after: list[timedelta]

    def covers(self, low: datetime, high: datetime) -> bool:
        return self.since <= low and high < self.until

    def position(self, moment: datetime) -> timedelta:
        """The business time from the span's start to `moment` (inside the span)."""
        i = bisect_right(self.closes, moment)  # the first window still open at `moment`
        if i == len(self.opens):
            return self.after[-1] if self.after else _ZERO
        opens = self.opens[i]
        return self.before[i] + (moment - opens) if moment > opens else self.before[i]


@dataclass(frozen=True)
class BusinessCalendar:
    """A calendar that says when SLA time runs."""

    name: str
    timezone: str = "Asia/Shanghai"
    # None means round the clock, every day (24x7).
    intervals: tuple[tuple[time, time], ...] | None = None
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    country: str | None = None
    _holidays: holidays_lib.HolidayBase | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # Each local day's working windows once worked out: every due time and every
    # paused span asks again for the same few days, and the holiday lookup is slow.
    _windows_by_day: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _span: _Span | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.country:
            object.__setattr__(self, "_holidays", holidays_lib.country_holidays(self.country))

    @property
    def always_open(self) -> bool:
        return self.intervals is None

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)

    def is_working_day(self, day: date) -> bool:
        """Whether `day` has working hours: make-up days count, holidays do not."""
        if self.always_open:
            return True
        if self._holidays is not None:
            # `in` loads the day's year first; weekend_workdays is filled only for loaded years.
            is_holiday = day in self._holidays
            if day in self._holidays.weekend_workdays:
                return True
            if is_holiday:
                return False
        return day.weekday() in self.workdays

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working windows of one local day, as UTC datetimes."""
        windows = self._windows_by_day.get(day)
        if windows is None:
            windows = self._windows_by_day[day] = self._work_out_windows(day)
        return windows

    def _work_out_windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if not self.is_working_day(day):
            return ()
        tz = self.tz
        return tuple(
            (
                datetime.combine(day, start, tz).astimezone(UTC),
                datetime.combine(day, end, tz).astimezone(UTC),
            )
            for start, end in self.intervals or ()
        )

    def _span_over(self, low: datetime, high: datetime) -> _Span:
        """A span that covers the local days of the UTC moments `low` to `high`."""
        span = self._span
        if span is not None and span.covers(low, high):
            return span
        tz = self.tz
        first = (low - _BEHIND).astimezone(tz).date()
        end = (high + _AHEAD).astimezone(tz).date()
        if span is not None:
            first, end = min(first, span.first), max(end, span.end)
        opens: list[datetime] = []
        closes: list[datetime] = []
        before: list[timedelta] = []
        after: list[timedelta] = []
        counted = _ZERO
        day = first
        while day < end:
            for open_at, close_at in self._windows(day):
                if close_at > open_at:
                    opens.append(open_at)
                    closes.append(close_at)
                    before.append(counted)
                    counted += close_at - open_at
                    after.append(counted)
            day += timedelta(days=1)
        span = _Span(first, end, datetime.combine(first, time(), tz).astimezone(UTC),
                     datetime.combine(end, time(), tz).astimezone(UTC),
                     opens, closes, before, after)
        # Replaced whole, never changed: a thread reading the old span still sees one.
        object.__setattr__(self, "_span", span)
        return span

    def _too_far(self, start: datetime, end: datetime) -> bool:
        """Whether `end`, found from `start`, lies beyond the ten years a search goes."""
        if end - start < timedelta(days=_MAX_DAYS_SCANNED - 1):
            return False
        tz = self.tz
        return (end.astimezone(tz).date() - start.astimezone(tz).date()).days >= \
            _MAX_DAYS_SCANNED

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the moment when `duration` of business time has passed since `start`."""
        start = _utc(start)
        if self.always_open:
            return start + duration
        span = self._span_over(start, start)
        while True:
            target = span.position(start) + duration
            # The earliest window that reaches the target, and not one closed before
            # `start` (for a zero duration, `start` itself or the next opening).
            j = max(bisect_right(span.closes, start), bisect_left(span.after, target))
            if j < len(span.opens):
                due = span.opens[j] + (target - span.before[j])
                break
            if span.until - start > timedelta(days=_MAX_DAYS_SCANNED):
                due = span.until  # past the bound: refused below
                break
            span = self._span_over(start, span.until)
        if self._too_far(start, due):
            raise ValueError(f"calendar {self.name!r} has no working time within ten years")
        return due

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """Return the moment `duration` of business time before `end`: `add` run backwards.

        Where several moments qualify (a span ending at an opening time), the earliest,
        as `add` gives the earliest: 20 working minutes before Monday 09:20 is Friday
        18:00, when the duration had been used up, not Monday 09:00.
        """
        end = _utc(end)
        if self.always_open:
            return end - duration
        span = self._span_over(end, end)
        while True:
            target = span.position(end) - duration
            # At zero, the earliest such moment is the close of a window before the span.
            if target > _ZERO:
                j = bisect_left(span.after, target)
                begin = span.opens[j] + (target - span.before[j])
                break
            if end - span.since > timedelta(days=_MAX_DAYS_SCANNED):
                begin = span.since  # past the bound: refused below
                break
            span = self._span_over(span.since - _BEHIND, end)
        if self._too_far(begin, end):
            raise ValueError(f"calendar {self.name!r} has no working time within ten years")
        return begin

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the business time that runs from `start` to `end` (zero if end <= start)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        span = self._span_over(start, end)
        return span.position(end) - span.position(start)


def always_open(name: str = "24x7", timezone: str = "Asia/Shanghai") -> BusinessCalendar:
    """Return a 24x7 calendar."""
    return BusinessCalendar(name=name, timezone=timezone)


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:  # what the store gives: no conversion to pay for
        return moment
    if moment.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)
