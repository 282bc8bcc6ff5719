"""Load cases as domain snapshots and persist domain decisions in one transaction.

`persist_decision` is the single write path: it updates the case row, rewrites the
clocks, appends the timeline, syncs the durable timers with what the case now needs
(cancelling the obsolete ones) and queues the notifications in the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from core.models import Case, CaseEvent, Customer, OutboxMessage, SlaClock, TeamMember, Timer
from domain.calendars import BusinessCalendar
from domain.clocks import Clock, ClockState
from domain.policy import EscalationStep, PolicySet, Tier
from domain.process import CaseSnapshot, CustomerContact, Decision
from domain.processes import definition
from domain.timers import TimerSpec, plan_escalation_timers

LIVE_TIMER_STATES = ("pending", "paused")


def snapshot_of(case: Case, clocks: list[SlaClock], customer: Customer | None = None
                ) -> CaseSnapshot:
    """The domain's view of a stored case (with the customer's contact, when given)."""
    assert case.id is not None
    return CaseSnapshot(
        id=case.id, process=case.process, stage=case.stage, priority=case.priority,
        tier=Tier(case.tier) if case.tier else None, team=case.team, assignee=case.assignee,
        opened_at=case.opened_at, stage_entered_at=case.stage_entered_at,
        escalation_level=case.escalation_level, resolved_count=case.resolved_count,
        category=case.category, channel=case.channel,
        clocks={row.name: clock_of(row) for row in clocks},
        customer=CustomerContact(name=customer.name, phone=customer.phone, email=customer.email)
        if customer is not None else None,
        data=dict(case.data),
    )


def clock_of(row: SlaClock) -> Clock:
    return Clock(
        name=row.name, calendar=row.calendar, target=timedelta(seconds=row.target_seconds),
        started_at=row.started_at, state=ClockState(row.state),
        elapsed=timedelta(seconds=row.elapsed_seconds), running_since=row.running_since,
        stopped_at=row.stopped_at, breached_at=row.breached_at, steps_fired=row.steps_fired,
        ladder_stopped_at=row.ladder_stopped_at,
    )


def load_case(session: Session, case_id: int, *, for_update: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def load_clocks(session: Session, case_id: int) -> list[SlaClock]:
    return list(session.exec(select(SlaClock).where(SlaClock.case_id == case_id)))


def persist_decision(
    session: Session,
    case: Case,
    clock_rows: list[SlaClock],
    decision: Decision,
    *,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    new_case: bool = False,
    case_timers: list[Timer] | None = None,
    appends: Appends | None = None,
) -> None:
    """Write one decision: case row, clocks, timeline, timers and outbox, in `session`.

    `new_case` says the case is being opened, so it has no timers to look up yet.
    `case_timers`, when given, are all the case's timer rows, already loaded (firing
    timers together); new timers are appended to it, so it stays complete. `appends`,
    when given, collects the timeline and outbox rows for the caller to insert together.
    """
    before, after = decision.before, decision.after
    assert case.id is not None
    case.stage, case.priority = after.stage, after.priority
    # A hand-off may move a case to another team or channel (a service-request transfer).
    case.team, case.channel = after.team, after.channel
    case.assignee, case.escalation_level = after.assignee, after.escalation_level
    case.resolved_count, case.stage_entered_at = after.resolved_count, after.stage_entered_at
    case.data = dict(after.data)
    case.updated_at = now
    case.version += 1
    process = definition(case.process)
    closing = after.stage in process.TABLE.final_stages
    if closing and case.closed_at is None:
        case.closed_at = now
    session.add(case)
    _adjust_load(session, before, after, process.TABLE.final_stages)

    ladder = process.ladder(policies)
    _write_clocks(session, case.id, case.process, clock_rows, after, ladder, calendars)
    events = [{"case_id": case.id, "type": entry.type, "actor": entry.actor,
               "actor_kind": entry.actor_kind.value, "at": now, "details": dict(entry.details)}
              for entry in decision.timeline]
    wanted = plan_escalation_timers(after, ladder, calendars)
    wanted += process.process_timers(after, policies)
    sync_timers(session, case.id, case.process, wanted, new_case=new_case, loaded=case_timers)
    messages = [{"key": notice.key, "case_id": case.id, "recipient": notice.recipient,
                 "role": notice.role, "subject": notice.subject, "body": notice.body,
                 "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
                for notice in decision.notices]
    if appends is not None:
        appends.events += events
        appends.messages += messages
    else:
        session.add_all([CaseEvent(**row) for row in events]
                        + [OutboxMessage(**row) for row in messages])


@dataclass
class Appends:
    """Timeline and outbox rows of many decisions, inserted with one statement each.

    A storm's chunk of escalation rungs writes thousands of them; building an ORM object
    for each cost more than the rest of the decision.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def insert(self, session: Session) -> None:
        """Insert what was collected, in the order the decisions were made."""
        if self.events:
            session.execute(insert(CaseEvent), self.events)
        if self.messages:
            session.execute(insert(OutboxMessage), self.messages)


