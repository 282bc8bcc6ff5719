"""Supervisors' worklists: each team's overview, the queue by what breaches next, the
load per person, and the counts behind a case list's filters.

Every function reads only what `reader` may read through the API (`core.queries.in_scope`)
and counts in SQL: no case row is loaded but the ones a page shows.

Words as used here:
- *overdue*: a running clock past its due time (breached, whether or not the sweeper
  has fired its breach rung yet);
- *at risk*: a running clock not yet due that is due within a horizon (the overview), or
  past its warning (the workload, as `GET /cases?at_risk=true`);
- *on time*, over cases: a case opened in the period with at least one decided on-time
  clock (`core.kpis.ON_TIME_CLOCKS`) and none missed; the rate's denominator is cases,
  never clocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, false, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from core.kpis import ON_TIME_CLOCKS, clock_met, clock_missed, count_if
from core.queries import (
    CaseFilter,
    ClockView,
    case_conditions,
    clock_views,
    in_scope,
    scope_parts,
)
from domain.access import Identity
from domain.complaint import rules as complaint
from domain.kpi_definitions import ON_TIME
from engine.db import select_rows
from engine.models import Case, SlaClock

if TYPE_CHECKING:
    from core.runtime import Runtime

ON_TIME_TARGET: float = ON_TIME.target or 0.95  # of complaints on time (seed 002 §1.3)
DEFAULT_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class CaseRate:
    """Cases on time out of the cases decided (both counts are cases)."""

    on_time: int
    decided: int

    @property
    def rate(self) -> float | None:
        return self.on_time / self.decided if self.decided else None


@dataclass(frozen=True)
class TeamOverview:
    """One team's day: open cases, at risk within the horizon, breached since local
    midnight, and its on-time rates today and this week against the target."""

    team: str
    timezone: str
    open: int
    at_risk: int
    breached_today: int
    on_time_today: CaseRate
    on_time_week: CaseRate
    target: float = ON_TIME_TARGET


@dataclass(frozen=True)
class NextRung:
    """The next escalation step of a clock, and the people it will reach."""

    name: str
    level: int
    at: datetime | None  # None while the clock is paused
    notify: list[str]  # roles
    reaches: list[str]  # people, as the case's team names them


@dataclass(frozen=True)
class SlaSummary:
    """What a row of a case list says about a case's deadlines: its most pressing clock."""

    clock: str
    due_at: datetime | None
    time_left: timedelta | None  # business time left, while not breached
    overdue_by: timedelta | None  # business time past due, once breached
    breached: bool
    paused: bool
    escalation_level: int
    next_rung: NextRung | None


@dataclass(frozen=True)
class QueueRow:
    case: Case
    sla: SlaSummary | None  # None: no clock at all (a case of a process without SLAs)


@dataclass(frozen=True)
class QueueKey:
    """Where a case stands in the queue, to page on after it (keyset paging).

    A case with a due time stands at its soonest running clock's (due time, clock id);
    one without (paused, or no clock) after all of those, at its (opening, case id).
    """

    due: bool  # among the cases with a due time
    at: datetime  # the soonest clock's due time, or the case's opening
    id: int  # that clock's id, or the case's


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int  # the open cases the filter selects, on every page
    after: QueueKey | None = None  # where the next page starts; None: this is the last


@dataclass(frozen=True)
class PersonLoad:
    """One assignee's open cases; None for the cases nobody is assigned."""

    assignee: str | None
    open: int
    at_risk: int
    breached: int
    oldest_case_id: int
    oldest_opened_at: datetime


@dataclass(frozen=True)
class Facets:
    """How many cases a filter selects, and how they spread over each dimension."""

    total: int
    team: dict[str, int]
    assignee: dict[str | None, int]
    process: dict[str, int]
    priority: dict[str, int]
    stage: dict[str, int]


