"""Crisis commands: raise a candidate (a supervisor's, or a spike's) and react to a new
complaint: link it to its category's open crisis, or detect a spike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, func, select

from core.crisis_links import latest_crisis, mark_linked, open_crisis_for
from core.crisis_tables import CrisisLink
from core.models import Case
from core.store import persist_decision
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.durations import format_duration
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR
from domain.processes import complaint, crisis

MAX_SPIKE_LINKS = 10_000  # a spike links what it counted; bigger sets go by filter


def crisis_team(category: str | None, policies: PolicySet) -> str:
    """The team that handles the category's complaints, else the policy's default."""
    policy = crisis.policy_of(policies)
    return policies.complaint.routing.by_category.get(category or "", policy.default_team)


def raise_candidate(session: Session, *, title: str, description: str,
                    category: str | None, actor: str, actor_kind: ActorKind,
                    policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                    now: datetime, spike: Mapping[str, Any] | None = None,
                    key: str | None = None) -> Case:
    """Add a crisis candidate to `session` (the caller commits). `key` makes a detected
    spike's candidate unique: a second detection of the same spike violates it."""
    team = crisis_team(category, policies)
    case = Case(process=crisis.NAME, stage="candidate", priority="candidate", tier=None,
                category=category, subject=title[:300], description=description,
                customer_id=None, team=team, policy_version=policies.version,
                idempotency_key=key, opened_at=now, stage_entered_at=now, updated_at=now)
    session.add(case)
    session.flush()
    assert case.id is not None
    decision = crisis.open_candidate(
        case_id=case.id, title=title, description=description, category=category, team=team,
        actor=actor, actor_kind=actor_kind, spike=spike, policies=policies, now=now)
    persist_decision(session, case, [], decision, policies=policies, calendars=calendars,
                     now=now, new_case=True)
    return case


def after_open(session: Session, case: Case, *, policies: PolicySet,
               calendars: Mapping[str, BusinessCalendar], now: datetime) -> None:
    """A new complaint in a crisis's category joins the crisis; else it may make a spike."""
    if case.process != complaint.NAME or not case.category or case.id is None:
        return
    current = open_crisis_for(session, case.category)
    if current is not None:
        session.add(CrisisLink(crisis_id=current.id, case_id=case.id,
                               customer_id=case.customer_id, linked_at=now,
                               linked_by=SYSTEM_ACTOR, how="arrival"))
        mark_linked(session, current.id or 0, [case.id], how="arrival", now=now)
        return
    spike = crisis.policy_of(policies).spike
    if spike.categories and case.category not in spike.categories:
        return
    _detect_spike(session, case, policies=policies, calendars=calendars, now=now)


def _detect_spike(session: Session, case: Case, *, policies: PolicySet,
                  calendars: Mapping[str, BusinessCalendar], now: datetime) -> None:
    """Raise one candidate when the category's complaints in the window reach the count.

    Complaints a crisis already links do not count again, so one spike raises one
    candidate even after that candidate is dismissed. Two intakes that see the same
    spike at once both try the same candidate key; the loser's transaction is retried
    and finds the candidate open, so its complaint joins it.
    """
    spike = crisis.policy_of(policies).spike
    category = case.category or ""
    previous = latest_crisis(session, category)
    covered = exists().where(CrisisLink.case_id == Case.id)
    counted = list(session.exec(
        select(Case.id).where(Case.process == complaint.NAME, Case.category == category,
                              col(Case.opened_at) >= now - spike.window, ~covered)
        .order_by(col(Case.id)).limit(MAX_SPIKE_LINKS)))
    if len(counted) < spike.count:
        return
    first = session.exec(select(func.min(Case.opened_at)).where(
        col(Case.id).in_(counted))).one()
    details = {"count": len(counted), "window": format_duration(spike.window),
               "since": first.isoformat() if first else now.isoformat(),
               "complaints": counted[:100]}
    candidate = raise_candidate(
        session, title=f"Spike of {category} complaints", category=category,
        description=f"{len(counted)} {category} complaints within "
                    f"{format_duration(spike.window)}.",
        actor=SYSTEM_ACTOR, actor_kind=ActorKind.system, policies=policies,
        calendars=calendars, now=now, spike=details,
        key=f"crisis-spike:{category}:after:{previous.id if previous else 0}")
    links = [{"crisis_id": candidate.id, "case_id": case_id, "customer_id": customer,
              "linked_at": now, "linked_by": SYSTEM_ACTOR, "how": "spike"}
             for case_id, customer in session.exec(
                 select(Case.id, Case.customer_id).where(col(Case.id).in_(counted)))]
    session.execute(CrisisLink.__table__.insert(), links)  # type: ignore[attr-defined]
    mark_linked(session, candidate.id or 0, counted, how="spike", now=now)
