"""SLA clocks: start, pause, resume, stop and retarget, measured in business time.

A clock keeps the business time it used before its current running segment
(`elapsed`) and when that segment began (`running_since`, None while paused or
stopped). Every due time is derived from those two and the calendar, so pausing
and resuming move the due times with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendars import BusinessCalendar
from domain.frozen import evolve


class ClockState(StrEnum):
    running = "running"
    paused = "paused"
    stopped = "stopped"


@dataclass(frozen=True)
class Clock:
    """One SLA clock of one case."""

    name: str
    calendar: str
    target: timedelta
    started_at: datetime
    state: ClockState = ClockState.running
    elapsed: timedelta = timedelta(0)
    running_since: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    # How many rungs of the escalation ladder have fired for this clock.
    steps_fired: int = 0
    # Set when someone acknowledged the escalation: no further rungs for this clock.
    ladder_stopped_at: datetime | None = None

    @property
    def escalating(self) -> bool:
        """Whether more rungs of the ladder may still fire for this clock."""
        return self.state is not ClockState.stopped and self.ladder_stopped_at is None

    def used(self, calendar: BusinessCalendar, now: datetime) -> timedelta:
        """Business time used so far."""
        if self.running_since is None:
            return self.elapsed
        return self.elapsed + calendar.between(self.running_since, now)

    def remaining(self, calendar: BusinessCalendar, now: datetime) -> timedelta:
        """Business time left before the target (negative once breached)."""
        return self.target - self.used(calendar, now)

    def moment_at_fraction(self, calendar: BusinessCalendar, fraction: float) -> datetime | None:
        """When the clock reaches `fraction` of its target, or None if it is not running.

        A fraction it had passed before it last resumed lies as far before the resumption,
        in business time, as the clock had gone past it: the moment it would have been
        reached had the clock run without the pause, so that, on a 24x7 calendar, the due
        time is always now plus what `remaining` says (negative once breached).
        """
        if self.running_since is None:
            return None
        still_to_run = self.target * fraction - self.elapsed
        if still_to_run <= timedelta(0):
            return calendar.subtract(self.running_since, -still_to_run)
        return calendar.add(self.running_since, still_to_run)

    def due_at(self, calendar: BusinessCalendar) -> datetime | None:
        """When the target is reached, or None if the clock is not running."""
        return self.moment_at_fraction(calendar, 1.0)

    def met(self, calendar: BusinessCalendar) -> bool | None:
        """For a stopped clock: whether it stopped within its target."""
        if self.state is not ClockState.stopped or self.stopped_at is None:
            return None
        return self.elapsed <= self.target


def start_clock(*, name: str, calendar: str, target: timedelta, now: datetime) -> Clock:
    """Start a clock at `now`."""
    return Clock(name=name, calendar=calendar, target=target, started_at=now, running_since=now)


def pause(clock: Clock, calendar: BusinessCalendar, now: datetime) -> Clock:
    """Pause a running clock, banking the business time it used."""
    if clock.state is not ClockState.running:
        return clock
    used = clock.used(calendar, now)
    breached_at = clock.breached_at
    if breached_at is None and used > clock.target:
        # Record the moment it overran now: once paused, its due time is gone.
        breached_at = clock.due_at(calendar)
    return evolve(clock, state=ClockState.paused, elapsed=used, running_since=None,
                  breached_at=breached_at)


def resume(clock: Clock, now: datetime) -> Clock:
    """Resume a paused or stopped clock from where it was."""
    if clock.state is ClockState.running:
        return clock
    return evolve(clock, state=ClockState.running, running_since=now, stopped_at=None)


def stop(clock: Clock, calendar: BusinessCalendar, now: datetime) -> Clock:
    """Stop a clock for good (until a reopen resumes it), recording when a late stop breached."""
    if clock.state is ClockState.stopped:
        return clock
    paused = pause(clock, calendar, now)
    return evolve(paused, state=ClockState.stopped, stopped_at=now)


def retarget(clock: Clock, target: timedelta) -> Clock:
    """Give a clock a new target; its due times follow."""
    return evolve(clock, target=target)
