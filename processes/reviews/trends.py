"""Trends for charts: complaints opened, their on-time rate and CSAT per day, week or
month.

Each bucket is [start, end) in local time; its figures cover the complaints opened in
it. The on-time rate is given twice: over clocks, as `core.kpis` defines the KPI (so a
bucket agrees with a review), and over complaints (`core.worklists.cases_on_time`), the
count people read: "150 opened, 120 of 140 decided on time" counts complaints only.
CSAT is the mean score of the answers to the surveys sent in the bucket, as
`core.kpis_satisfaction` counts it for a review (its population is the surveys sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, bindparam, literal, union_all
from sqlmodel import Session, col, func, select

from core.kpis import KpiFilter, on_time_rate
from core.kpis_satisfaction import SurveyFilter, surveys_query
from core.worklists import CaseRate, cases_on_time
from domain.complaint import rules as complaint
from domain.kpi_definitions import CSAT_AVERAGE, ON_TIME, Average, Rate
from domain.reviews.model import floor_period, shift_period
from domain.reviews.policy import PeriodKind
from engine.db import select_rows
from engine.models import Case, Survey, SurveyAnswer
from processes.reviews import trend_rollup
from processes.reviews.trend_rollup import Figures

MAX_BUCKETS = 120


@dataclass(frozen=True)
class TrendPoint:
    """One bucket: when, how many complaints opened, how many of their clocks were met,
    how many of them (complaints) were on time, and the CSAT of its surveys."""

    start: datetime
    end: datetime
    opened: int
    on_time: Rate  # over clocks, as the KPI
    complaints_on_time: CaseRate  # over complaints
    csat: Average  # of the answers to the surveys sent in the bucket


def buckets(now: datetime, kind: PeriodKind, count: int, timezone: str
            ) -> list[tuple[datetime, datetime]]:
    """Give the last `count` buckets up to the one `now` falls in, oldest first."""
    zone = ZoneInfo(timezone)
    current = floor_period(now.astimezone(zone).replace(tzinfo=None), kind)
    starts = [shift_period(current, kind, -i) for i in range(count - 1, -1, -1)]
    return [(s.replace(tzinfo=zone), shift_period(s, kind, 1).replace(tzinfo=zone))
            for s in starts]


def trend(session: Session, *, now: datetime, kind: PeriodKind, count: int, timezone: str,
          teams: Sequence[str] | None = None) -> list[TrendPoint]:
    """Count opened complaints and measure the on-time rate per bucket, for `teams`.

    The closed complaints are read from their hourly roll-up (`trend_rollup`) and only
    the open ones counted from their cases and clocks, when every bucket starts on a
    whole UTC hour (any timezone whose offset is whole hours); otherwise each bucket is
    counted from the cases and clocks.
    """
    if not 1 <= count <= MAX_BUCKETS:
        raise ValueError(f"count must be 1 to {MAX_BUCKETS}")
    spans = buckets(now, kind, count, timezone)
    if all(on_whole_hour(moment) for span in spans for moment in span):
        closed = trend_rollup.closed_by_bucket(session, spans, teams)
        still_open = _open_by_bucket(session, now, spans, teams)
        figures = [closed.get(i, Figures()) + still_open.get(i, Figures())
                   for i in range(len(spans))]
    else:
        figures = [_counted(session, now, start, end, teams) for start, end in spans]
    csat = _csat_by_bucket(session, spans, teams)
    return [TrendPoint(start, end, f.opened, Rate(ON_TIME.name, f.clocks_met, f.clocks_decided),
                       CaseRate(f.cases_on_time, f.cases_decided),
                       csat.get(i, Average(CSAT_AVERAGE.name, 0, 0)))
            for i, ((start, end), f) in enumerate(zip(spans, figures, strict=True))]


def on_whole_hour(moment: datetime) -> bool:
    """Whether `moment` starts a UTC hour."""
    return moment == trend_rollup.hour_of(moment)


def _open_by_bucket(session: Session, now: datetime, spans: Sequence[tuple[datetime, datetime]],
                    teams: Sequence[str] | None) -> dict[int, Figures]:
    """The open complaints' figures per span (by its index), counted from their clocks
    by the store: on SQLite a sum per span (`_open_statement`); on PostgreSQL one query
    grouped by the span each complaint falls in, which its hash aggregate groups without
    sorting (there the sums per span took longer: 64 ms where grouping took 59, and 47
    where it took 30 for one team, on 200,000 cases)."""
    if session.get_bind().dialect.name == "postgresql":
        return _open_grouped(session, now, spans, teams)
    values: dict[str, Any] = {"now": now, **{f"start_{i}": start for i, (start, _) in
                                             enumerate(spans)},
                              **{f"end_{i}": end for i, (_, end) in enumerate(spans)}}
    if teams is not None:
        values["teams"] = list(teams)
    statement = _open_statement(len(spans), scoped=teams is not None)
    return {int(i): Figures(*map(int, values))
            for i, *values in session.execute(statement, values)}


def _open_grouped(session: Session, now: datetime, spans: Sequence[tuple[datetime, datetime]],
                  teams: Sequence[str] | None) -> dict[int, Figures]:
    """The open complaints' figures per span, grouped by a CASE naming each one's span."""
    opened_at = col(Case.opened_at)
    bucket = trend_rollup.bucket_of(opened_at, spans)
    conditions = [col(Case.process) == complaint.NAME, col(Case.closed_at).is_(None),
                  opened_at >= spans[0][0], opened_at < spans[-1][1]]
    if teams is not None:
        conditions.append(col(Case.team).in_(teams))
    cases = trend_rollup.per_case(now, bucket.label("bucket")).where(*conditions).subquery()
    query = select_rows(cases.c.bucket, *trend_rollup.sums(cases)).group_by(cases.c.bucket)
    return {int(i): Figures(*map(int, values)) for i, *values in session.exec(query)}


@cache
def _open_statement(spans: int, *, scoped: bool) -> Any:
    """The statement giving the open complaints' figures in each of `spans` consecutive
    spans (bound parameters `start_i` and `end_i`, and `now`; `teams` if `scoped`): one
    row per span, each summing its complaints apart (UNION ALL). Made once per shape: a
    statement of 30 spans takes longer to build than the store takes to run it. For
    SQLite (`_open_by_bucket`).

    Each span's complaints are a range of the open complaints' index by opening, summed
    as they are read: a CASE naming each row's span, then a GROUP BY on it
    (`_open_grouped`), makes SQLite sort every row by that value in a temporary B-tree
    first. On the
    50,000 open complaints of 30 days of a store of 1,000,000 cases, the union took 51
    ms of CPU where the CASE and GROUP BY took 94.
    """
    opened_at = col(Case.opened_at)
    now: ColumnElement[Any] = bindparam("now")
    scope = [col(Case.team).in_(bindparam("teams", expanding=True))] if scoped else []
    parts = []
    for i in range(spans):
        # OFFSET 0 keeps the store from merging the per-case rows into the sums, where
        # each complaint's met and missed (four clock judgements) would be evaluated
        # again for each sum that names them: on SQLite, a fifth of the time.
        cases = trend_rollup.per_case(now).where(
            col(Case.process) == complaint.NAME, col(Case.closed_at).is_(None),
            opened_at >= bindparam(f"start_{i}"), opened_at < bindparam(f"end_{i}"),
            *scope).offset(0).subquery()
        parts.append(select_rows(literal(i).label("bucket"), *trend_rollup.sums(cases)))
    return union_all(*parts)


def _counted(session: Session, now: datetime, start: datetime, end: datetime,
             teams: Sequence[str] | None) -> Figures:
    """One bucket's figures counted from every complaint's case and clocks."""
    # A team-scoped reader's figures are the sum over their teams: rates add up as
    # numerators and denominators, never as percentages.
    filters = [KpiFilter(opened_from=start, opened_to=end, team=team)
               for team in (teams if teams is not None else [None])]
    total = Figures()
    for flt in filters:
        rate = on_time_rate(session, flt, now=now).overall
        opened = session.exec(select(func.count(col(Case.id))).where(*flt.conditions())).one()
        cases = cases_on_time(session, flt.conditions(), now)
        total += Figures(int(opened), rate.numerator, rate.denominator, cases.on_time,
                         cases.decided)
    return total


def _csat_by_bucket(session: Session, spans: Sequence[tuple[datetime, datetime]],
                    teams: Sequence[str] | None) -> dict[int, Average]:
    """The CSAT of the surveys sent in each span (by its index), for `teams`."""
    flt = SurveyFilter(sent_from=spans[0][0], sent_to=spans[-1][1])
    csat = col(SurveyAnswer.csat)
    bucket = trend_rollup.bucket_of(col(Survey.issued_at), spans)
    query = surveys_query([bucket, func.count(csat), func.coalesce(func.sum(csat), 0)], flt)
    if teams is not None:
        query = query.where(col(Case.team).in_(teams))
    return {int(i): Average(CSAT_AVERAGE.name, int(n), int(total))
            for i, n, total in session.exec(query.group_by(bucket))}