FACET_DIMENSIONS = ("team", "assignee", "process", "priority", "stage")
# The same, in the order of the cases' index that counts them (engine.models.Case).
FACETS_INDEXED = ("team", "process", "stage", "priority", "assignee")


def team_zone(runtime: Runtime, team: str) -> ZoneInfo:
    """The timezone a team's day runs in (its policy's; the service's default otherwise)."""
    policy = runtime.policies.teams.get(team)
    return ZoneInfo(policy.timezone if policy is not None else DEFAULT_ZONE)


def local_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of `now`'s day in `zone`, as an aware datetime."""
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def week_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 of `now`'s week in `zone`."""
    midnight = local_midnight(now, zone)
    start = (midnight.replace(tzinfo=None) - timedelta(days=midnight.weekday()))
    return start.replace(tzinfo=zone)


def readable_teams(reader: Identity, runtime: Runtime) -> list[str]:
    """The teams whose figures `reader` may see: their own, or every team configured."""
    if reader.team_scoped:
        return sorted(reader.teams)
    return sorted(runtime.policies.teams)


def _count(session: Session, reader: Identity, conditions: Sequence[Any]) -> int:
    """How many cases in `reader`'s scope meet `conditions`."""
    return sum(int(session.exec(select(func.count()).select_from(Case)
                                .where(*conditions, *part)).one())
               for part in scope_parts(reader))


# --- overview -------------------------------------------------------------------------


def overview(session: Session, reader: Identity, runtime: Runtime, now: datetime,
             horizon: timedelta) -> list[TeamOverview]:
    """Each team in `reader`'s scope: open, at risk within `horizon`, breached today
    (since the team's local midnight) and the on-time rates of today and this week."""
    teams = readable_teams(reader, runtime)
    if not teams:
        return []
    # Only the readable teams' cases are counted, all within the reader's scope.
    scope: list[Any] = []
    team_col = col(Case.team)
    open_counts = dict(session.exec(
        select(team_col, func.count()).where(
            team_col.in_(teams), col(Case.closed_at).is_(None), *scope)
        .group_by(team_col)).all())
    # Not yet due is not yet breached: no test of breached_at, which would tempt SQLite
    # to read every clock never breached.
    at_risk = _distinct_cases_by(session, team_col, [
        team_col.in_(teams), col(Case.closed_at).is_(None), *scope,
        col(SlaClock.state) == "running", col(SlaClock.due_at) > now,
        col(SlaClock.due_at) <= now + horizon])
    # Teams whose days start at the same moment are counted together.
    by_zone: dict[str, list[str]] = {}
    for team in teams:
        by_zone.setdefault(str(team_zone(runtime, team)), []).append(team)
    breached: dict[str, int] = {}
    today: dict[str, CaseRate] = {}
    week: dict[str, CaseRate] = {}
    for zone_name, zone_teams in by_zone.items():
        zone = ZoneInfo(zone_name)
        midnight = local_midnight(now, zone)
        these = [team_col.in_(zone_teams), *scope]
        breached.update(_breached_since(session, these, midnight, now))
        rates = _on_time_by(session, team_col, [
            *these, col(Case.process) == complaint.NAME,
            col(Case.opened_at) >= week_start(now, zone), col(Case.opened_at) <= now],
            now, today_from=midnight)
        for team, (of_week, of_today) in rates.items():
            week[team], today[team] = of_week, of_today
    none = CaseRate(0, 0)
    return [TeamOverview(
        team=team, timezone=str(team_zone(runtime, team)),
        open=int(open_counts.get(team, 0)), at_risk=at_risk.get(team, 0),
        breached_today=breached.get(team, 0), on_time_today=today.get(team, none),
        on_time_week=week.get(team, none)) for team in teams]


def _distinct_cases_by(session: Session, group: Any, conditions: Sequence[Any]
                       ) -> dict[Any, int]:
    """Cases (not clocks) with a clock meeting `conditions`, counted per `group`."""
    query = (select(group, func.count(func.distinct(col(Case.id))))
             .select_from(SlaClock).join(Case, col(Case.id) == col(SlaClock.case_id))
             .where(*conditions).group_by(group))
    return {key: int(count) for key, count in session.exec(query)}


