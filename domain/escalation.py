"""Timed escalation: what happens when a rung of a clock's ladder comes due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from pydantic import Field

from domain.access import ActorKind, OwnEscalation
from domain.calendars import BusinessCalendar
from domain.clocks import ClockState
from domain.policy import EscalationStep, PolicySet, Role
from domain.privacy import disclose
from domain.process import (
    SYSTEM_ACTOR,
    CaseSnapshot,
    Decision,
    EventData,
    InvalidEvent,
    Notice,
    TimelineEntry,
)


def resolve_role(case: CaseSnapshot, role: Role, policies: PolicySet) -> str | None:
    """The person who holds `role` for this case (None when nobody does)."""
    if role is Role.assignee:
        return case.assignee
    team = policies.teams.get(case.team)
    return getattr(team, role.value) if team else None


class AcknowledgeEscalationData(EventData):
    """acknowledge_escalation (every process's)."""

    clock: str | None = Field(default=None, description="the clock whose ladder ends")


def acknowledge_escalation_hook(case, event, policies, calendars, now):
    """End `data.clock`'s ladder: no further rungs (every process's `acknowledge_escalation`).

    Never by the case's assignee: the ladder reports their lapse to those above them.
    """
    name = event.data.get("clock")
    clock = case.clocks.get(name) if isinstance(name, str) else None
    if clock is None:
        raise InvalidEvent("data.clock", f"must be one of the clocks {sorted(case.clocks)}")
    if case.assignee is not None and event.actor == case.assignee:
        raise OwnEscalation(event.actor, name)
    if clock.steps_fired == 0:
        raise InvalidEvent("data.clock", f"the {name} clock has not escalated yet")
    stopped = replace(clock, ladder_stopped_at=clock.ladder_stopped_at or now)
    return replace(case, clocks={**case.clocks, name: stopped}), {}


def step_due(
    case: CaseSnapshot,
    *,
    clock_name: str,
    step_index: int,
    ladder: Sequence[EscalationStep],
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    timer_key: str,
    now: datetime,
) -> Decision | None:
    """Fire rung `step_index` of a clock's ladder, or return None if the timer is stale:
    the clock is not running, the rung is not the next one, or the clock, as it now
    stands, has not reached it (an event moved its deadline while the timer waited)."""
    clock = case.clocks.get(clock_name)
    if clock is None or clock.state is not ClockState.running or not clock.escalating:
        return None
    if clock.steps_fired != step_index or step_index >= len(ladder):
        return None
    step = ladder[step_index]
    calendar = calendars[clock.calendar]
    if clock.used(calendar, now) < clock.target * (step.at_percent / 100):
        return None
    due_at = clock.due_at(calendar)
    breached_at = clock.breached_at
    if step.at_percent >= 100 and breached_at is None:
        breached_at = due_at
    recipients: dict[str, str] = {}
    for role in step.notify:
        person = resolve_role(case, role, policies)
        if person:
            recipients.setdefault(person, role.value)
    assignee = case.assignee
    if step.reassign_to is not None:
        assignee = resolve_role(case, step.reassign_to, policies) or assignee
    after = replace(
        case,
        assignee=assignee,
        escalation_level=max(case.escalation_level, step.level),
        clocks={**case.clocks, clock_name: replace(
            clock, steps_fired=step_index + 1, breached_at=breached_at)},
    )
    kind = "sla_warning" if step.level == 0 else "escalated"
    details = {
        "clock": clock_name,
        "step": step.name,
        "at_percent": step.at_percent,
        "level": step.level,
        "due_at": due_at.isoformat() if due_at else None,
        "notified": sorted(recipients),
    }
    if assignee != case.assignee:
        details["reassigned_from"], details["reassigned_to"] = case.assignee, assignee
    tier = f", tier {case.tier.value}" if case.tier else ""
    subject = (
        f"[{case.process} #{case.id}] {step.name}: {clock_name} at {step.at_percent}% "
        f"({case.priority}{tier})"
    )
    body = (
        f"Case {case.id} ({case.process}, {case.priority}) in stage {case.stage}: the "
        f"{clock_name} clock reached {step.at_percent}% of its target"
        + (f", due {due_at.isoformat()}" if due_at else "")
        + f". Escalation level {after.escalation_level}; assignee {assignee or 'none'}."
        + customer_line(case, policies)
    )
    notices = tuple(
        Notice(recipient=person, role=role, subject=subject, body=body,
               key=f"{timer_key}:{person}")
        for person, role in sorted(recipients.items())
    )
    entry = TimelineEntry(type=kind, actor=SYSTEM_ACTOR, details=details,
                          actor_kind=ActorKind.system)
    return Decision(before=case, after=after, timeline=(entry,), notices=notices)


def customer_line(case: CaseSnapshot, policies: PolicySet) -> str:
    """The customer's name and contact details, as the privacy policy lets staff see them."""
    if case.customer is None:
        return ""
    how = policies.privacy.notifications
    parts = [f"tier {case.tier.value}"] if case.tier else []
    for label, kind, value in (("phone", "phone", case.customer.phone),
                               ("e-mail", "email", case.customer.email)):
        shown = disclose(value, kind, how)
        if shown:
            parts.append(f"{label} {shown}")
    return f"\nCustomer: {case.customer.name or 'unnamed'} ({', '.join(parts)})."
