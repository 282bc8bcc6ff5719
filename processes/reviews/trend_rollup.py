"""The closed complaints' on-time figures per UTC hour and team (`ClosedComplaintHour`),
kept in the transaction that closes each complaint, so that a trend reads a few rows per
hour for the closed complaints of its period and counts only the open ones live.

A closed complaint's figures never change: closed is final and both its clocks are
stopped by then (resolve and withdraw stop them). Its figures are those
`core.kpis.on_time_rate` and `core.worklists.cases_on_time` count: its first-response and
resolution clocks met and decided, and whether the case was decided and on time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, event, func, literal
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as SqlSession
from sqlalchemy.orm import SessionTransaction, aliased
from sqlmodel import Session, SQLModel, col, delete

from core.kpis import ON_TIME_CLOCKS, clock_met, clock_missed, count_if
from domain.calendars import BusinessCalendar
from domain.clocks import ClockState
from domain.complaint import rules as complaint
from domain.policy import PolicySet
from domain.process import Decision
from engine.db import select_rows
from engine.models import Case, ClosedComplaintHour, SlaClock

FIGURES = ("opened", "clocks_met", "clocks_decided", "cases_on_time", "cases_decided")
_PENDING = "caseflow_closed_complaint_hours_pending"
REBUILD_BATCH = 5_000


@dataclass(frozen=True)
class Figures:
    """Complaints opened, their on-time clocks met and decided, the complaints decided
    and on time: what a trend bucket shows, summed over complaints."""

    opened: int = 0
    clocks_met: int = 0
    clocks_decided: int = 0
    cases_on_time: int = 0
    cases_decided: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, name) + getattr(other, name) for name in FIGURES))


def hour_of(moment: datetime) -> datetime:
    """The UTC hour `moment` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# One alias per on-time clock, made once: a statement made of the same aliases is
# compiled once and then found in SQLAlchemy's cache (a closing runs one).
_CLOCKS = {name: aliased(SlaClock, name=f"{name}_clock") for name in ON_TIME_CLOCKS}


def per_case(now: datetime | ColumnElement[Any], *columns: Any) -> Any:
    """One row per complaint of the query's cases: `columns`, then its on-time clocks met
    and missed by `now` (an instant, or a bound parameter that gives it; a case without
    such clocks has 0 and 0). Add the WHERE.

    Each on-time clock is joined on its own (a case has at most one of each name), so the
    rows need no grouping per case, which would sort them all first.
    """
    met: list[ColumnElement[Any]] = []
    missed: list[ColumnElement[Any]] = []
    query = select_rows(*columns).select_from(Case)
    for name, clock in _CLOCKS.items():
        query = query.outerjoin(clock, and_(col(clock.case_id) == col(Case.id),
                                            col(clock.name) == name))
        met.append(_one_if(clock_met(clock)))
        missed.append(_one_if(clock_missed(now, clock)))
    return query.add_columns(_sum_of(met).label("met"), _sum_of(missed).label("missed"))


def bucket_of(moment: Any, spans: Sequence[tuple[datetime, datetime]]) -> ColumnElement[Any]:
    """The index of the span `moment` (a column) falls in, for consecutive `spans`; -1
    before the first. A binary search of CASEs: about five comparisons a row for 30
    spans, where a flat CASE makes fifteen on average."""
    def search(lo: int, hi: int) -> ColumnElement[Any]:
        if lo == hi:
            return literal(lo)
        mid = (lo + hi) // 2
        return sql_case((moment < spans[mid][1], search(lo, mid)), else_=search(mid + 1, hi))
    return sql_case((moment < spans[0][0], literal(-1)), else_=search(0, len(spans) - 1))


def _one_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return sql_case((condition, 1), else_=0)


def _sum_of(values: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def case_figures(met: int, missed: int) -> Figures:
    """One complaint's figures from its on-time clocks met and missed."""
    decided = met + missed > 0
    return Figures(opened=1, clocks_met=met, clocks_decided=met + missed,
                   cases_on_time=int(decided and missed == 0), cases_decided=int(decided))


def sums(per_case_rows: Any) -> list[ColumnElement[Any]]:
    """The figures of `per_case_rows` (a subquery of `per_case`) summed, as aggregate
    columns in the order of FIGURES (each 0 over no rows)."""
    met, missed = per_case_rows.c.met, per_case_rows.c.missed
    return [func.count(), _sum(met), _sum(met + missed),
            count_if(and_(met > 0, missed == 0)), count_if(met + missed > 0)]


def _sum(value: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value), 0)


