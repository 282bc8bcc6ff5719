"""Read side: a case with its clocks and timeline, and filtered, paginated case lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, exists, func, or_
from sqlmodel import Session, col, select

from core.cases import Opened
from core.customers import GIVEN, contact_key
from domain.access import Identity
from domain.catalogue import definition
from domain.complaint import rules as complaint
from domain.process import WAIVED
from domain.service_request import rules as service_request
from engine.models import Case, CaseEvent, Customer, SlaClock, stored_id
from engine.store import clock_of

if TYPE_CHECKING:
    from core.runtime import Runtime

CONTACT_KINDS = ("phone", "email")  # a customer's contacts shown on a case
# The processes whose cases are opened with what a customer gave (and keep it in GIVEN).
OPENED_WITH_CONTACTS = frozenset({complaint.NAME, service_request.NAME})


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
    # The customer's contacts the reader may see (`known_contacts`); None: all of them.
    known: frozenset[tuple[str, str]] | None = None

    def contact(self, kind: str) -> str | None:
        """The customer's phone or e-mail, if the reader may see it."""
        value = getattr(self.customer, kind, None)
        if value is None or self.known is None or (kind, contact_key(kind, value)) in self.known:
            return value
        return None

    @property
    def withholds_contact(self) -> bool:
        """Whether the customer has a phone or e-mail the reader may not see (so far)."""
        return any(getattr(self.customer, kind, None) is not None and self.contact(kind) is None
                   for kind in CONTACT_KINDS)


def clock_views(process: str, rows: list[SlaClock], runtime: Runtime, now: datetime,
                waived: Mapping[str, Any] | None = None) -> list[ClockView]:
    """Each clock as a person reads it: due time, business time left, next rung; a clock
    `waived` names (case data) is neither met nor missed, and says who waived it, why."""
    waived = waived or {}
    ladder = definition(process).ladder(runtime.policies)
    views = []
    # In the order written (an opening's own rows, not read back, have no ids).
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
    return with_known_contacts(
        session, _view(case, customer, clocks, timeline, runtime, now, reader), reader)


def opened_view(opened: Opened, runtime: Runtime, now: datetime, reader: Identity
                ) -> CaseView:
    """A complaint just opened, from the rows its opening wrote (nothing read back); its
    customer's contacts as far as its request gave them (`with_known_contacts` for more)."""
    opening = opened.opening
    return _view(opening.case, opened.customer, opening.clocks, opening.timeline, runtime,
                 now, reader)


def _view(case: Case | Row[Any], customer: Customer | Row[Any] | None, clocks: list[Any],
          timeline: list[Any], runtime: Runtime, now: datetime, reader: Identity | None
          ) -> CaseView:
    allowed = definition(case.process).TABLE.allowed_events(
        case.stage, role=reader.role if reader else None, data=case.data or {})
    # At first, what this case's request gave: enough for most (a new customer's case).
    known = (_given(case.process, case.data)
             if reader is not None and reader.team_scoped else None)
    return CaseView(case=case, customer=customer,
                    clocks=clock_views(case.process, clocks, runtime, now,
                                       (case.data or {}).get(WAIVED)),
                    timeline=timeline, allowed_events=allowed, known=known)


def with_known_contacts(session: Session, view: CaseView, reader: Identity | None
                        ) -> CaseView:
    """`view` with every contact of its customer that `reader` may see, when its own
    case's request did not give them all."""
    if reader is None or view.customer is None or not view.withholds_contact:
        return view
    return replace(view, known=known_contacts(session, stored_id(view.customer), reader))


def known_contacts(session: Session, customer_id: int, reader: Identity
                   ) -> frozenset[tuple[str, str]] | None:
    """The customer's contacts (kind, `contact_key`) that `reader` may see; None: all.

    Managers and directors see them all (as the privacy policy masks them). An agent or
    a supervisor sees those that a case in their scope was given when it was opened: a
    case opened for a known customer, by their `ref` or one of their identities, reveals
    no stored phone, e-mail or messaging id that its request did not give.
    """
    if not reader.team_scoped:
        return None
    known: set[tuple[str, str]] = set()
    for process, data in session.exec(select(Case.process, Case.data).where(
            Case.customer_id == customer_id, *in_scope(reader))):
        given = _given(process, data)
        if given is None:
            return None
        known |= given
    return frozenset(known)


