"""How a complaint ended up by a moment: stage, assignee, each clock's verdict, its rungs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.calendars import BusinessCalendar
from domain.clocks import Clock, ClockState


class Verdict(StrEnum):
    """A clock's standing, as the on-time rate counts it (core/kpis.py)."""

    met = "met"  # stopped within its target
    missed = "missed"  # breached, or running past its due time
    undecided = "undecided"  # running or paused, still within its target


def verdict(state: str, breached_at: datetime | None, due_at: datetime | None,
            as_of: datetime) -> Verdict:
    """A clock's verdict at `as_of` from its stored state, breach and due time."""
    if breached_at is not None:
        return Verdict.missed
    if state == ClockState.stopped:
        return Verdict.met
    if state == ClockState.running and due_at is not None and due_at <= as_of:
        return Verdict.missed
    return Verdict.undecided


def clock_verdict(clock: Clock, calendar: BusinessCalendar, as_of: datetime) -> Verdict:
    """A domain clock's verdict at `as_of`."""
    return verdict(clock.state, clock.breached_at, clock.due_at(calendar), as_of)


@dataclass(frozen=True, order=True)
class Rung:
    """One rung of a clock's ladder that fired: the level and who was told."""

    clock: str
    step: str
    level: int
    notified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What a case came to; two outcomes are equal when the case ended the same way."""

    stage: str
    assignee: str | None
    escalation_level: int
    clocks: Mapping[str, Verdict]
    breached_at: Mapping[str, datetime | None]
    rungs: tuple[Rung, ...]
    # Recorded events the candidate policies would not have allowed (by type), in order.
    skipped: tuple[str, ...] = ()
    # Why the case could not be replayed at all (a priority the candidate lacks).
    unreplayable: str | None = None

    def differences(self, other: Outcome) -> dict[str, Any]:
        """What differs from `other`, field by field: {field: [self's, other's]}."""
        fields = ("stage", "assignee", "escalation_level", "skipped", "unreplayable")
        found: dict[str, Any] = {
            name: [getattr(self, name), getattr(other, name)]
            for name in fields if getattr(self, name) != getattr(other, name)}
        for name in sorted(set(self.clocks) | set(other.clocks)):
            mine, theirs = self.clocks.get(name), other.clocks.get(name)
            if mine != theirs:
                found[f"clocks.{name}"] = [mine, theirs]
        if self.rungs != other.rungs:
            found["rungs"] = [[_rung_text(r) for r in self.rungs],
                              [_rung_text(r) for r in other.rungs]]
        return found


def _rung_text(rung: Rung) -> str:
    return f"{rung.clock}:{rung.step}"
