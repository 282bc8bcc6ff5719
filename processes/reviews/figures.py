"""The figures reviews report, as table rows: KPIs, Pareto, recurrence, SLA breaches.

Each function runs SQL aggregates (through `core.kpis` where a KPI is defined) and
returns plain rows (dicts of JSON values), the shape the run's result, the API and the
Prefect table artifacts all share.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, tuple_
from sqlmodel import Session, col, select

from core.kpis import (
    ON_TIME_CLOCKS,
    KpiFilter,
    business_time,
    category_pareto,
    escalation_rates,
    on_time_rate,
    reopen_rate,
    resolution_rate,
    transfers,
)
from domain.kpi_definitions import (
    FIRST_RESPONSE_AVG,
    FIRST_RESPONSE_P90,
    RESOLUTION_AVG,
    RESOLUTION_P90,
    TRANSFERS_PER_CASE,
    Rate,
)
from domain.reviews.model import rate_row
from engine.db import select_rows
from engine.models import Case, Customer, SlaClock, stored_ids

LIST_LIMIT = 200  # rows of case lists in one result; the counts stay exact
_TIMES = {"first_response": (FIRST_RESPONSE_AVG.name, FIRST_RESPONSE_P90.name),
          "resolution": (RESOLUTION_AVG.name, RESOLUTION_P90.name)}


def kpi_table(session: Session, flt: KpiFilter, now: datetime
              ) -> tuple[list[dict[str, Any]], dict[str, Rate]]:
    """Return the KPI rows for `flt` at `now`, and the rates by KPI name."""
    on_time = on_time_rate(session, flt, now=now)
    rates: dict[str, Rate] = {on_time.overall.kpi: on_time.overall}
    rows = [rate_row(on_time.overall)]
    rows += [rate_row(on_time.by_clock[c], label=f"{on_time.overall.kpi}.{c}")
             for c in ON_TIME_CLOCKS]
    for rate in (resolution_rate(session, flt), reopen_rate(session, flt),
                 *escalation_rates(session, flt).values()):
        rates[rate.kpi] = rate
        rows.append(rate_row(rate))
    for clock, (avg_name, p90_name) in _TIMES.items():
        times = business_time(session, flt, clock)
        for name, value in ((avg_name, times.average_seconds), (p90_name, times.p90_seconds)):
            rows.append({"kpi": name, "unit": "seconds", "value": value,
                         "basis": f"n={times.count}", "numerator": None, "denominator": None,
                         "target": None, "meets_target": None})
    return rows, rates


def handoffs_table(session: Session, flt: KpiFilter) -> list[dict[str, Any]]:
    """Return the hand-offs per service request opened under `flt`'s period and team.

    A case counts under the team it is with now (the one that ended up serving it).
    """
    figures = transfers(session, replace(flt, process="service_request"))
    return [{"kpi": TRANSFERS_PER_CASE.name, "unit": TRANSFERS_PER_CASE.unit.value,
             "value": figures.per_case, "basis": f"{figures.transfers}/{figures.cases}",
             "numerator": figures.transfers, "denominator": figures.cases,
             "transferred_share": figures.transferred_share, "target": None,
             "meets_target": None}]


def pareto_table(session: Session, flt: KpiFilter) -> list[dict[str, Any]]:
    """Return the category Pareto as rows, most cases first."""
    return [{"category": r.category, "cases": r.count, "share": r.share,
             "cumulative_share": r.cumulative_share} for r in category_pareto(session, flt)]


def recurrence(session: Session, flt: KpiFilter) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Find customers who complained again in the same category within the filter's period.

    Returns one row per (customer, category) with two or more cases, and a summary:
    repeat cases are every case of such a group after the first.
    """
    count = func.count(col(Case.id))
    groups = list(session.exec(
        select(col(Case.customer_id), col(Case.category), count)
        .where(*flt.conditions(), col(Case.category).is_not(None))
        .group_by(col(Case.customer_id), col(Case.category)).having(count >= 2)
        .order_by(count.desc(), col(Case.customer_id), col(Case.category))))
    total = session.exec(select(func.count(col(Case.id))).where(*flt.conditions())).one()
    ids: dict[tuple[int | None, str | None], list[int | None]] = {}
    refs: dict[int | None, str | None] = {}
    if groups:
        pairs = [(customer, category) for customer, category, _ in groups]
        for customer, category, case_id in session.exec(
                select(col(Case.customer_id), col(Case.category), col(Case.id))
                .where(*flt.conditions(),
                       tuple_(col(Case.customer_id), col(Case.category)).in_(pairs))
                .order_by(col(Case.id))):
            ids.setdefault((customer, category), []).append(case_id)
        refs = dict(session.exec(select(col(Customer.id), col(Customer.external_ref))
                                 .where(col(Customer.id).in_({p[0] for p in pairs}))).all())
    rows: list[dict[str, Any]] = [
        {"customer_id": customer, "customer_ref": refs.get(customer), "category": category,
         "cases": int(n), "case_ids": ids.get((customer, category), [])}
        for customer, category, n in groups]
    repeats = sum(row["cases"] - 1 for row in rows)
    summary = {"cases": int(total), "recurring_customers": len({r["customer_id"] for r in rows}),
               "repeat_cases": repeats, "repeat_share": repeats / total if total else None}
    return rows, summary


