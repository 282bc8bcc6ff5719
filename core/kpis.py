"""KPIs over the case store, each computed by SQL aggregates (no case rows are loaded).

What each KPI means, its unit and its target are in `domain.kpi_definitions`; this
module turns those definitions into queries that give the same answers on SQLite and
PostgreSQL. Every function takes a `KpiFilter` and honours all of its fields. Rates
are built from one numerator and one denominator expression per KPI (`_rate_sql`),
so a KPI's total and its `breakdown` by team, category... can never disagree.

Hand-offs per case (`transfers`) count the `transfer` events of the filtered cases
(service requests; pass `process=None` for every process).

Satisfaction KPIs (survey response rate, CSAT, share satisfied, NPS, dimension
averages) are in `core.kpis_satisfaction`: they are measured over surveys, not cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_
from sqlmodel import Session, col, select

from domain.catalogue import definition
from domain.clocks import ClockState
from domain.kpi_definitions import (
    AGE_BUCKETS,
    ESCALATION_RATES,
    BusinessTime,
    Group,
    OnTime,
    ParetoRow,
    Rate,
    TeamBacklog,
    Transfers,
    nearest_rank,
)
from engine.db import select_rows
from engine.models import Case, CaseEvent, SlaClock

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
ON_TIME_CLOCKS = (FIRST_RESPONSE, RESOLUTION)


class Dimension(StrEnum):
    """A column of `cases` that KPIs can be filtered and grouped by."""

    team = "team"
    category = "category"
    channel = "channel"
    priority = "priority"  # the case's current priority (change_priority moves it)
    tier = "tier"  # the customer's tier when the case was opened


class RateKpi(StrEnum):
    """The rate KPIs `breakdown` can group; values are the definitions' names."""

    on_time = "complaint_on_time_rate"
    resolution = "resolution_rate"
    reopen = "reopen_rate"
    escalation_l1 = "escalation_rate_l1"
    escalation_l2 = "escalation_rate_l2"
    escalation_l3 = "escalation_rate_l3"