def _given(process: str, data: Mapping[str, Any]) -> frozenset[tuple[str, str]] | None:
    """The contacts a case was given when it was opened; None: all its customer's.

    A complaint or service request opened before cases kept them (`GIVEN`) shows every
    contact of its customer, as it did then; a case the service opened (a follow-up)
    was given none: its team knows the customer through the case it came from.
    """
    given = data.get(GIVEN)
    if given is None:
        return None if process in OPENED_WITH_CONTACTS else frozenset()
    return frozenset((kind, value) for kind, value in given)


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
    open: bool | None = None  # True: not closed; False: closed


def list_cases(
    session: Session, flt: CaseFilter, *, now: datetime, limit: int, before_id: int | None,
    reader: Identity | None = None,
) -> tuple[list[Case], int | None]:
    """Newest first, keyset-paginated; returns the page and the cursor for the next one.

    A team-scoped `reader` sees only their teams' cases and those assigned to them.
    """
    query = select(Case).where(*in_scope(reader), *case_conditions(flt, now))
    return newest_first(session, query, col(Case.id), limit=limit, before_id=before_id)


def count_cases(session: Session, flt: CaseFilter, *, now: datetime,
                reader: Identity | None = None) -> int:
    """How many cases `list_cases` would list over all its pages."""
    return sum(int(session.exec(select(func.count()).select_from(Case).where(
        *part, *case_conditions(flt, now))).one()) for part in scope_parts(reader))


def case_conditions(flt: CaseFilter, now: datetime | None) -> list[Any]:
    """The conditions on `Case` that `flt` sets (`now` judges breached and at risk)."""
    found: list[Any] = []
    for column, value in (("process", flt.process), ("stage", flt.stage),
                          ("priority", flt.priority), ("assignee", flt.assignee),
                          ("team", flt.team), ("category", flt.category)):
        if value is not None:
            found.append(getattr(Case, column) == value)
    if flt.opened_from is not None:
        found.append(col(Case.opened_at) >= flt.opened_from)
    if flt.opened_to is not None:
        found.append(col(Case.opened_at) < flt.opened_to)
    if flt.open is not None:
        found.append(col(Case.closed_at).is_(None) if flt.open
                     else col(Case.closed_at).is_not(None))
    for wanted, clock_condition in ((flt.breached, _breached), (flt.at_risk, _at_risk)):
        if wanted is None:
            continue
        if now is None:
            raise ValueError("the breached and at_risk filters need `now`")
        condition = exists().where(col(SlaClock.case_id) == Case.id, clock_condition(now))
        found.append(condition if wanted else ~condition)
    return found


def in_scope(reader: Identity | None) -> list[Any]:
    """Conditions on `Case` for the cases `reader` may read (their teams' and those
    assigned to them); none for a reader of every team, or for no reader."""
    if reader is None or not reader.team_scoped:
        return []
    return [or_(col(Case.team).in_(sorted(reader.teams)), col(Case.assignee) == reader.name)]


def scope_parts(reader: Identity | None) -> list[list[Any]]:
    """`reader`'s scope (`in_scope`) as disjoint parts, to count each apart
    and add up: a team-scoped reader's teams' cases, and the other cases assigned to
    them. Each part is found through an index, where SQLite would read every open case
    to test the scope's OR."""
    if reader is None or not reader.team_scoped:
        return [[]]
    teams = sorted(reader.teams)
    return [[col(Case.team).in_(teams)],
            [col(Case.assignee) == reader.name, col(Case.team).not_in(teams)]]


def unreadable_cases(session: Session, case_ids: Iterable[int], reader: Identity
                     ) -> str | None:
    """Why `reader` may not refer to `case_ids` (a finding's or a cycle's links): those
    they may not read, unknown ids among them, in one answer, so that a refusal does not
    tell which cases exist; None when they may read them all."""
    wanted = set(case_ids)
    if not wanted:
        return None
    readable = set(session.exec(select(Case.id).where(col(Case.id).in_(wanted),
                                                      *in_scope(reader))))
    hidden = sorted(wanted - readable)
    return f"no case you may read has the id {', '.join(map(str, hidden))}" if hidden else None


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
               and_(col(SlaClock.state) == "running", col(SlaClock.due_at) <= now))


def _at_risk(now: datetime) -> Any:
    return and_(col(SlaClock.state) == "running", col(SlaClock.breached_at).is_(None),
                col(SlaClock.warn_at) <= now, col(SlaClock.due_at) > now)