def missed_case_ids(session: Session, flt: KpiFilter, now: datetime, limit: int = 100
                    ) -> list[int]:
    """List the cases in `flt` with a first-response or resolution clock missed at `now`."""
    return stored_ids(session.exec(
        select(col(Case.id)).distinct().join(SlaClock, col(SlaClock.case_id) == col(Case.id))
        .where(*flt.conditions(), col(SlaClock.name).in_(ON_TIME_CLOCKS), _missed(now))
        .order_by(col(Case.id)).limit(limit)))


def _missed(now: datetime) -> Any:
    return or_(col(SlaClock.breached_at).is_not(None),
               and_(col(SlaClock.state) == "running", col(SlaClock.due_at) <= now))


def _clock_rows(session: Session, condition: Any, team: str | None, zone: ZoneInfo,
                moment: Any) -> list[dict[str, Any]]:
    query = (select_rows(col(Case.id), col(Case.team), col(SlaClock.name), col(Case.priority),
                         col(Case.assignee), moment)
             .join(SlaClock, col(SlaClock.case_id) == col(Case.id)).where(condition)
             .order_by(moment, col(Case.id)).limit(LIST_LIMIT))
    if team is not None:
        query = query.where(col(Case.team) == team)
    return [{"case_id": case_id, "team": team_name, "clock": clock, "priority": priority,
             "assignee": assignee, "at": at.astimezone(zone).isoformat() if at else None}
            for case_id, team_name, clock, priority, assignee, at in session.exec(query)]


def breached_between(start: datetime, end: datetime) -> Any:
    """Select clocks that breached in [start, end)."""
    return and_(col(SlaClock.breached_at) >= start, col(SlaClock.breached_at) < end)


def at_risk(now: datetime) -> Any:
    """Select running clocks past their warning and not yet due."""
    return and_(col(SlaClock.state) == "running", col(SlaClock.breached_at).is_(None),
                col(SlaClock.warn_at) <= now, col(SlaClock.due_at) > now)


def overdue_open(now: datetime) -> Any:
    """Select clocks of open cases that are past their target and not stopped."""
    return and_(col(Case.closed_at).is_(None), col(SlaClock.state) != "stopped",
                or_(col(SlaClock.breached_at).is_not(None), col(SlaClock.due_at) <= now))


def digest_lists(session: Session, *, start: datetime, end: datetime, now: datetime,
                 zone: ZoneInfo, team: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """List the period's breaches and what is at risk at `now`, case by case."""
    return {
        "breaches": _clock_rows(session, breached_between(start, end), team, zone,
                                col(SlaClock.breached_at)),
        "at-risk": _clock_rows(session, at_risk(now), team, zone, col(SlaClock.due_at)),
    }


def digest_counts(session: Session, *, start: datetime, end: datetime, now: datetime
                  ) -> dict[str, dict[str, int]]:
    """Count per team the clocks breached in the period, at risk now and overdue now."""
    counts: dict[str, dict[str, int]] = {}
    for key, condition in (("breached_in_period", breached_between(start, end)),
                           ("at_risk_now", at_risk(now)), ("overdue_now", overdue_open(now))):
        query = (select(col(Case.team), func.count(col(SlaClock.id)))
                 .join(SlaClock, col(SlaClock.case_id) == col(Case.id)).where(condition)
                 .group_by(col(Case.team)))
        for team, n in session.exec(query):
            counts.setdefault(team, {})[key] = int(n)
    return counts