@dataclass(frozen=True)
class KpiFilter:
    """Which cases a KPI covers: opened in [opened_from, opened_to), and equal fields."""

    opened_from: datetime | None = None
    opened_to: datetime | None = None
    team: str | None = None
    category: str | None = None
    channel: str | None = None
    priority: str | None = None
    tier: str | None = None
    process: str | None = "complaint"  # None: every process

    def __post_init__(self) -> None:
        for name in ("opened_from", "opened_to"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def by_process_only(self) -> bool:
        """Whether the filter selects cases by process alone (or not at all)."""
        return all(getattr(self, dimension.value) is None for dimension in Dimension) \
            and self.opened_from is None and self.opened_to is None

    def conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE conditions on `cases` for this filter."""
        found: list[ColumnElement[bool]] = []
        if self.process is not None:
            found.append(col(Case.process) == self.process)
        for dimension in Dimension:
            value = getattr(self, dimension.value)
            if value is not None:
                found.append(_column(dimension) == value)
        if self.opened_from is not None:
            found.append(col(Case.opened_at) >= self.opened_from)
        if self.opened_to is not None:
            found.append(col(Case.opened_at) < self.opened_to)
        return found


def _column(dimension: Dimension) -> Any:
    return col(getattr(Case, dimension.value))


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet `condition` (0 over no rows), as an aggregate column."""
    # coalesce: SUM over no rows is NULL on both databases.
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def clock_met(clock: Any = SlaClock) -> ColumnElement[bool]:
    """An on-time clock met: stopped within its target (`clock`: SlaClock or an alias)."""
    # Stopping a clock past its target records breached_at (domain.clocks.pause), so a
    # stopped clock without breached_at stopped within its target.
    return and_(col(clock.state) == "stopped", col(clock.breached_at).is_(None))


def clock_missed(now: datetime | ColumnElement[Any], clock: Any = SlaClock
                 ) -> ColumnElement[bool]:
    """A clock missed by `now` (an instant, or a bound parameter that gives it): breached,
    or running past its due time."""
    # A running clock past due counts even before the sweeper fires its breach rung.
    return or_(col(clock.breached_at).is_not(None),
               and_(col(clock.state) == "running", col(clock.due_at) <= now))


@dataclass(frozen=True)
class _RateSql:
    numerator: ColumnElement[Any]
    denominator: ColumnElement[Any]
    over_clocks: bool = False  # one row per on-time clock instead of one per case


def _escalated(level: int) -> ColumnElement[bool]:
    return col(Case.escalation_level) >= level


_LEVEL = {RateKpi(d.name): level for level, d in ESCALATION_RATES.items()}


def _rate_sql(kpi: RateKpi, now: datetime | None) -> _RateSql:
    """Give a rate KPI's numerator and denominator: the one place each rate is defined."""
    cases = func.count(col(Case.id))
    if kpi is RateKpi.on_time:
        if now is None:
            raise ValueError("the on-time rate needs `now` to judge unfinished clocks")
        met = count_if(clock_met())
        return _RateSql(met, met + count_if(clock_missed(now)), over_clocks=True)
    if kpi is RateKpi.resolution:
        # Stage alone is not enough: withdraw also closes a case, without a resolution.
        return _RateSql(count_if(and_(col(Case.resolved_count) > 0,
                                       col(Case.stage).in_(("resolved", "closed")))), cases)
    if kpi is RateKpi.reopen:
        # A rejection sends the case back to in_progress without a second resolve yet,
        # so resolved_count > 1 would miss every case that is reopened right now.
        rejected = exists().where(col(CaseEvent.case_id) == Case.id,
                                  col(CaseEvent.type) == "reject")
        resolved = col(Case.resolved_count) > 0
        return _RateSql(count_if(and_(resolved, rejected)), count_if(resolved))
    return _RateSql(count_if(_escalated(_LEVEL[kpi])), cases)


def _rates(session: Session, kpi: RateKpi, flt: KpiFilter, now: datetime | None,
           group: Any | None = None) -> list[tuple[Any, Rate]]:
    """Run one rate KPI, optionally grouped by `group`; return (group value, rate) rows."""
    sql = _rate_sql(kpi, now)
    columns = [sql.numerator, sql.denominator] if group is None else [
        group, sql.numerator, sql.denominator]
    if sql.over_clocks:
        query = _over_clocks(select(*columns), flt)
    else:
        query = select(*columns).select_from(Case).where(*flt.conditions())
    if group is None:
        numerator, denominator = session.exec(query).one()
        return [(None, Rate(kpi.value, int(numerator), int(denominator)))]
    # NULLs last, the same on both databases (their default NULL order differs).
    query = query.group_by(group).order_by(group.is_(None), group)
    return [(key, Rate(kpi.value, int(num), int(den))) for key, num, den in session.exec(query)]


def _over_clocks(query: Any, flt: KpiFilter) -> Any:
    """Select the on-time clocks of the filter's cases (joined to them, for the filter)."""
    return (query.select_from(Case).join(SlaClock, col(SlaClock.case_id) == col(Case.id))
            .where(*flt.conditions(), col(SlaClock.name).in_(ON_TIME_CLOCKS)))


def _counted_in_index(session: Session, process: str | None, clock: str, now: datetime
                      ) -> tuple[int, int, int]:
    """Count one clock's met, decided and undecided over a whole process.

    The same split as `clock_met` and `clock_missed`, as counts of ranges of the
    `ix_sla_clocks_on_time` index (process, name, state, breached_at, due_at): counting
    a range steps through index entries without evaluating an expression for each,
    several times faster than one pass of CASE sums over a million clocks.
    """
    scope = [col(SlaClock.name) == clock] + ([col(SlaClock.process) == process] if process else [])

    def count(*conditions: ColumnElement[bool]) -> int:
        return int(session.exec(select(func.count()).select_from(SlaClock)
                                .where(*scope, *conditions)).one())

    unbreached, breached = col(SlaClock.breached_at).is_(None), \
        col(SlaClock.breached_at).is_not(None)
    met = count(col(SlaClock.state) == ClockState.stopped, unbreached)
    missed = sum(count(col(SlaClock.state) == state, breached) for state in ClockState) + count(
        col(SlaClock.state) == ClockState.running, unbreached, col(SlaClock.due_at) <= now)
    return met, met + missed, count() - met - missed


def on_time_rate(session: Session, flt: KpiFilter, *, now: datetime) -> OnTime:
    """Measure the share of first-response and resolution clocks met, overall and per clock."""
    if flt.by_process_only:
        per_clock = {name: _counted_in_index(session, flt.process, name, now)
                     for name in ON_TIME_CLOCKS}
    else:
        decided = _rate_sql(RateKpi.on_time, now).denominator
        undecided = func.count() - decided
        query = _over_clocks(
            select(col(SlaClock.name), count_if(clock_met()), decided, undecided), flt,
        ).group_by(col(SlaClock.name))
        rows = {name: (int(met), int(den), int(und))
                for name, met, den, und in session.exec(query)}
        per_clock = {name: rows.get(name, (0, 0, 0)) for name in ON_TIME_CLOCKS}
    kpi = RateKpi.on_time.value
    # The overall figure adds the two per-clock aggregates rather than scanning again.
    return OnTime(
        overall=Rate(kpi, sum(r[0] for r in per_clock.values()),
                     sum(r[1] for r in per_clock.values())),
        by_clock={name: Rate(kpi, met, den) for name, (met, den, _) in per_clock.items()},
        undecided=sum(r[2] for r in per_clock.values()),
    )


def rate(session: Session, kpi: RateKpi, flt: KpiFilter, *, now: datetime) -> Rate:
    """Measure any rate KPI over the filter (a PDCA cycle measures the one it targets)."""
    if kpi is RateKpi.on_time:  # over a whole process, it is counted from one index
        return on_time_rate(session, flt, now=now).overall
    return _rates(session, kpi, flt, now)[0][1]


def resolution_rate(session: Session, flt: KpiFilter) -> Rate:
    """Measure the share of cases that stand resolved (resolved, or closed after resolution)."""
    return _rates(session, RateKpi.resolution, flt, None)[0][1]


def reopen_rate(session: Session, flt: KpiFilter) -> Rate:
    """Measure the share of resolved cases the customer rejected at least once."""
    return _rates(session, RateKpi.reopen, flt, None)[0][1]


def escalation_rates(session: Session, flt: KpiFilter) -> dict[int, Rate]:
    """Measure the share of cases that reached escalation level 1, 2 and 3 or more."""
    levels = sorted(ESCALATION_RATES)
    counts = [count_if(_escalated(level)) for level in levels]
    query = select_rows(func.count(col(Case.id)), *counts).select_from(Case).where(
        *flt.conditions())
    total, *reached = session.exec(query).one()
    return {level: Rate(ESCALATION_RATES[level].name, int(n), int(total))
            for level, n in zip(levels, reached, strict=True)}


def breakdown(session: Session, kpi: RateKpi, flt: KpiFilter, by: Dimension, *,
              now: datetime) -> list[Group]:
    """Group a rate KPI by one dimension, ordered by its value with unset values last."""
    return [Group(key, rate) for key, rate in _rates(session, kpi, flt, now, _column(by))]


def business_time(session: Session, flt: KpiFilter, clock: str) -> BusinessTime:
    """Measure mean and p90 business time of a clock's stopped instances."""
    elapsed = col(SlaClock.elapsed_seconds)

    def stopped(query: Any) -> Any:
        return (query.select_from(Case).join(SlaClock, col(SlaClock.case_id) == col(Case.id))
                .where(*flt.conditions(), col(SlaClock.name) == clock,
                       SlaClock.state == "stopped"))

    count, average = session.exec(stopped(select(func.count(col(SlaClock.id)),
                                                 func.avg(elapsed)))).one()
    if not count:
        return BusinessTime(clock, 0, None, None)
    # Nearest rank, because SQLite has no percentile function: sort, skip rank - 1 rows.
    rank = nearest_rank(90, int(count))
    p90 = session.exec(stopped(select(elapsed)).order_by(elapsed).offset(rank - 1)
                       .limit(1)).one()
    return BusinessTime(clock, int(count), float(average), float(p90))


def backlog(session: Session, flt: KpiFilter, *, now: datetime) -> list[TeamBacklog]:
    """Count open cases per team at `now`, by stage and by calendar age bucket."""
    # closed_at is the case's present state, so `now` should be the present: the store
    # keeps no stage history to rebuild an earlier backlog from.
    open_cases = [*flt.conditions(), col(Case.closed_at).is_(None), col(Case.opened_at) <= now]
    team = col(Case.team)
    stage_rows = session.exec(select(team, col(Case.stage), func.count(col(Case.id)))
                              .where(*open_cases).group_by(team, col(Case.stage)))
    by_stage: dict[str, dict[str, int]] = {}
    for team_name, stage, count in stage_rows:
        by_stage.setdefault(team_name, {})[stage] = int(count)
    # One SUM(CASE) column per bucket, not GROUP BY a CASE: PostgreSQL cannot match a
    # GROUP BY expression holding bound parameters with the same one in SELECT.
    buckets = [count_if(_age_condition(now, low, high)) for _, low, high in AGE_BUCKETS]
    age_rows = session.exec(select_rows(team, func.count(col(Case.id)), *buckets)
                            .where(*open_cases).group_by(team).order_by(team))
    order = _stage_order(flt.process)
    return [
        TeamBacklog(team=team_name, open=int(total),
                    by_stage=dict(sorted(by_stage.get(team_name, {}).items(),
                                         key=lambda item: (order(item[0]), item[0]))),
                    by_age={label: int(n) for (label, _, _), n in
                            zip(AGE_BUCKETS, counts, strict=True)})
        for team_name, total, *counts in age_rows
    ]


def _age_condition(now: datetime, low_days: int, high_days: int | None) -> ColumnElement[bool]:
    # Age in [low, high) days  <=>  opened_at in (now - high, now - low].
    opened = col(Case.opened_at)
    condition = opened <= now - timedelta(days=low_days)
    if high_days is not None:
        condition = and_(condition, opened > now - timedelta(days=high_days))
    return condition


def _stage_order(process: str | None) -> Callable[[str], int]:
    try:
        stages = definition(process).TABLE.stages if process else ()
    except LookupError:  # a process with no module yet has no cases either
        stages = ()
    return lambda stage: stages.index(stage) if stage in stages else len(stages)


def category_pareto(session: Session, flt: KpiFilter) -> list[ParetoRow]:
    """Count cases per category, most first, with each share and the cumulative share."""
    category, count = col(Case.category), func.count(col(Case.id))
    rows = list(session.exec(select(category, count).where(*flt.conditions())
                             .group_by(category)
                             .order_by(count.desc(), category.is_(None), category)))
    total = sum(int(n) for _, n in rows)
    pareto, running = [], 0
    for name, n in rows:
        running += int(n)
        pareto.append(ParetoRow(name, int(n), int(n) / total, running / total))
    return pareto


def transfers(session: Session, flt: KpiFilter) -> Transfers:
    """Count hand-offs (`transfer` events) over the filter's cases, and the cases with any."""
    handed = (select(col(CaseEvent.case_id), func.count(col(CaseEvent.id)).label("n"))
              .where(CaseEvent.type == "transfer").group_by(col(CaseEvent.case_id))
              .subquery())
    n = func.coalesce(handed.c.n, 0)
    query = (select(func.count(col(Case.id)), func.coalesce(func.sum(n), 0),
                    count_if(n > 0))
             .select_from(Case).outerjoin(handed, handed.c.case_id == col(Case.id))
             .where(*flt.conditions()))
    cases, total, transferred = session.exec(query).one()
    return Transfers(cases=int(cases), transfers=int(total),
                     transferred_cases=int(transferred))
