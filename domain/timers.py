"""Which durable timers a case should have, derived from its clocks and stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.calendars import BusinessCalendar
from domain.policy import EscalationStep
from domain.process import CaseSnapshot

ESCALATION = "escalation"
PROCESS = "process"
# A process timer whose work is a batch run outside the case's transaction (a crisis's
# compensation): the sweeper hands it to the process adapter's `run_batch`.
BATCH = "batch"


@dataclass(frozen=True)
class TimerSpec:
    """A timer that should exist; `fire_at` is None while its clock is paused."""

    key: str
    kind: str
    name: str
    step: int | None
    fire_at: datetime | None


def escalation_key(case_id: int, clock: str, step: int) -> str:
    return f"{case_id}:{clock}:{step}"


def plan_escalation_timers(
    case: CaseSnapshot,
    ladder: Sequence[EscalationStep],
    calendars: Mapping[str, BusinessCalendar],
) -> list[TimerSpec]:
    """One timer per clock: its next rung, paused with the clock, absent once stopped."""
    specs = []
    for name, clock in case.clocks.items():
        if not clock.escalating or clock.steps_fired >= len(ladder):
            continue
        step = ladder[clock.steps_fired]
        fire_at = clock.moment_at_fraction(calendars[clock.calendar], step.at_percent / 100)
        specs.append(TimerSpec(
            key=escalation_key(case.id, name, clock.steps_fired),
            kind=ESCALATION, name=name, step=clock.steps_fired, fire_at=fire_at,
        ))
    return specs