def _breached_since(session: Session, conditions: list[Any], since: datetime,
                    now: datetime) -> dict[str, int]:
    """Per team, the cases with a clock that breached in [since, now], recorded by the
    sweeper or not yet (a running clock that passed its due time in that span)."""
    breached = or_(
        and_(col(SlaClock.breached_at) >= since, col(SlaClock.breached_at) <= now),
        and_(col(SlaClock.state) == "running", col(SlaClock.due_at) >= since,
             col(SlaClock.due_at) <= now))
    return _distinct_cases_by(session, col(Case.team), [*conditions, breached])


def _on_time_by(session: Session, group: Any, conditions: Sequence[Any], now: datetime,
                today_from: datetime | None = None) -> dict[Any, tuple[CaseRate, CaseRate]]:
    """Per `group`, among the cases meeting `conditions`, those decided (an on-time
    clock met or missed by `now`) and those on time (decided, and no clock missed):
    cases, not clocks; again for those opened from `today_from`, if given.

    One pass over the cases, each case's on-time clocks folded into two flags (any
    missed, any met) by two lookups of its clocks, then the cases counted per group.
    """
    missed_clock, met_clock = clock_missed(now), clock_met()
    its_clocks = [col(SlaClock.case_id) == col(Case.id), col(SlaClock.name).in_(ON_TIME_CLOCKS)]

    def judged(*clock_conditions: Any) -> Any:
        # OFFSET 0 keeps each test a lookup of this case's clocks: PostgreSQL may
        # otherwise hash every clock the test selects first (every missed clock of a
        # year, 300,000 on 1,000,000 cases) to look a week's cases up in.
        return select_rows(literal(1)).where(*its_clocks, *clock_conditions).offset(0).exists()

    # OFFSET 0 keeps the store from merging the per-case rows into the sums, where each
    # case's missed and met would be judged again for each sum that names them:
    # PostgreSQL looked each week's complaint's clocks up four times, not once.
    per_case = select_rows(
        group.label("grp"), col(Case.opened_at).label("opened_at"),
        judged(missed_clock).label("missed"), judged(met_clock).label("met"),
    ).where(*conditions).offset(0).subquery()
    missed, met = per_case.c.missed, per_case.c.met
    decided = or_(missed, met)
    on_time = and_(~missed, met)
    today = per_case.c.opened_at >= today_from if today_from is not None else false()
    query = select_rows(per_case.c.grp, count_if(on_time), count_if(decided),
                        count_if(and_(on_time, today)), count_if(and_(decided, today))
                        ).group_by(per_case.c.grp)
    return {key: (CaseRate(int(met), int(all_)), CaseRate(int(met_today), int(all_today)))
            for key, met, all_, met_today, all_today in session.exec(query)}


def cases_on_time(session: Session, conditions: Sequence[Any], now: datetime) -> CaseRate:
    """Among the cases meeting `conditions`, those decided (an on-time clock met or
    missed by `now`) and those on time (decided, and no clock missed): cases, not clocks.

    A case whose first response was met and whose resolution still runs within its
    target counts on time so far; once any of its clocks is missed, it is late.
    """
    rates = _on_time_by(session, literal(1), conditions, now)
    return rates[1][0] if rates else CaseRate(0, 0)


# --- queue ----------------------------------------------------------------------------


# Up to this many matching open cases, the store sorts them by their soonest due time;
# beyond, the running clocks are walked in due order until the page is full, which
# reads about (page end) x (open cases / matching ones) clocks, whatever the store holds.
SORT_IN_STORE_UP_TO = 2_000
WALK_BATCH = 500  # running clocks read at a time by the walk


