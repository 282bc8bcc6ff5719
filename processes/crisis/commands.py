"""Crisis commands: raise a candidate (a supervisor's, or a spike's) and react to a new
complaint: link it to its category's open crisis, or detect a spike."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists
from sqlmodel import Session, col, func, select

from core.cases import open_once
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.complaint import rules as complaint
from domain.crisis import rules as crisis
from domain.durations import format_duration
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR
from engine.models import Case, stored_id, stored_ids, table_of
from engine.store import persist_new_case
from processes.crisis.links import latest_crisis, mark_linked, open_crisis_for
from processes.crisis.tables import CrisisLink

MAX_SPIKE_LINKS = 10_000  # a spike links what it counted; bigger sets go by filter


def crisis_team(category: str | None, policies: PolicySet) -> str:
    """The team that handles the category's complaints, else the policy's default."""
    policy = crisis.policy_of(policies)
    return policies.complaint.routing.by_category.get(category or "", policy.default_team)


def raise_candidate(session: Session, *, title: str, description: str,
                    category: str | None, actor: str, actor_kind: ActorKind,
                    policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                    now: datetime, spike: Mapping[str, Any] | None = None,
                    key: str | None = None, fingerprint: str | None = None) -> Case:
    """Add a crisis candidate to `session` (the caller commits). `key` makes a detected
    spike's candidate unique: a second detection of the same spike violates it (and, with
    `fingerprint`, makes a caller's Idempotency-Key replay the candidate it raised)."""
    team = crisis_team(category, policies)
    case = Case(process=crisis.NAME, stage="candidate", priority="candidate", tier=None,
                category=category, subject=title[:300], description=description,
                customer_id=None, team=team, policy_version=policies.version,
                idempotency_key=key, request_hash=fingerprint, opened_at=now,
                stage_entered_at=now, updated_at=now)
    persist_new_case(session, case, lambda case_id: crisis.open_candidate(
        case_id=case_id, title=title, description=description, category=category, team=team,
        actor=actor, actor_kind=actor_kind, spike=spike, policies=policies, now=now),
        policies=policies, calendars=calendars, now=now)
    return case


def submit_candidate(session: Session, *, idempotency_key: str | None,
                     **request: Any) -> tuple[Case, bool]:
    """Raise a candidate (`raise_candidate`'s arguments) and commit; (case, whether new).

    With an Idempotency-Key (the caller's own: `core.cases.scoped_key`), a retry answers
    the candidate it raised before, and the same key with another body is refused; a
    lost race on the key is retried and then finds the winner.
    """
    asked = {k: request[k] for k in ("title", "description", "category")}
    fingerprint = hashlib.sha256(json.dumps({"process": crisis.NAME, **asked},
                                            sort_keys=True).encode()).hexdigest()
    return open_once(
        session, idempotency_key=idempotency_key, actor=request["actor"],
        actor_kind=request["actor_kind"], fingerprint=fingerprint,
        open_new=lambda stored_key: raise_candidate(
            session, **request, key=stored_key,
            fingerprint=fingerprint if stored_key else None))


def watches_opened(case: Case | Row[Any]) -> bool:
    """A crisis watches the complaints opened with a category."""
    return case.process == complaint.NAME and bool(case.category) and case.id is not None


def after_open(session: Session, case: Case | Row[Any], *, policies: PolicySet,
               calendars: Mapping[str, BusinessCalendar], now: datetime) -> None:
    """A new complaint in a crisis's category joins the crisis; else it may make a spike."""
    if case.process != complaint.NAME or not case.category or case.id is None:
        return
    current = open_crisis_for(session, case.category)
    if current is not None:
        crisis_id = stored_id(current)
        session.add(CrisisLink(crisis_id=crisis_id, case_id=case.id,
                               customer_id=case.customer_id, linked_at=now,
                               linked_by=SYSTEM_ACTOR, how="arrival"))
        mark_linked(session, crisis_id, [case.id], how="arrival", now=now)
        return
    spike = crisis.policy_of(policies).spike
    if spike.categories and case.category not in spike.categories:
        return
    _detect_spike(session, case, policies=policies, calendars=calendars, now=now)


def _detect_spike(session: Session, case: Case | Row[Any], *, policies: PolicySet,
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
    covered = exists().where(col(CrisisLink.case_id) == Case.id)
    window = select(Case.id, Case.customer_id, Case.opened_at).where(
        Case.process == complaint.NAME, Case.category == category,
        col(Case.opened_at) >= now - spike.window, ~covered)
    # Most intakes see no spike: count at most `spike.count` rows before reading any.
    if session.exec(select(func.count()).select_from(
            window.limit(spike.count).subquery())).one() < spike.count:
        return
    rows = session.exec(window.order_by(col(Case.id)).limit(MAX_SPIKE_LINKS)).all()
    counted = stored_ids(case_id for case_id, _, _ in rows)
    details = {"count": len(counted), "window": format_duration(spike.window),
               "since": min(at for _, _, at in rows).isoformat(),
               "complaints": counted[:100]}
    candidate = raise_candidate(
        session, title=f"Spike of {category} complaints", category=category,
        description=f"{len(counted)} {category} complaints within "
                    f"{format_duration(spike.window)}.",
        actor=SYSTEM_ACTOR, actor_kind=ActorKind.system, policies=policies,
        calendars=calendars, now=now, spike=details,
        key=f"crisis-spike:{category}:after:{previous.id if previous else 0}")
    session.execute(table_of(CrisisLink).insert(), [
        {"crisis_id": candidate.id, "case_id": case_id, "customer_id": customer,
         "linked_at": now, "linked_by": SYSTEM_ACTOR, "how": "spike"}
        for case_id, customer, _ in rows])
    mark_linked(session, candidate.id or 0, counted, how="spike", now=now)
