"""The process engine: a declared transition table and the pure `decide` step.

A process module declares its stages and a table of `Transition`s; `decide` takes a
case snapshot, an event, the policies and `now`, and returns a `Decision`: the case
as it should be afterwards, what goes on the timeline and who must be told. It never
touches a database or the network, so it is tested with plain builders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from domain import clocks as clock_ops
from domain.access import WORKERS, AccessRole, ActorKind, NotPermitted
from domain.calendars import BusinessCalendar
from domain.clocks import Clock
from domain.frozen import evolve
from domain.policy import PolicySet, Tier


class ClockOp(StrEnum):
    pause = "pause"
    resume = "resume"
    stop = "stop"


@dataclass(frozen=True)
class CustomerContact:
    """How to reach the customer; personal data, disclosed only as the policy allows."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class CaseSnapshot:
    """What the domain needs to know about a case."""

    id: int
    process: str
    stage: str
    priority: str
    tier: Tier | None  # the customer's tier; None for a process without a customer
    team: str
    assignee: str | None
    opened_at: datetime
    stage_entered_at: datetime
    escalation_level: int = 0
    resolved_count: int = 0
    category: str | None = None
    channel: str | None = None
    clocks: Mapping[str, Clock] = field(default_factory=dict)
    customer: CustomerContact | None = None  # loaded only where a message needs it
    subject: str | None = None  # what the case is about, as staff read it in messages
    # What a process keeps beyond the common columns (a PDCA cycle's plan and check).
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something that happened to a case, from a person, an integration or the system."""

    type: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    # True only for events the service itself raises (timers, flows), never for a client.
    by_system: bool = False
    actor_kind: ActorKind = ActorKind.person


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)
    actor_kind: ActorKind = ActorKind.person


@dataclass(frozen=True)
class Notice:
    """A message to one person, with a key that makes its delivery idempotent."""

    recipient: str
    role: str
    subject: str
    body: str
    key: str


@dataclass(frozen=True)
class Decision:
    """The outcome of an event or a timer: the case afterwards and its side effects."""

    before: CaseSnapshot
    after: CaseSnapshot
    timeline: tuple[TimelineEntry, ...] = ()
    notices: tuple[Notice, ...] = ()


# A hook adjusts the case for one event (reassign, change priority...) and may add details.
Hook = Callable[[CaseSnapshot, Event, PolicySet, Mapping[str, BusinessCalendar], datetime],
                tuple[CaseSnapshot, dict[str, Any]]]
# A guard reads the case's process data and says why the event cannot happen now (None:
# it can). Unlike a hook's data checks, it depends on the case alone, not on the event,
# so `allowed_events` evaluates it and lists only events that can succeed now.
Guard = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Transition:
    """One row of a transition table."""

    event: str
    sources: frozenset[str]
    target: str | None = None  # None keeps the stage
    clocks: tuple[tuple[str, ClockOp], ...] = ()
    hook: Hook | None = None
    system_only: bool = False  # only timers may send it (auto-close)
    roles: frozenset[AccessRole] = WORKERS  # who may send it
    # Declared outcomes when the hook picks the stage from the event's data (a call
    # reached or not): the hook's stage must be one of them. Excludes `target`.
    targets: frozenset[str] = frozenset()
    guard: Guard | None = None

    def refusal(self, data: Mapping[str, Any] | None) -> str | None:
        """Why the case (its process data) does not allow this event now; None if it does."""
        return None if self.guard is None or data is None else self.guard(data)


class IllegalTransition(Exception):
    """An event that the case's stage (or its state, `reason`) does not allow now."""

    def __init__(self, event: str, stage: str, allowed: list[str],
                 reason: str | None = None) -> None:
        super().__init__(f"event {event!r} is not allowed in stage {stage!r}"
                         + (f": {reason}" if reason else ""))
        self.event, self.stage, self.allowed, self.reason = event, stage, allowed, reason


class InvalidEvent(ValueError):
    """An allowed event whose data is wrong; `field` names what is wrong."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field, self.reason = field_name, reason


class Unavailable(InvalidEvent):
    """A well-formed request for something not to be had (a full or closed slot).

    `taken` says it exists but is taken now (HTTP 409) rather than never valid (422);
    `alternatives` says what could be had instead, for the caller to pick from. Any
    process can refuse this way: the API renders it without knowing the process.
    """

    def __init__(self, field_name: str, reason: str, *, taken: bool,
                 alternatives: Mapping[str, Any]) -> None:
        super().__init__(field_name, reason)
        self.taken, self.alternatives = taken, dict(alternatives)


SYSTEM_ACTOR = "system"
# The priority column's value for a process whose cases have no priority (cycles,
# follow-ups, service requests): messages show no priority for it.
UNRANKED = "normal"
# The key of a case's data that names the clocks waived (stopped, owed no more, neither
# met nor missed), each with who waived it, when and why.
WAIVED = "waived"


class EventData(BaseModel):
    """The data one kind of event takes from a client: each field's JSON type.

    A process declares one per event that takes data, beside its transition table
    (`TransitionTable.data`); it is checked before the transition, so a wrong type is
    refused naming `data.<field>` instead of failing inside a hook, and the API shows it.
    Types are strict (no "5" for 5) and every field may be left out: whether a field is
    required, and what its value may be (a known team, an open slot), the hook says, as
    it did before. Fields a model does not name are left to the hook too.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


