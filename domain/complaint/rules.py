"""Complaint handling (seed 002 §3.3: identify → classify → respond → handle → feedback).

| event            | from                         | to                  | clocks                  |
|------------------|------------------------------|---------------------|-------------------------|
| open             | (new case)                   | new                 | start both              |
| classify (sys)   | new                          | classified          |                         |
| assign (sys)     | classified                   | assigned            |                         |
| acknowledge      | assigned                     | in_progress         | stop first_response     |
| wait_on_customer | in_progress                  | waiting_on_customer | pause resolution        |
| customer_replied | waiting_on_customer          | in_progress         | resume resolution       |
| resolve          | assigned, in_progress, w.o.c.| resolved            | stop both               |
| confirm          | resolved                     | closed              |                         |
| reject           | resolved                     | in_progress         | resume resolution       |
| auto_close (sys) | resolved                     | closed              |                         |
| withdraw         | any open stage               | closed              | stop both               |
| reassign         | any open stage               | (same)              |                         |
| change_priority  | assigned, in_progress, w.o.c.| (same)              | retarget both           |
| add_note         | any stage but closed         | (same)              |                         |
| ack_escalation   | any open stage               | (same)              | ends data.clock's ladder|

Who may send them (domain/access.py): agents and supervisors of the case's team send
the working events; only supervisors reassign (to a member of the case's team or its
supervisor, manager or director) and change the priority; managers and directors, as
escalation targets, add notes; supervisors, managers and directors acknowledge
escalations, though never on a case assigned to them.

ack_escalation is short for acknowledge_escalation. "Both" clocks are first_response
and resolution; w.o.c. is waiting_on_customer; an open stage is assigned, in_progress,
waiting_on_customer or resolved.

A complaint closes only when the customer accepts the outcome (客戶認可) or stays silent
for the policy's `auto_close_after`; a rejection reopens it and the resolution clock
resumes where it stopped. (sys) events are sent by the system, never by a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from domain import clocks as clock_ops
from domain.access import ESCALATION_TARGETS, LADDER_STOPPERS, SUPERVISORS, ActorKind
from domain.calendars import BusinessCalendar
from domain.complaint.classification import Classification
from domain.complaint.routing import assignable
from domain.durations import format_duration
from domain.escalation import AcknowledgeEscalationData, acknowledge_escalation_hook
from domain.frozen import evolve
from domain.policy import ComplaintPolicy, EscalationStep, PolicySet, Tier
from domain.process import (
    SYSTEM_ACTOR,
    CaseSnapshot,
    ClockOp,
    Decision,
    Event,
    EventData,
    InvalidEvent,
    TimelineEntry,
    Transition,
    TransitionTable,
)
from domain.timers import PROCESS, TimerSpec

NAME = "complaint"
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
MAX_PERSON_LENGTH = 120
OPEN_STAGES = frozenset({"assigned", "in_progress", "waiting_on_customer", "resolved"})
WORKING_STAGES = frozenset({"assigned", "in_progress", "waiting_on_customer"})
STOP_BOTH = ((FIRST_RESPONSE, ClockOp.stop), (RESOLUTION, ClockOp.stop))


def policy_of(policies: PolicySet) -> ComplaintPolicy:
    return policies.complaint


def ladder(policies: PolicySet) -> list[EscalationStep]:
    return list(policies.complaint.escalation)


def targets_for(policy: ComplaintPolicy, priority: str, tier: Tier) -> dict[str, timedelta]:
    """Each clock's target for a priority, tightened by the customer's tier."""
    factor = policy.tiers[tier].target_factor if tier in policy.tiers else 1.0
    return {name: clock.targets[priority] * factor for name, clock in policy.clocks.items()}


def reassign_hook(case, event, policies, calendars, now):
    """Hand the case to `data.assignee`, someone of its team or above it (shared by
    processes with a reassign event)."""
    given = event.data.get("assignee")
    assignee = given.strip() if isinstance(given, str) else ""
    if not assignee:
        raise InvalidEvent("data.assignee", "the person to assign is required")
    if len(assignee) > MAX_PERSON_LENGTH:
        raise InvalidEvent("data.assignee", f"at most {MAX_PERSON_LENGTH} characters")
    # Only someone the policies know is told of the case and answers for it.
    allowed = assignable(case.team, policies)
    if assignee not in allowed:
        raise InvalidEvent("data.assignee", f"{assignee!r} is not a member of team "
                           f"{case.team!r} nor above it; who may be assigned: {allowed}")
    return evolve(case, assignee=assignee), {"reassigned_from": case.assignee}


def _change_priority(case, event, policies, calendars, now):
    policy = policy_of(policies)
    priority = event.data.get("priority")
    if priority not in policy.priorities:
        raise InvalidEvent("data.priority", f"must be one of {policy.priorities}")
    targets = targets_for(policy, priority, case.tier or Tier.C)
    new_clocks = {
        name: clock_ops.retarget(clock, targets[name]) if name in targets else clock
        for name, clock in case.clocks.items()
    }
    return evolve(case, priority=priority, clocks=new_clocks), {"priority_from": case.priority}


def _resolve(case, event, policies, calendars, now):
    return evolve(case, resolved_count=case.resolved_count + 1), {}


class ReassignData(EventData):
    """reassign (every process's)."""

    assignee: str | None = Field(default=None, description="the person to hand the case to")


class ChangePriorityData(EventData):
    priority: str | None = Field(default=None, description="one of the policy's priorities")


TABLE = TransitionTable(
    stages=("new", "classified", "assigned", "in_progress", "waiting_on_customer",
            "resolved", "closed"),
    final_stages=frozenset({"closed"}),
    transitions=(
        Transition("classify", frozenset({"new"}), "classified", system_only=True),
        Transition("assign", frozenset({"classified"}), "assigned", system_only=True),
        Transition("acknowledge", frozenset({"assigned"}), "in_progress",
                   clocks=((FIRST_RESPONSE, ClockOp.stop),)),
        Transition("wait_on_customer", frozenset({"in_progress"}), "waiting_on_customer",
                   clocks=((RESOLUTION, ClockOp.pause),)),
        Transition("customer_replied", frozenset({"waiting_on_customer"}), "in_progress",
                   clocks=((RESOLUTION, ClockOp.resume),)),
        Transition("resolve", WORKING_STAGES, "resolved", clocks=STOP_BOTH, hook=_resolve),
        Transition("confirm", frozenset({"resolved"}), "closed"),
        Transition("reject", frozenset({"resolved"}), "in_progress",
                   clocks=((RESOLUTION, ClockOp.resume),)),
        Transition("auto_close", frozenset({"resolved"}), "closed", system_only=True),
        Transition("withdraw", OPEN_STAGES, "closed", clocks=STOP_BOTH),
        Transition("reassign", OPEN_STAGES, hook=reassign_hook, roles=SUPERVISORS),
        Transition("change_priority", WORKING_STAGES, hook=_change_priority, roles=SUPERVISORS),
        Transition("add_note", OPEN_STAGES | {"new", "classified"}, roles=ESCALATION_TARGETS),
        Transition("acknowledge_escalation", OPEN_STAGES, hook=acknowledge_escalation_hook,
                   roles=LADDER_STOPPERS),
    ),
    data={"reassign": ReassignData, "change_priority": ChangePriorityData,
          "acknowledge_escalation": AcknowledgeEscalationData},
)


def open_case(
    *,
    case_id: int,
    tier: Tier,
    classification: Classification,
    team: str,
    assignee: str,
    channel: str | None,
    category: str | None,
    actor: str,
    policies: PolicySet,
    now: datetime,
    calendars: Mapping[str, BusinessCalendar],
    actor_kind: ActorKind = ActorKind.person,
    data: Mapping[str, Any] | None = None,
) -> Decision:
    """Open a complaint: start its clocks, classify it and assign it, all on the timeline.

    `data` links it to what caused it (a recovery case names its complaint and survey).
    """
    policy = policy_of(policies)
    targets = targets_for(policy, classification.priority, tier)
    started = {
        name: clock_ops.start_clock(
            name=name, calendar=policy.clocks[name].calendar, target=targets[name], now=now)
        for name in policy.clocks
    }
    new = CaseSnapshot(
        id=case_id, process=NAME, stage="new", priority=classification.priority, tier=tier,
        team=team, assignee=None, opened_at=now, stage_entered_at=now, category=category,
        channel=channel, clocks=started, data=dict(data or {}),
    )
    classified = TABLE.decide(
        new, Event("classify", SYSTEM_ACTOR, {"priority": classification.priority,
                                              "reason": classification.reason}, by_system=True),
        policies, calendars, now)
    assigned = TABLE.decide(
        classified.after,
        Event("assign", SYSTEM_ACTOR, {"team": team, "assignee": assignee}, by_system=True),
        policies, calendars, now)
    after = evolve(assigned.after, assignee=assignee)
    opened = TimelineEntry("opened", actor, {
        "channel": channel, "category": category, "tier": tier.value,
        "targets": {name: format_duration(t) for name, t in targets.items()}, **(data or {}),
    }, actor_kind)
    return Decision(before=new, after=after,
                    timeline=(opened, *classified.timeline, *assigned.timeline))


def process_timers(case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]:
    """The auto-close timer while the case waits for the customer's confirmation."""
    if case.stage != "resolved":
        return []
    fire_at = case.stage_entered_at + policy_of(policies).auto_close_after
    return [TimerSpec(key=f"{case.id}:auto_close:{case.resolved_count}", kind=PROCESS,
                      name="auto_close", step=None, fire_at=fire_at)]


def on_timer(
    case: CaseSnapshot,
    name: str,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    facts: Mapping[str, Any] | None = None,
) -> Decision | None:
    """A process timer came due: auto-close a resolved complaint the customer left silent."""
    if name != "auto_close" or case.stage != "resolved":
        return None
    silence: dict[str, Any] = {"silent_for": format_duration(policy_of(policies).auto_close_after)}
    return TABLE.decide(case, Event("auto_close", SYSTEM_ACTOR, silence, by_system=True),
                        policies, calendars, now)