def _write_clocks(
    session: Session,
    case_id: int,
    process: str,
    rows: list[SlaClock],
    after: CaseSnapshot,
    ladder: list[EscalationStep],
    calendars: Mapping[str, BusinessCalendar],
) -> None:
    by_name = {row.name: row for row in rows}
    warn_fraction = ladder[0].at_percent / 100
    for name, clock in after.clocks.items():
        row = by_name.get(name) or SlaClock(
            case_id=case_id, process=process, name=name, calendar=clock.calendar,
            target_seconds=0, state="", started_at=clock.started_at)
        calendar = calendars[clock.calendar]
        values = {
            # A case moved to another location moves its clocks to that calendar.
            "calendar": clock.calendar,
            "target_seconds": clock.target.total_seconds(),
            "elapsed_seconds": clock.elapsed.total_seconds(),
            "state": clock.state.value, "steps_fired": clock.steps_fired,
            "running_since": clock.running_since, "stopped_at": clock.stopped_at,
            "breached_at": clock.breached_at, "ladder_stopped_at": clock.ladder_stopped_at,
            "due_at": clock.due_at(calendar),
            "warn_at": clock.moment_at_fraction(calendar, warn_fraction),
        }
        # Only what changed: setting a mapped attribute is costly, and an escalation
        # storm rewrites thousands of clocks of which most fields stay as they were.
        for column, value in values.items():
            if getattr(row, column) != value:
                setattr(row, column, value)
        session.add(row)


def sync_timers(session: Session, case_id: int, process: str, wanted: list[TimerSpec], *,
                new_case: bool = False, loaded: list[Timer] | None = None) -> None:
    """Make the case's live timers match `wanted`: add, move, pause, revive or cancel.

    `loaded` is every timer row of the case when the caller has them (new ones are
    appended to it); otherwise they are read here.
    """
    if new_case:
        existing: dict[str, Timer] = {}
    elif loaded is not None:
        existing = {t.key: t for t in loaded}
    else:
        existing = {t.key: t for t in session.exec(select(Timer).where(Timer.case_id == case_id))}
    wanted_keys = {spec.key for spec in wanted}
    for key, timer in existing.items():
        if key not in wanted_keys and timer.status in LIVE_TIMER_STATES:
            timer.status = "cancelled"
            session.add(timer)
    for spec in wanted:
        timer = existing.get(spec.key)
        if timer is None:
            timer = Timer(key=spec.key, case_id=case_id, process=process, kind=spec.kind,
                          name=spec.name, step=spec.step, status="pending")
            if loaded is not None:
                loaded.append(timer)
        elif timer.status not in (*LIVE_TIMER_STATES, "cancelled"):
            continue  # claimed or fired: never scheduled twice
        timer.fire_at = spec.fire_at
        timer.status = "pending" if spec.fire_at is not None else "paused"
        session.add(timer)


def _adjust_load(session: Session, before: CaseSnapshot, after: CaseSnapshot,
                 final_stages: frozenset[str]) -> None:
    """Keep team members' open-case counts in step with assignment, transfer and closure."""
    closing = after.stage in final_stages
    moved = (after.assignee, after.team) != (before.assignee, before.team)
    was_open = before.stage not in final_stages and before.assignee
    if was_open and (closing or moved):
        _bump(session, before.team, before.assignee, -1)
    if not closing and after.assignee and moved:
        _bump(session, after.team, after.assignee, +1)


def _bump(session: Session, team: str, person: str | None, by: int) -> None:
    if person:
        session.execute(
            update(TeamMember)
            .where(col(TeamMember.team) == team, col(TeamMember.person) == person)
            .values(open_cases=TeamMember.open_cases + by)
        )