def queue(session: Session, reader: Identity, runtime: Runtime, now: datetime,
          flt: CaseFilter, *, limit: int, offset: int = 0, after: QueueKey | None = None
          ) -> QueuePage:
    """Open cases by what breaches next: the most overdue first, then the soonest due;
    cases with no running clock (paused, or none) last, oldest first. Closed cases are
    left out. Each row carries its SLA summary.

    A page starts `offset` cases in, or right after the case at `after` (the previous
    page's `after`): keyset paging, whose cost does not grow with the depth of the page.
    """
    if after is not None and offset:
        raise ValueError("a queue page starts at an offset or after a key, not both")
    selected = [*case_conditions(flt, now), col(Case.closed_at).is_(None)]
    total = _count(session, reader, selected)
    conditions = [*selected, *in_scope(reader)]
    wanted = limit + 1  # one more than shown: whether a next page exists
    found: list[tuple[Case, QueueKey]] = []
    if after is None or after.due:
        by_due = _sorted_by_next_due if total <= SORT_IN_STORE_UP_TO else _walked_by_next_due
        found = by_due(session, conditions, limit=wanted, offset=offset, after=after)
    if len(found) < wanted:
        # The page reaches past the cases with a due time: the rest follow, oldest first.
        rest = [*conditions, ~_has_due_clock()]
        rest_offset = 0
        if after is not None and not after.due:
            rest.append(or_(col(Case.opened_at) > after.at,
                            and_(col(Case.opened_at) == after.at, col(Case.id) > after.id)))
        elif after is None:
            with_due = offset + len(found) if found or offset == 0 else _count_with_due(
                session, conditions)
            rest_offset = max(0, offset - with_due)
        found += [(case, QueueKey(due=False, at=case.opened_at, id=case.id or 0))
                  for case in session.exec(select(Case).where(*rest)
                                           .order_by(col(Case.opened_at), col(Case.id))
                                           .limit(wanted - len(found)).offset(rest_offset))]
    page = found[:limit]
    return QueuePage(rows=with_sla(session, [case for case, _ in page], runtime, now),
                     total=total, after=page[-1][1] if len(found) > limit and page else None)


def _has_due_clock() -> ColumnElement[bool]:
    return exists().where(col(SlaClock.case_id) == col(Case.id),
                          col(SlaClock.state) == "running", col(SlaClock.due_at).is_not(None))


def _count_with_due(session: Session, conditions: list[Any]) -> int:
    return int(session.exec(select(func.count()).select_from(Case)
                            .where(*conditions, _has_due_clock())).one())


def _after(clock: Any, key: QueueKey) -> ColumnElement[bool]:
    """`clock` (SlaClock or an alias) stands after `key` in (due time, id) order."""
    due, clock_id = col(clock.due_at), col(clock.id)
    # The bound on the due time alone, implied by the rest, gives the store one range
    # of the clocks' index to read in order: PostgreSQL made the OR two ranges, read
    # every running clock after the key and sorted them for the first 500.
    return and_(due >= key.at, or_(due > key.at, and_(due == key.at, clock_id > key.id)))


def _sorted_by_next_due(session: Session, conditions: list[Any], *, limit: int,
                        offset: int, after: QueueKey | None) -> list[tuple[Case, QueueKey]]:
    """Cases with a running clock, by their soonest clock's (due time, id): a query
    keeping each case's soonest clock, for the store to sort."""
    sibling = aliased(SlaClock)
    sooner = exists().where(
        col(sibling.case_id) == col(SlaClock.case_id), col(sibling.state) == "running",
        col(sibling.due_at).is_not(None),
        or_(col(sibling.due_at) < col(SlaClock.due_at),
            and_(col(sibling.due_at) == col(SlaClock.due_at),
                 col(sibling.id) < col(SlaClock.id))))
    later = [_after(SlaClock, after)] if after is not None else []
    query = (select(Case, col(SlaClock.due_at), col(SlaClock.id)).select_from(SlaClock)
             .join(Case, col(Case.id) == col(SlaClock.case_id))
             .where(col(SlaClock.state) == "running", col(SlaClock.due_at).is_not(None),
                    *conditions, *later, ~sooner)
             .order_by(col(SlaClock.due_at), col(SlaClock.id))
             .limit(limit).offset(offset))
    # The query keeps running clocks with a due time only, and rows read have ids.
    return [(case, QueueKey(due=True, at=due, id=clock_id or 0))
            for case, due, clock_id in session.exec(query) if due is not None]


