"""Replay one recorded complaint under a policy set: pure, deterministic, no I/O.

The complaint opens as it did (its tier, team, first assignee and, unless the caller
chose it, its priority classified by the policies given), then its people's events are
applied in the order they happened. Between them, the timers the case would have had
fire at their due times, as the sweeper fires them: escalation rungs and auto-close.
Each timer fires at most once, as a stored timer does. An event the policies given
would not allow at that point (an acknowledgement of a rung that never fired, a
reply to a case already closed) is skipped and named in the outcome.

The assignment is not routed again (it depended on every case's load at the time), so
the replay keeps who was first given the case; reassignments by people and by the
ladder are replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.access import NotPermitted
from domain.calendars import BusinessCalendar
from domain.complaint import rules as complaint
from domain.complaint.classification import classify
from domain.escalation import step_due
from domain.policy import PolicySet
from domain.process import (
    CaseSnapshot,
    Decision,
    Event,
    IllegalTransition,
    InvalidEvent,
    TimelineEntry,
)
from domain.timers import ESCALATION, TimerSpec, plan_escalation_timers
from domain.whatif.history import RecordedCase, RecordedEvent
from domain.whatif.outcome import Outcome, Rung, clock_verdict

RUNG_ENTRIES = frozenset({"sla_warning", "escalated"})


class Unreplayable(ValueError):
    """A case the policies given cannot open (a priority they do not have)."""


@dataclass(frozen=True)
class Replayed:
    """A replay in full: the outcome, the case as it ends, and the timeline it wrote."""

    outcome: Outcome
    case: CaseSnapshot | None  # None when it could not be replayed
    timeline: tuple[tuple[datetime, TimelineEntry], ...]


def replay(case: RecordedCase, policies: PolicySet,
           calendars: Mapping[str, BusinessCalendar], *, until: datetime) -> Outcome:
    """The outcome `case` would have had by `until` under `policies`."""
    return replay_in_full(case, policies, calendars, until=until, keep_timeline=False).outcome


def replay_in_full(case: RecordedCase, policies: PolicySet,
                   calendars: Mapping[str, BusinessCalendar], *, until: datetime,
                   keep_timeline: bool = True) -> Replayed:
    """Replay `case` up to `until` under `policies`: its outcome, its end state and, with
    `keep_timeline`, every timeline entry the replay wrote with its moment."""
    try:
        opened = _open(case, policies, calendars)
    except Unreplayable as exc:
        return Replayed(Outcome(stage="", assignee=None, escalation_level=0, clocks={},
                                breached_at={}, rungs=(), unreplayable=str(exc)), None, ())
    run = _Run(case.id, policies, calendars, opened.after, keep_timeline)
    if run.timeline is not None:
        run.timeline += [(case.opened_at, entry) for entry in opened.timeline]
    for event in case.events:
        if event.at > until:
            break
        run.fire_due(event.at)
        run.apply(event)
    run.fire_due(until)
    return Replayed(run.outcome(until), run.snapshot, tuple(run.timeline or ()))


def _open(case: RecordedCase, policies: PolicySet,
          calendars: Mapping[str, BusinessCalendar]) -> Decision:
    policy = complaint.policy_of(policies)
    if case.requested and case.priority not in policy.priorities:
        raise Unreplayable(f"priority {case.priority!r}, chosen when it opened, is not among "
                           f"the policies' {policy.priorities}")
    verdict = classify(policy, tier=case.tier, channel=case.channel, category=case.category,
                       text=case.text, requested=case.priority if case.requested else None)
    return complaint.open_case(
        case_id=case.id, tier=case.tier, classification=verdict, team=case.team,
        assignee=case.assignee, channel=case.channel, category=case.category,
        actor=case.opened_by, policies=policies, now=case.opened_at, calendars=calendars)


class _Run:
    """One case being replayed: its snapshot, the timers spent and the rungs fired."""

    def __init__(self, case_id: int, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], snapshot: CaseSnapshot,
                 keep_timeline: bool) -> None:
        self.case_id, self.policies, self.calendars = case_id, policies, calendars
        self.snapshot = snapshot
        self.ladder = complaint.ladder(policies)
        self.spent: set[str] = set()  # timer keys fired or found stale: never again
        self.wanted: list[TimerSpec] | None = None  # the timers the case now wants
        self.rungs: list[Rung] = []
        self.skipped: list[str] = []
        self.timeline: list[tuple[datetime, TimelineEntry]] | None = (
            [] if keep_timeline else None)

    def next_timer(self, until: datetime) -> TimerSpec | None:
        """The earliest timer the case wants that is due by `until`, if any."""
        if self.wanted is None:  # planned again only once the case has changed
            self.wanted = (plan_escalation_timers(self.snapshot, self.ladder, self.calendars)
                           + complaint.process_timers(self.snapshot, self.policies))
        due = [spec for spec in self.wanted if spec.fire_at is not None
               and spec.fire_at <= until and spec.key not in self.spent]
        return min(due, key=lambda spec: (spec.fire_at, spec.key)) if due else None

    def fire_due(self, until: datetime) -> None:
        """Fire, in order, every timer that comes due by `until` (one may plan the next)."""
        while (spec := self.next_timer(until)) is not None:
            assert spec.fire_at is not None
            self.spent.add(spec.key)
            if spec.kind == ESCALATION:
                decision = step_due(self.snapshot, clock_name=spec.name,
                                    step_index=spec.step or 0, ladder=self.ladder,
                                    policies=self.policies, calendars=self.calendars,
                                    timer_key=spec.key, now=spec.fire_at,
                                    notify=False)
            else:
                decision = complaint.on_timer(self.snapshot, spec.name, self.policies,
                                              self.calendars, spec.fire_at)
            if decision is not None:
                self.take(decision, spec.fire_at)

    def apply(self, event: RecordedEvent) -> None:
        """Apply a person's event, or note it skipped when the policies refuse it now."""
        try:
            decision = complaint.TABLE.decide(
                self.snapshot, Event(event.type, event.actor, event.data, note=event.note,
                                     actor_kind=event.actor_kind),
                self.policies, self.calendars, event.at)
        except (IllegalTransition, InvalidEvent, NotPermitted):
            self.skipped.append(event.type)
            return
        self.take(decision, event.at)

    def take(self, decision: Decision, at: datetime) -> None:
        self.snapshot, self.wanted = decision.after, None
        if self.timeline is not None:
            self.timeline += [(at, entry) for entry in decision.timeline]
        for entry in decision.timeline:
            if entry.type in RUNG_ENTRIES:
                self.rungs.append(rung_of(entry.details))

    def outcome(self, as_of: datetime) -> Outcome:
        case = self.snapshot
        return Outcome(
            stage=case.stage, assignee=case.assignee, escalation_level=case.escalation_level,
            clocks={name: clock_verdict(clock, self.calendars[clock.calendar], as_of)
                    for name, clock in case.clocks.items()},
            breached_at={name: clock.breached_at for name, clock in case.clocks.items()},
            rungs=tuple(sorted(self.rungs)), skipped=tuple(self.skipped))


def rung_of(details: Mapping[str, object]) -> Rung:
    """The rung a warning or escalation entry records."""
    notified = details.get("notified")
    level = details.get("level")
    return Rung(clock=str(details.get("clock")), step=str(details.get("step")),
                level=level if isinstance(level, int) else 0,
                notified=tuple(str(p) for p in notified) if isinstance(notified, list) else ())