def check_data(model: type[EventData], data: Mapping[str, Any]) -> None:
    """Raise `InvalidEvent` naming `data.<field>` if `data` does not fit `model`."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidEvent(".".join(["data", *map(str, error["loc"])]), error["msg"]) from None


@dataclass(frozen=True)
class TransitionTable:
    """The transitions of one process, looked up by (event, stage)."""

    stages: tuple[str, ...]
    final_stages: frozenset[str]
    transitions: tuple[Transition, ...]
    # The model of each event's data, by event type (events without one take any data).
    data: Mapping[str, type[EventData]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        unknown_events = set(self.data) - {t.event for t in self.transitions}
        if unknown_events:
            raise ValueError(f"data models for unknown events {sorted(unknown_events)}")
        known = set(self.stages)
        for t in self.transitions:
            unknown = (t.sources | t.targets | ({t.target} if t.target else set())) - known
            if unknown:
                raise ValueError(f"transition {t.event!r} names unknown stages {sorted(unknown)}")
            if t.targets and (t.target or t.hook is None):
                raise ValueError(f"transition {t.event!r}: targets need a hook and no target")

    def allowed_events(self, stage: str, *, include_system: bool = False,
                       role: AccessRole | None = None,
                       data: Mapping[str, Any] | None = None) -> list[str]:
        """The events a case in `stage` accepts (from `role`, when given); given the case's
        `data`, only those its guards allow now."""
        return sorted(
            {t.event for t in self.transitions
             if stage in t.sources and (include_system or not t.system_only)
             and (role is None or role in t.roles) and t.refusal(data) is None}
        )

    def roles_for(self, event_type: str) -> frozenset[AccessRole]:
        """The roles that may send `event_type` (empty for unknown or system-only events)."""
        return frozenset().union(*(t.roles for t in self.transitions
                                   if t.event == event_type and not t.system_only))

    def authorize(self, event_type: str, role: AccessRole) -> None:
        """Raise `NotPermitted` if `role` may never send `event_type`."""
        roles = self.roles_for(event_type)
        if roles and role not in roles:
            raise NotPermitted(f"send {event_type!r}", role, roles)

    def find(self, event: Event, stage: str,
             data: Mapping[str, Any] | None = None) -> Transition:
        """The transition `event` takes from `stage`, given the case's `data` (its guard)."""
        for t in self.transitions:
            if t.event == event.type and stage in t.sources:
                if t.system_only and not event.by_system:
                    break
                reason = t.refusal(data)
                if reason is not None:
                    raise IllegalTransition(event.type, stage,
                                            self.allowed_events(stage, data=data), reason)
                return t
        # Looked for only once no transition matched: most events do, and cost no sort.
        known = sorted({t.event for t in self.transitions})
        if event.type not in known:
            raise InvalidEvent("type", f"unknown event {event.type!r}; known events: {known}")
        raise IllegalTransition(event.type, stage, self.allowed_events(stage, data=data))

    def decide(
        self,
        case: CaseSnapshot,
        event: Event,
        policies: PolicySet,
        calendars: Mapping[str, BusinessCalendar],
        now: datetime,
    ) -> Decision:
        """Apply one event to a case: the new stage, the clock operations and the hook."""
        transition = self.find(event, case.stage, case.data)
        model = self.data.get(event.type)
        if model is not None and not event.by_system:
            check_data(model, event.data)
        after = case
        details: dict[str, Any] = dict(event.data)
        if transition.hook is not None:
            after, extra = transition.hook(after, event, policies, calendars, now)
            details.update(extra)
        new_clocks = dict(after.clocks)
        for name, op in transition.clocks:
            clock = new_clocks.get(name)
            if clock is None:
                continue
            calendar = calendars[clock.calendar]
            if op is ClockOp.pause:
                new_clocks[name] = clock_ops.pause(clock, calendar, now)
            elif op is ClockOp.resume:
                new_clocks[name] = clock_ops.resume(clock, now)
            else:
                new_clocks[name] = clock_ops.stop(clock, calendar, now)
        target = transition.target or case.stage
        if transition.targets:
            target = after.stage
            if target not in transition.targets:
                raise AssertionError(f"{event.type!r} hook chose undeclared stage {target!r}")
        after = evolve(
            after,
            stage=target,
            clocks=new_clocks,
            stage_entered_at=now if target != case.stage else case.stage_entered_at,
        )
        if event.note:
            details["note"] = event.note
        details.update({"stage_from": case.stage, "stage_to": target})
        kind = ActorKind.system if event.by_system else event.actor_kind
        entry = TimelineEntry(type=event.type, actor=event.actor, details=details, actor_kind=kind)
        return Decision(before=case, after=after, timeline=(entry,))