def _walked_by_next_due(session: Session, conditions: list[Any], *, limit: int,
                        offset: int, after: QueueKey | None) -> list[tuple[Case, QueueKey]]:
    """The same page as `_sorted_by_next_due`, found by walking the running clocks in
    (due time, id) order (the `ix_sla_clocks_state_due` index), a batch at a time, and
    keeping the cases that match: the first clock met of a case is its soonest.

    After a key, the walk starts there, and leaves out the cases with a running clock at
    or before it: their soonest clock was met on an earlier page (or their case does not
    match).
    """
    due, clock_id = col(SlaClock.due_at), col(SlaClock.id)
    shown: list[Any] = []
    if after is not None:
        earlier = aliased(SlaClock)
        # A lookup of each candidate's clocks, fenced by OFFSET 0: joined instead,
        # PostgreSQL took the running clocks before the key for a few (its estimate
        # of a due-time range among the running clocks is low) and compared every one
        # of them with every candidate: 6,500,000 comparisons 10,000 cases in.
        shown.append(~select_rows(literal(1)).where(
            col(earlier.case_id) == col(Case.id), col(earlier.state) == "running",
            col(earlier.due_at).is_not(None), ~_after(earlier, after)).offset(0).exists())
    seen: set[int] = set()
    found: list[tuple[int, QueueKey]] = []
    walked_to = after
    while len(found) < offset + limit:
        query = select_rows(due, clock_id, col(SlaClock.case_id)).where(
            col(SlaClock.state) == "running", due.is_not(None))
        if walked_to is not None:
            query = query.where(_after(SlaClock, walked_to))
        batch = list(session.exec(query.order_by(due, clock_id).limit(WALK_BATCH)))
        if not batch:
            break
        walked_to = QueueKey(due=True, at=batch[-1][0], id=batch[-1][1])
        fresh: dict[int, QueueKey] = {}
        for at, soonest, case_id in batch:
            if case_id not in seen:
                seen.add(case_id)
                fresh[case_id] = QueueKey(due=True, at=at, id=soonest)
        if not fresh:
            continue
        matching = set(session.exec(select(col(Case.id)).where(
            col(Case.id).in_(fresh), *conditions, *shown)))
        found += [(case_id, key) for case_id, key in fresh.items() if case_id in matching]
    page = found[offset:offset + limit]
    if not page:
        return []
    loaded = {c.id: c for c in session.exec(
        select(Case).where(col(Case.id).in_([case_id for case_id, _ in page])))}
    return [(loaded[case_id], key) for case_id, key in page]


def with_sla(session: Session, cases: list[Case], runtime: Runtime, now: datetime
             ) -> list[QueueRow]:
    """Each case with the summary of its clocks, read in one query for the page."""
    ids = [c.id for c in cases]
    clocks: dict[int, list[SlaClock]] = {}
    if ids:
        for row in session.exec(select(SlaClock).where(col(SlaClock.case_id).in_(ids))):
            clocks.setdefault(row.case_id, []).append(row)
    return [QueueRow(case=c, sla=sla_summary(c, clocks.get(c.id or 0, []), runtime, now))
            for c in cases]


