"""Business calendars: 24x7, or working hours with public holidays and make-up working days.

All arithmetic is done on timezone-aware datetimes and returns UTC. A working-hours
calendar counts time only inside its daily intervals on working days. China's calendar
comes from the `holidays` package, which knows both the public holidays and the weekend
days declared as working days in exchange (调休).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

# A loop bound: no SLA target spans more than ten years of working days.
_MAX_DAYS_SCANNED = 3660


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

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the moment when `duration` of business time has passed since `start`."""
        start = _utc(start)
        if self.always_open:
            return start + duration
        remaining = duration
        day = start.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS_SCANNED):
            for open_at, close_at in self._windows(day):
                begin = max(open_at, start)
                if begin >= close_at:
                    continue
                if remaining <= close_at - begin:
                    return begin + remaining
                remaining -= close_at - begin
            day += timedelta(days=1)
        raise ValueError(f"calendar {self.name!r} has no working time within ten years")

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """Return the moment `duration` of business time before `end`: `add` run backwards.

        Where several moments qualify (a span ending at an opening time), the earliest,
        as `add` gives the earliest: 20 working minutes before Monday 09:20 is Friday
        18:00, when the duration had been used up, not Monday 09:00.
        """
        end = _utc(end)
        if self.always_open:
            return end - duration
        remaining = duration
        day = end.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS_SCANNED):
            for open_at, close_at in reversed(self._windows(day)):
                finish = min(close_at, end)
                if finish <= open_at:
                    continue
                if remaining < finish - open_at:
                    return finish - remaining
                remaining -= finish - open_at
            day -= timedelta(days=1)
        raise ValueError(f"calendar {self.name!r} has no working time within ten years")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the business time that runs from `start` to `end` (zero if end <= start)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        total = timedelta(0)
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            for open_at, close_at in self._windows(day):
                overlap = min(close_at, end) - max(open_at, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


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
