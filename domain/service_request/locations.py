"""Locations (stores, service centres) and their appointment slots: pure arithmetic.

A location opens on its own business calendar (hours, workdays, public holidays and
make-up days). Its day is cut into slots of `slot_length` from the start of each
opening interval; a slot is bookable when it lies wholly inside opening hours, starts
after `now` and has a seat left of `capacity`. Counting the seats taken is the store's
job; this module says which slots exist, whether one is open, and the nearest free ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, takewhile
from typing import Literal

from pydantic import Field, field_validator

from domain.calendars import BusinessCalendar
from domain.durations import format_duration
from domain.policy import Duration, Strict
from domain.process import InvalidEvent, Unavailable

MAX_SLOTS_SCANNED = 20_000  # a loop bound: three months of 5-minute slots
# A slot's arithmetic (reminders days before it, its local time in any timezone) must
# stay inside the calendar: a slot within a year of its edges is refused, not computed.
EARLIEST_SLOT = datetime(2, 1, 1, tzinfo=UTC)
LATEST_SLOT = datetime(9998, 12, 31, tzinfo=UTC)


class LocationPolicy(Strict):
    """A store or service centre: where it is served, on which calendar, how many per slot."""

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["store", "service_centre", "on_site"] = "store"
    calendar: str = Field(description="a calendar of calendars.yaml: the opening hours")
    team: str = Field(description="the team that serves it")
    slot_length: Duration = Field(description="ISO 8601, e.g. PT30M")
    capacity: int = Field(ge=1, le=1000, description="customers served at once per slot")

    @field_validator("slot_length")
    @classmethod
    def _sensible(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= timedelta(hours=12):
            raise ValueError("a slot lasts between PT5M and PT12H")
        if value % timedelta(minutes=1):
            raise ValueError("a slot lasts whole minutes")
        return value


def _day_windows(calendar: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """The opening windows of one local day, as aware UTC datetimes."""
    if not calendar.is_working_day(day):
        return []
    tz = calendar.tz
    if calendar.intervals is None:  # round the clock: the whole local day
        start = datetime.combine(day, time(0), tz)
        return [(start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))]
    return [(datetime.combine(day, begin, tz).astimezone(UTC),
             datetime.combine(day, end, tz).astimezone(UTC))
            for begin, end in calendar.intervals]


def day_slots(location: LocationPolicy, calendar: BusinessCalendar, day: date
              ) -> list[datetime]:
    """The start of every slot of one local day, in order (none on a closed day)."""
    found = []
    for open_at, close_at in _day_windows(calendar, day):
        start = open_at
        while start + location.slot_length <= close_at:
            found.append(start)
            start += location.slot_length
    return found


def is_slot(location: LocationPolicy, calendar: BusinessCalendar, start: datetime) -> bool:
    """Whether `start` begins one of the location's slots (open, aligned, whole)."""
    day = start.astimezone(calendar.tz).date()
    return start.astimezone(UTC) in day_slots(location, calendar, day)


def _slots_from(location: LocationPolicy, calendar: BusinessCalendar, moment: datetime,
                step: int) -> Iterator[datetime]:
    """Slots after `moment` (step 1) or before it (step -1), nearest first."""
    day = moment.astimezone(calendar.tz).date()
    for _ in range(400):  # days; a calendar that never opens yields nothing
        slots = day_slots(location, calendar, day)
        for start in (slots if step > 0 else reversed(slots)):
            if (start > moment) if step > 0 else (start < moment):
                yield start
        day += timedelta(days=step)


def nearest_free(
    location: LocationPolicy,
    calendar: BusinessCalendar,
    wanted: datetime,
    taken: Mapping[datetime, int],
    *,
    now: datetime,
    horizon: timedelta,
    count: int,
) -> list[datetime]:
    """Up to `count` free slots nearest to `wanted`, in time order, none before `now`.

    `taken` maps a slot's start (UTC) to the seats booked in it; a slot is looked for
    no later than `now + horizon`, so a fully booked location answers an empty list.
    """
    latest = now + horizon
    wanted = min(max(wanted, now), latest)

    def free(start: datetime) -> bool:
        return taken.get(start.astimezone(UTC), 0) < location.capacity

    later = filter(free, islice(takewhile(lambda s: s <= latest, _slots_from(
        location, calendar, wanted - timedelta(microseconds=1), 1)), MAX_SLOTS_SCANNED))
    earlier = filter(free, islice(takewhile(lambda s: s > now, _slots_from(
        location, calendar, wanted, -1)), MAX_SLOTS_SCANNED))
    found: list[datetime] = []
    nxt, prv = next(later, None), next(earlier, None)
    while len(found) < count and (nxt or prv):
        if prv is None or (nxt is not None and nxt - wanted <= wanted - prv):
            assert nxt is not None
            found.append(nxt)
            nxt = next(later, None)
        else:
            found.append(prv)
            prv = next(earlier, None)
    return sorted(found)


def check_slot_text(value: object, field_name: str) -> datetime:
    """A slot's start as sent (ISO 8601 with a timezone), as an aware UTC datetime."""
    if not isinstance(value, str):
        raise InvalidEvent(field_name, "an ISO 8601 date and time with its offset, e.g. "
                                       "2026-11-21T10:00:00+08:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(field_name, f"{value[:40]!r} is not an ISO 8601 date and time"
                           ) from None
    return as_utc(moment, field_name)


def as_utc(moment: datetime, field_name: str) -> datetime:
    """An aware moment in UTC; `InvalidEvent` if it is naive or off the calendar's edge."""
    if moment.tzinfo is None:
        raise InvalidEvent(field_name, "needs a timezone offset, e.g. +08:00")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
        utc = None
    if utc is None or not EARLIEST_SLOT <= utc <= LATEST_SLOT:
        raise InvalidEvent(field_name, "out of range: between the years 2 and 9998")
    return utc


def refuse(location_name: str, location: LocationPolicy, calendar: BusinessCalendar,
           start: datetime, taken: Mapping[datetime, int], *, field_name: str,
           now: datetime, horizon: timedelta, count: int) -> Unavailable | None:
    """Why `start` cannot be booked at the location, with the nearest free slots; None if
    it can. Closed or past slots are invalid (422); a full one is taken (409)."""
    zone = calendar.tz
    when = start.astimezone(zone).isoformat()
    if start <= now:
        reason, full = f"{when} has passed", False
    elif start > now + horizon:
        reason, full = (f"{when} is too far ahead: bookable up to {format_duration(horizon)} "
                        "ahead"), False
    elif not is_slot(location, calendar, start):
        reason, full = (f"{location.name} has no slot at {when}: it is closed then, or slots "
                        f"start every {_minutes(location.slot_length)} minutes from opening"), False
    elif taken.get(start.astimezone(UTC), 0) >= location.capacity:
        reason, full = (f"the slot at {when} at {location.name} is full "
                        f"({location.capacity} of {location.capacity} booked)"), True
    else:
        return None
    free = nearest_free(location, calendar, start, taken, now=now, horizon=horizon, count=count)
    return Unavailable(field_name, reason, taken=full, alternatives={
        "location": location_name,
        "nearest_free_slots": [s.astimezone(zone).isoformat() for s in free]})


def _minutes(length: timedelta) -> int:
    return int(length.total_seconds() // 60)
