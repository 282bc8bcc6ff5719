"""Read side: a case with its clocks and timeline, and filtered, paginated case lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, exists, or_
from sqlmodel import Session, col, select

from core.cases import Opened
from core.models import Case, CaseEvent, Customer, SlaClock
from core.runtime import Runtime
from core.store import clock_of
from domain.access import Identity
from domain.process import WAIVED
from domain.processes import definition


@dataclass(frozen=True)
class ClockView:
    name: str
    calendar: str
    state: str
    target: timedelta
    started_at: datetime
    due_at: datetime | None
    remaining: timedelta
    breached: bool
    breached_at: datetime | None
    met: bool | None
    next_escalation: dict[str, Any] | None
    waived: dict[str, Any] | None = None


@dataclass(frozen=True)
class CaseView:
    """A case to show; models when read, or the rows just written (same attributes)."""

    case: Case | Row[Any]
    customer: Customer | Row[Any] | None
    clocks: list[ClockView]
    timeline: list[CaseEvent] | list[Row[Any]]
    allowed_events: list[str]


def clock_views(process: str, rows: list[SlaClock], runtime: Runtime, now: datetime,
                waived: Mapping[str, Any] | None = None) -> list[ClockView]:
    """Each clock as a person reads it: due time, business time left, next rung; a clock
    `waived` names (case data) is neither met nor missed, and says who waived it, why."""
    waived = waived or {}
    ladder = definition(process).ladder(runtime.policies)
    views = []
    for row in sorted(rows, key=lambda r: r.id or 0):
        clock = clock_of(row)
        calendar = runtime.calendars[clock.calendar]
        remaining = clock.remaining(calendar, now)
        due_at = clock.due_at(calendar)
        breached = clock.breached_at is not None or remaining < timedelta(0)
        next_step = None
        if clock.escalating and clock.steps_fired < len(ladder):
            step = ladder[clock.steps_fired]
            next_step = {
                "name": step.name, "at_percent": step.at_percent, "level": step.level,
                "notify": [r.value for r in step.notify],
                "fire_at": clock.moment_at_fraction(calendar, step.at_percent / 100),
            }
        views.append(ClockView(
            name=clock.name, calendar=clock.calendar, state=clock.state.value,
            target=clock.target, started_at=clock.started_at, due_at=due_at,
            remaining=remaining, breached=breached, breached_at=clock.breached_at,
            met=None if clock.name in waived else clock.met(calendar),
            next_escalation=next_step, waived=waived.get(clock.name),
        ))
    return views


def get_case(session: Session, case_id: int, runtime: Runtime, now: datetime,
             reader: Identity | None = None, *, scoped: bool = True) -> CaseView | None:
    """A case as `reader` sees it; None if it does not exist or lies outside their scope.

    `scoped=False` skips the scope check (the answer to opening a case), not the role's
    view of the events it may send.
    """
    case = session.get(Case, case_id)
    if case is None:
        return None
    if reader and scoped and not reader.sees(team=case.team, assignee=case.assignee):
        return None
    customer = session.get(Customer, case.customer_id) if case.customer_id else None
    clocks = list(session.exec(select(SlaClock).where(SlaClock.case_id == case_id)))
    timeline = list(session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))))
    return _view(case, customer, clocks, timeline, runtime, now, reader)


def opened_view(opened: Opened, runtime: Runtime, now: datetime, reader: Identity
                ) -> CaseView:
    """A complaint just opened, from the rows its opening wrote (nothing read back)."""
    opening = opened.opening
    return _view(opening.case, opened.customer, opening.clocks, opening.timeline, runtime,
                 now, reader)


def _view(case: Case | Row[Any], customer: Customer | Row[Any] | None, clocks: list[Any],
          timeline: list[Any], runtime: Runtime, now: datetime, reader: Identity | None
          ) -> CaseView:
    allowed = definition(case.process).TABLE.allowed_events(
        case.stage, role=reader.role if reader else None, data=case.data or {})
    return CaseView(case=case, customer=customer,
                    clocks=clock_views(case.process, clocks, runtime, now,
                                       (case.data or {}).get(WAIVED)), timeline=timeline,
                    allowed_events=allowed)


@dataclass(frozen=True)
class CaseFilter:
    process: str | None = None
    stage: str | None = None
    priority: str | None = None
    assignee: str | None = None
    team: str | None = None
    category: str | None = None
    breached: bool | None = None
    at_risk: bool | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


def list_cases(
    session: Session, flt: CaseFilter, *, now: datetime, limit: int, before_id: int | None,
    reader: Identity | None = None,
) -> tuple[list[Case], int | None]:
    """Newest first, keyset-paginated; returns the page and the cursor for the next one.

    A team-scoped `reader` sees only their teams' cases and those assigned to them.
    """
    query = select(Case)
    if reader is not None and reader.team_scoped:
        query = query.where(or_(col(Case.team).in_(sorted(reader.teams)),
                                Case.assignee == reader.name))
    for column, value in (("process", flt.process), ("stage", flt.stage),
                          ("priority", flt.priority), ("assignee", flt.assignee),
                          ("team", flt.team), ("category", flt.category)):
        if value is not None:
            query = query.where(getattr(Case, column) == value)
    if flt.opened_from is not None:
        query = query.where(col(Case.opened_at) >= flt.opened_from)
    if flt.opened_to is not None:
        query = query.where(col(Case.opened_at) < flt.opened_to)
    if flt.breached is not None:
        condition = exists().where(SlaClock.case_id == Case.id, _breached(now))
        query = query.where(condition if flt.breached else ~condition)
    if flt.at_risk is not None:
        condition = exists().where(SlaClock.case_id == Case.id, _at_risk(now))
        query = query.where(condition if flt.at_risk else ~condition)
    return newest_first(session, query, col(Case.id), limit=limit, before_id=before_id)


def newest_first(session: Session, query: Any, id_column: Any, *, limit: int,
                 before_id: int | None) -> tuple[list[Any], int | None]:
    """One page of `query`, newest first by `id_column`, and the cursor for the next page."""
    if before_id is not None:
        query = query.where(id_column < before_id)
    rows = list(session.exec(query.order_by(id_column.desc()).limit(limit + 1)))
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit and page else None


def _breached(now: datetime) -> Any:
    return or_(col(SlaClock.breached_at).is_not(None),
               and_(SlaClock.state == "running", col(SlaClock.due_at) <= now))


def _at_risk(now: datetime) -> Any:
    return and_(SlaClock.state == "running", col(SlaClock.breached_at).is_(None),
                col(SlaClock.warn_at) <= now, col(SlaClock.due_at) > now)
