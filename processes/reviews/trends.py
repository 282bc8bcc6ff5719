"""Trends for charts: complaints opened and the on-time rate per day, week or month.

Each bucket is [start, end) in local time; its figures cover the complaints opened in
it. The on-time rate is given twice: over clocks, as `core.kpis` defines the KPI (so a
bucket agrees with a review), and over complaints (`core.worklists.cases_on_time`), the
count people read: "150 opened, 120 of 140 decided on time" counts complaints only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, case, col, func, select

from core.kpis import KpiFilter, on_time_rate_by
from core.worklists import CaseRate, cases_on_time_by
from domain.kpi_definitions import ON_TIME, Rate
from domain.reviews.model import floor_period, shift_period
from domain.reviews.policy import PeriodKind
from engine.models import Case

MAX_BUCKETS = 120


@dataclass(frozen=True)
class TrendPoint:
    """One bucket: when, how many complaints opened, how many of their clocks were met,
    and how many of them (complaints) were on time."""

    start: datetime
    end: datetime
    opened: int
    on_time: Rate  # over clocks, as the KPI
    complaints_on_time: CaseRate  # over complaints


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

    Each figure is one query grouped by bucket (per team of a team-scoped reader), not one
    per bucket: a month of days is three queries, not ninety."""
    if not 1 <= count <= MAX_BUCKETS:
        raise ValueError(f"count must be 1 to {MAX_BUCKETS}")
    spans = buckets(now, kind, count, timezone)
    # The bucket a case was opened in: the first whose end is after it.
    bucket = case(*((col(Case.opened_at) < end, index) for index, (_, end) in enumerate(spans)))
    opened: Counter[int] = Counter()
    met: Counter[int] = Counter()
    decided: Counter[int] = Counter()
    cases_met: Counter[int] = Counter()
    cases_decided: Counter[int] = Counter()
    # A team-scoped reader's figures are the sum over their teams: rates add up as
    # numerators and denominators, never as percentages.
    for team in (teams if teams is not None else [None]):
        flt = KpiFilter(opened_from=spans[0][0], opened_to=spans[-1][1], team=team)
        for index, number in session.exec(select(bucket, func.count(col(Case.id)))
                                          .where(*flt.conditions()).group_by(bucket)):
            opened[index] += number
        for index, rate in on_time_rate_by(session, flt, bucket, now=now).items():
            met[index] += rate.numerator
            decided[index] += rate.denominator
        for index, cases in cases_on_time_by(session, bucket, flt.conditions(), now).items():
            cases_met[index] += cases.on_time
            cases_decided[index] += cases.decided
    return [TrendPoint(start, end, opened[index], Rate(ON_TIME.name, met[index], decided[index]),
                       CaseRate(cases_met[index], cases_decided[index]))
            for index, (start, end) in enumerate(spans)]