# --- kept as complaints close --------------------------------------------------------


def after_closure(session: Session, case: Case, decision: Decision, *, policies: PolicySet,
                  calendars: Mapping[str, BusinessCalendar], now: datetime,
                  runtime: object = None) -> None:
    """Add a complaint that `decision` closes to its hour's figures, at the commit of the
    decision's transaction (a complaint's `after_decision` hook)."""
    final = complaint.TABLE.final_stages
    if case.process != complaint.NAME or decision.before.stage in final \
            or decision.after.stage not in final:
        return
    met = missed = 0
    for name in ON_TIME_CLOCKS:
        clock = decision.after.clocks.get(name)
        if clock is None:
            continue
        # As core.kpis.clock_met and clock_missed judge the clock's row, from the clock
        # the decision leaves: no query (its due time is the one the row holds).
        due = clock.due_at(calendars[clock.calendar]) if clock.state is ClockState.running \
            else None
        if clock.breached_at is not None or (due is not None and due <= now):
            missed += 1
        elif clock.state is ClockState.stopped:
            met += 1
    pending: dict[tuple[datetime, str], Figures] = session.info.setdefault(_PENDING, {})
    key = (hour_of(case.opened_at), case.team)
    pending[key] = pending.get(key, Figures()) + case_figures(met, missed)


def _write_pending(session: Session, *_: object) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        # In one order (sorted), so two closing transactions never deadlock on the rows.
        add(session, sorted(pending.items()))


def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    # The end of the whole transaction, however it ended: committed (written already),
    # rolled back or closed, so a session used again never writes them a second time.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


event.listen(SqlSession, "before_commit", _write_pending)
event.listen(SqlSession, "after_transaction_end", _forget_pending)


def add(session: Session, figures: Iterable[tuple[tuple[datetime, str], Figures]]) -> None:
    """Add `figures` to the rows of their (hour, team), creating the rows missing."""
    rows = [{"hour": hour, "team": team, **{name: getattr(f, name) for name in FIGURES}}
            for (hour, team), f in figures]
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name), rows)


@cache
def _upsert(dialect: str) -> Any:
    """The statement adding a row's figures to those of its (hour, team), made once."""
    table = SQLModel.metadata.tables[ClosedComplaintHour.__tablename__]
    statement = (postgres_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.hour, table.c.team],
        set_={name: table.c[name] + statement.excluded[name] for name in FIGURES})


def rebuild(session: Session, now: datetime) -> None:
    """Count every closed complaint again into the roll-up, replacing what it held (for a
    store filled around the service, as the benchmarks fill theirs)."""
    session.exec(delete(ClosedComplaintHour))
    totals: dict[tuple[datetime, str], Figures] = {}
    query = per_case(now, col(Case.team), col(Case.opened_at)).where(
        col(Case.process) == complaint.NAME, col(Case.closed_at).is_not(None))
    for team, opened_at, met, missed in session.exec(query.execution_options(
            yield_per=REBUILD_BATCH)):
        key = (hour_of(opened_at), team)
        totals[key] = totals.get(key, Figures()) + case_figures(int(met), int(missed))
    add(session, sorted(totals.items()))


def closed_by_bucket(session: Session, spans: Sequence[tuple[datetime, datetime]],
                     teams: Sequence[str] | None) -> dict[int, Figures]:
    """The closed complaints' figures per span (by its index), for `teams` (None: all).
    The spans are consecutive and start and end on whole UTC hours."""
    hour = col(ClosedComplaintHour.hour)
    bucket = bucket_of(hour, spans)
    conditions = [hour >= spans[0][0], hour < spans[-1][1]]
    if teams is not None:
        conditions.append(col(ClosedComplaintHour.team).in_(teams))
    query = select_rows(bucket.label("bucket"),
                        *[_sum(col(getattr(ClosedComplaintHour, name))) for name in FIGURES]
                        ).where(*conditions).group_by(bucket)
    return {int(i): Figures(*map(int, values)) for i, *values in session.exec(query)}
