"""Trends for charts: complaints opened and the on-time rate per day, week or month.

Each bucket is [start, end) in local time; its figures cover the complaints opened in
it. The on-time rate is given twice: over clocks, as `core.kpis` defines the KPI (so a
bucket agrees with a review), and over complaints (`core.worklists.cases_on_time`), the
count people read: "150 opened, 120 of 140 decided on time" counts complaints only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from core.kpis import KpiFilter, on_time_rate
from core.worklists import CaseRate, cases_on_time
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
    """Count opened complaints and measure the on-time rate per bucket, for `teams`."""
    if not 1 <= count <= MAX_BUCKETS:
        raise ValueError(f"count must be 1 to {MAX_BUCKETS}")
    points = []
    for start, end in buckets(now, kind, count, timezone):
        # A team-scoped reader's figures are the sum over their teams: rates add up as
        # numerators and denominators, never as percentages.
        filters = [KpiFilter(opened_from=start, opened_to=end, team=team)
                   for team in (teams if teams is not None else [None])]
        met = decided = opened = cases_met = cases_decided = 0
        for flt in filters:
            rate = on_time_rate(session, flt, now=now).overall
            met, decided = met + rate.numerator, decided + rate.denominator
            opened += session.exec(select(func.count(col(Case.id)))
                                   .where(*flt.conditions())).one()
            cases = cases_on_time(session, flt.conditions(), now)
            cases_met, cases_decided = cases_met + cases.on_time, cases_decided + cases.decided
        points.append(TrendPoint(start, end, int(opened), Rate(ON_TIME.name, met, decided),
                                 CaseRate(cases_met, cases_decided)))
    return points