def sla_summary(case: Case, clocks: list[SlaClock], runtime: Runtime, now: datetime
                ) -> SlaSummary | None:
    """The case's most pressing clock as a list row shows it: the running one due
    soonest, else a paused one, else the last one stopped; None without clocks."""
    if not clocks:
        return None
    views = clock_views(case.process, clocks, runtime, now, (case.data or {}).get("waived"))
    view = _most_pressing(views)
    breached = view.state == "running" and view.remaining < timedelta(0) or (
        view.state != "stopped" and view.breached)
    live = view.state != "stopped"
    return SlaSummary(
        clock=view.name, due_at=view.due_at,
        time_left=view.remaining if live and not breached else None,
        overdue_by=-view.remaining if live and breached else None,
        breached=view.breached, paused=view.state == "paused",
        escalation_level=case.escalation_level,
        next_rung=_next_rung(view, case, runtime))


def _most_pressing(views: list[ClockView]) -> ClockView:
    running = [v for v in views if v.state == "running" and v.due_at is not None]
    if running:
        return min(running, key=lambda v: v.due_at or v.started_at)
    paused = [v for v in views if v.state == "paused"]
    if paused:
        return min(paused, key=lambda v: v.remaining)
    return views[-1]


def _next_rung(view: ClockView, case: Case, runtime: Runtime) -> NextRung | None:
    step = view.next_escalation
    if step is None:
        return None
    team = runtime.policies.teams.get(case.team)
    reaches = []
    for role in step["notify"]:
        person = case.assignee if role == "assignee" else (
            getattr(team, role, None) if team is not None else None)
        if person and person not in reaches:
            reaches.append(person)
    return NextRung(name=step["name"], level=step["level"], at=step["fire_at"],
                    notify=list(step["notify"]), reaches=reaches)


# --- workload -------------------------------------------------------------------------


def workload(session: Session, reader: Identity, runtime: Runtime, now: datetime,
             team: str | None = None) -> list[PersonLoad]:
    """Per assignee of open cases in `reader`'s scope (of `team`, if given): open, at
    risk (past the warning, not yet due), overdue, and the oldest open case."""
    selected: list[Any] = [col(Case.closed_at).is_(None)]
    if team is not None:
        selected.append(col(Case.team) == team)
    assignee = col(Case.assignee)
    open_counts: Counter[str | None] = Counter()
    oldest: dict[str | None, datetime] = {}
    at_risk: Counter[str | None] = Counter()
    overdue: Counter[str | None] = Counter()
    is_overdue = _has_running_clock(session, col(SlaClock.due_at) <= now)
    is_at_risk = _has_running_clock(session, col(SlaClock.warn_at) <= now,
                                    col(SlaClock.due_at) > now)
    for part in scope_parts(reader):
        for person, count, first, late, risky in session.exec(select_rows(
                assignee, func.count(), func.min(col(Case.opened_at)), count_if(is_overdue),
                count_if(is_at_risk)).where(*selected, *part).group_by(assignee)):
            open_counts[person] += int(count)
            oldest[person] = min(first, oldest.get(person, first))
            overdue[person] += int(late)
            at_risk[person] += int(risky)
    scoped = [*selected, *in_scope(reader)]
    loads = []
    for person, open_count in open_counts.items():
        mine = assignee.is_(None) if person is None else assignee == person
        oldest_id = session.exec(select(col(Case.id)).where(
            *scoped, mine, col(Case.opened_at) == oldest[person])
            .order_by(col(Case.id)).limit(1)).one()
        loads.append(PersonLoad(assignee=person, open=open_count,
                                at_risk=at_risk.get(person, 0),
                                breached=overdue.get(person, 0),
                                oldest_case_id=oldest_id or 0,
                                oldest_opened_at=oldest[person]))
    # The most pressed first: overdue, then at risk, then open; nobody's cases last.
    return sorted(loads, key=lambda p: (p.assignee is None, -p.breached, -p.at_risk,
                                        -p.open, p.assignee or ""))


