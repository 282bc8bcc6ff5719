"""Affected customers: complaints linked to a crisis in bulk, as they arrive, or by a spike.

A link is unique per (crisis, complaint), so linking the same complaints again adds
nothing; bulk links are one INSERT ... SELECT that skips what is linked already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, func, insert, literal, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from domain.access import ActorKind
from domain.complaint import rules as complaint
from domain.crisis import rules as crisis
from domain.durations import format_duration
from domain.process import SYSTEM_ACTOR, InvalidEvent
from engine.db import select_rows
from engine.models import Case, CaseEvent, UtcDateTime
from processes.crisis.tables import CrisisLink


@dataclass(frozen=True)
class LinkFilter:
    """Which complaints to link: by ids, or by category and an opening window."""

    case_ids: tuple[int, ...] = ()
    category: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    # A team-scoped caller's teams: complaints outside them are not theirs to link, and
    # are skipped as unknown ones are (scope leaks nothing). None: every team.
    teams: frozenset[str] | None = None
    assignee: str | None = None  # ...and the complaints assigned to them, as they see them


def insert_ignoring_duplicates(session: Session, model: Any) -> Insert:
    """An INSERT that skips rows whose unique key exists (PostgreSQL and SQLite)."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return make(model).on_conflict_do_nothing()


def _complaints(flt: LinkFilter, crisis_case: Case, max_window: timedelta) -> Any:
    """The complaints a filter names, as a SELECT of (case id, customer id)."""
    query = select(Case.id, Case.customer_id).where(Case.process == complaint.NAME)
    if flt.teams is not None:
        query = query.where(or_(col(Case.team).in_(sorted(flt.teams)),
                                col(Case.assignee) == flt.assignee))
    if flt.case_ids:
        return query.where(col(Case.id).in_(sorted(set(flt.case_ids))))
    if flt.opened_from is None or flt.opened_to is None:
        raise InvalidEvent("opened_from", "give case_ids, or opened_from and opened_to")
    if not timedelta(0) < flt.opened_to - flt.opened_from <= max_window:
        raise InvalidEvent("opened_to", f"must come after opened_from, by at most "
                                        f"{format_duration(max_window)} (link_window)")
    category = flt.category or crisis_case.category
    if not category:
        raise InvalidEvent("category", "this crisis has no category: name one")
    return query.where(Case.category == category, col(Case.opened_at) >= flt.opened_from,
                       col(Case.opened_at) < flt.opened_to)


def link(session: Session, crisis_case: Case, flt: LinkFilter, *, by: str, how: str,
         max_window: timedelta, now: datetime) -> dict[str, int]:
    """Link the complaints `flt` names to the crisis; return how many were new, in all,
    and how many customers are affected. The caller commits."""
    # Locked, so no compensation batch starts while these links are added.
    stage = session.exec(select(Case.stage).where(Case.id == crisis_case.id)
                         .with_for_update()).one()
    if stage not in crisis.LINKING_STAGES:
        raise InvalidEvent("crisis", f"a {stage} crisis takes no more complaints; "
                                     f"link while it is {sorted(crisis.LINKING_STAGES)}")
    source = _complaints(flt, crisis_case, max_window).subquery()
    rows = select_rows(literal(crisis_case.id), source.c.id, source.c.customer_id,
                       literal(now, UtcDateTime()), literal(by), literal(how)
                       # SQLite parses INSERT ... SELECT ... ON CONFLICT only with a WHERE.
                       ).where(source.c.id.is_not(None))
    statement = insert_ignoring_duplicates(session, CrisisLink).from_select(
        ["crisis_id", "case_id", "customer_id", "linked_at", "linked_by", "how"], rows)
    added = [row[0] for row in session.execute(statement.returning(col(CrisisLink.case_id)))]
    mark_linked(session, crisis_case.id or 0, added, how=how, now=now)
    return {"linked": len(added), **totals(session, crisis_case.id or 0)}


def mark_linked(session: Session, crisis_id: int, case_ids: list[int], *, how: str,
                now: datetime) -> None:
    """Put the link on each newly linked complaint's timeline, so its handler knows."""
    if case_ids:
        session.execute(insert(CaseEvent), [
            {"case_id": case_id, "type": "crisis_linked", "actor": SYSTEM_ACTOR,
             "actor_kind": ActorKind.system.value, "at": now,
             "details": {"crisis": crisis_id, "how": how}} for case_id in case_ids])


def totals(session: Session, crisis_id: int) -> dict[str, int]:
    """How many complaints are linked to a crisis, and how many distinct customers."""
    complaints, customers = session.exec(
        select(func.count(), func.count(func.distinct(CrisisLink.customer_id)))
        .where(CrisisLink.crisis_id == crisis_id)).one()
    return {"complaints": complaints, "customers": customers}


def open_crisis_for(session: Session, category: str) -> Case | None:
    """The newest crisis of `category` that takes complaints as they arrive.

    Its row is share-locked (PostgreSQL) until the caller commits, so a compensation batch
    cannot start between this check and the link: a link either precedes the batch (which
    then compensates its customer) or sees the crisis compensating and stays out.
    """
    return session.exec(
        select(Case).where(Case.process == crisis.NAME, Case.category == category,
                           col(Case.stage).in_(sorted(crisis.LINKING_STAGES)))
        .order_by(col(Case.id).desc()).limit(1).with_for_update(read=True)).first()


def latest_crisis(session: Session, category: str) -> Case | None:
    """The newest crisis of `category`, in any stage."""
    return session.exec(select(Case).where(Case.process == crisis.NAME,
                                           Case.category == category)
                        .order_by(col(Case.id).desc())).first()