def _has_running_clock(session: Session, *conditions: Any) -> ColumnElement[bool]:
    """Whether a case has a running clock meeting `conditions`, judged per open case.

    On SQLite each case is looked up in its clocks' outcome index: counting from the
    clocks instead reads every overdue clock of every team and its case, then sorts
    them to count each case once. On PostgreSQL the matching running clocks are read
    once, from the running clocks' index alone, into a hash that each case is looked up
    in: the 100,000 index lookups of the 50,000 open cases of a store of 1,000,000 took
    it 240 ms, the hash 60.
    """
    running = [col(SlaClock.state) == "running", *conditions]
    if session.get_bind().dialect.name == "postgresql":
        return col(Case.id).in_(select(col(SlaClock.case_id)).where(*running))
    return exists().where(col(SlaClock.case_id) == col(Case.id), *running)


# --- facets ---------------------------------------------------------------------------


def facets(session: Session, reader: Identity, flt: CaseFilter, *,
           now: datetime | None = None) -> Facets:
    """The count of cases `flt` selects in `reader`'s scope, and per team, assignee,
    process, priority and stage (`now` judges the breached and at-risk filters)."""
    if now is None and (flt.breached is not None or flt.at_risk is not None):
        raise ValueError("the breached and at_risk filters need `now`")
    counted: dict[str, Counter[Any]] = {dimension: Counter() for dimension in FACET_DIMENSIONS}
    for values, count in _combinations(session, reader, case_conditions(flt, now)):
        for dimension, value in zip(FACET_DIMENSIONS, values, strict=True):
            counted[dimension][value] += count
    counts = {dimension: _most_first(found) for dimension, found in counted.items()}
    return Facets(total=sum(counts["team"].values()), team=counts["team"],
                  assignee=counts["assignee"], process=counts["process"],
                  priority=counts["priority"], stage=counts["stage"])


def filter_counts(session: Session, reader: Identity, chosen: Mapping[str, str | None]
                  ) -> dict[str, dict[Any, int]]:
    """For a list of open cases filtered on some of the facet dimensions (`chosen`: a
    value or None per dimension), how many open cases in `reader`'s scope each value of
    each dimension would select, the other dimensions' choices kept: what a filter's
    options say beside each value. One pass over the open cases, whatever is chosen."""
    counted: dict[str, Counter[Any]] = {dimension: Counter() for dimension in FACET_DIMENSIONS}
    for values, count in _combinations(session, reader, [col(Case.closed_at).is_(None)]):
        row = dict(zip(FACET_DIMENSIONS, values, strict=True))
        unmet = [d for d in FACET_DIMENSIONS if chosen.get(d) is not None and row[d] != chosen[d]]
        # A value counts for a dimension when every other dimension's choice is met: a
        # row that meets them all counts for each; one that misses a single choice, for
        # that dimension only; one that misses two, for none.
        if len(unmet) > 1:
            continue
        for dimension in unmet or FACET_DIMENSIONS:
            counted[dimension][row[dimension]] += count
    return {dimension: _most_first(found) for dimension, found in counted.items()}


def _combinations(session: Session, reader: Identity, selected: Sequence[Any]
                  ) -> Iterator[tuple[tuple[Any, ...], int]]:
    """The cases meeting `selected` in `reader`'s scope, counted per combination of the
    facet dimensions' values.

    One pass over the cases, grouped by every dimension at once (a few hundred groups
    at most), for the caller to sum per dimension: five GROUP BYs would read the cases
    five times, and SQLite would walk each dimension's index to spare itself a sort.
    Grouped in the order of the `ix_cases_facets` index, the pass over every case of a
    year (no filter, or one process's stage) reads that index alone, in its order,
    without sorting.
    """
    columns = [getattr(Case, dimension) for dimension in FACETS_INDEXED]
    back = [FACETS_INDEXED.index(dimension) for dimension in FACET_DIMENSIONS]
    for part in scope_parts(reader):
        for *values, count in session.exec(select_rows(*columns, func.count())
                                           .where(*selected, *part).group_by(*columns)):
            yield tuple(values[i] for i in back), int(count)


def _most_first(found: Counter[Any]) -> dict[Any, int]:
    return dict(sorted(found.items(), key=lambda item: (-item[1], str(item[0]))))
