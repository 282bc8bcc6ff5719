"""Commands: open a case and apply an event to it, each in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, func, select

from core.customers import CustomerClaim, recognise
from core.db import is_retryable
from core.models import Case, Customer, TeamMember
from core.processes import after_decision, after_open
from core.store import load_case, load_clocks, persist_decision, snapshot_of
from domain.access import ActorKind, Identity
from domain.calendars import BusinessCalendar
from domain.classification import classify
from domain.policy import PolicySet, Tier
from domain.process import SYSTEM_ACTOR, Event, IllegalTransition
from domain.processes import complaint, definition
from domain.routing import MemberLoad, pick_assignee

if TYPE_CHECKING:
    from core.runtime import Runtime

OPEN_ATTEMPTS = 3


class CaseNotFound(LookupError):
    def __init__(self, case_id: int) -> None:
        super().__init__(f"case {case_id} not found")
        self.case_id = case_id


class IdempotencyConflict(Exception):
    """An Idempotency-Key reused with a different request body."""


@dataclass(frozen=True)
class CustomerInput:
    ref: str | None
    name: str | None
    tier: Tier | None  # None keeps a known customer's tier (C for a new one)
    phone: str | None
    email: str | None
    birthday: date | None = None
    greetings_consent: bool | None = None  # None: leave as it is
    survey_opt_out: bool | None = None  # None: leave as it is
    preferred_channel: str | None = None  # email | phone; None: leave as it is


@dataclass(frozen=True)
class OpenCase:
    """What it takes to open a complaint."""

    subject: str
    description: str
    customer: CustomerInput
    channel: str | None = None
    category: str | None = None
    priority: str | None = None
    idempotency_key: str | None = None

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the request, to tell a retry from another request under the same key."""
        fields = asdict(self)
        # Unset care fields stay out, so a retry sent before they existed still matches.
        for name in ("birthday", "greetings_consent", "survey_opt_out", "preferred_channel"):
            if fields["customer"][name] is None:
                del fields["customer"][name]
        payload = json.dumps(fields, default=str, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def open_case(
    session: Session,
    *,
    request: OpenCase,
    actor: str,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    actor_kind: ActorKind = ActorKind.person,
) -> tuple[Case, bool]:
    """Open a complaint; with a known idempotency key, return the case it opened before.

    Idempotency keys belong to their caller: the same key from someone else is theirs.
    """
    return open_once(
        session, idempotency_key=request.idempotency_key, actor=actor, actor_kind=actor_kind,
        fingerprint=request.fingerprint,
        open_new=lambda stored_key: _open(session, request, stored_key, (actor, actor_kind),
                                          policies, calendars, now))


def open_once(session: Session, *, idempotency_key: str | None, actor: str,
              actor_kind: ActorKind, fingerprint: str,
              open_new: Callable[[str | None], Case]) -> tuple[Case, bool]:
    """Open a case of any process at most once per Idempotency-Key, and commit.

    `open_new(stored_key)` writes the new case (keeping the stored key and `fingerprint`
    on it when there is a key). Returns the case and whether it is new: a retry with the
    same key answers the case it opened before; the same key with another request is an
    `IdempotencyConflict`. Keys belong to their caller: another's same key is theirs.
    """
    stored_key = scoped_key(idempotency_key, actor, actor_kind)
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            if stored_key:
                existing = by_idempotency_key(session, stored_key, fingerprint)
                if existing is not None:
                    return existing, False
            case = open_new(stored_key)
            session.commit()
            return case, True
        except (IntegrityError, OperationalError) as exc:
            # A concurrent request won a race: the same Idempotency-Key (answer with its
            # case), the same new customer (who exists now), or a deadlock the database
            # broke by rolling us back. Each is settled by trying again.
            session.rollback()
            if attempt == OPEN_ATTEMPTS or not is_retryable(exc):
                raise
        except BaseException:
            session.rollback()  # a refusal (a full slot, a bad field) leaves nothing behind
            raise
    raise AssertionError("unreachable")


def scoped_key(key: str | None, actor: str, kind: ActorKind) -> str | None:
    """The Idempotency-Key as stored: the caller's own, so another's same key is not it."""
    if not key:
        return None
    return hashlib.sha256(f"{kind}\0{actor}\0{key}".encode()).hexdigest()


def by_idempotency_key(session: Session, stored_key: str, fingerprint: str) -> Case | None:
    """The case a stored key opened (any process); `IdempotencyConflict` for another body."""
    case = session.exec(select(Case).where(Case.idempotency_key == stored_key)).first()
    if case is not None and case.request_hash != fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body")
    return case


def open_linked_complaint(
    session: Session,
    *,
    request: OpenCase,
    customer: Customer,
    team: str,
    data: Mapping[str, Any],
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
) -> Case:
    """Open a complaint for a known customer and team, linked by `data`, in the caller's
    transaction (a service-recovery case opened by a low satisfaction score)."""
    return _open(session, request, None, (SYSTEM_ACTOR, ActorKind.system), policies,
                 calendars, now, customer=customer, team=team, data=data)


def _open(
    session: Session,
    request: OpenCase,
    stored_key: str | None,
    actor: tuple[str, ActorKind],
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    *,
    customer: Customer | None = None,
    team: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Case:
    policy = complaint.policy_of(policies)
    customer = customer or _upsert_customer(session, request.customer, request.channel,
                                             now)
    tier = Tier(customer.tier)
    verdict = classify(policy, tier=tier, channel=request.channel, category=request.category,
                       text=f"{request.subject}\n{request.description}",
                       requested=request.priority)
    team = team or policy.routing.by_category.get(request.category or "",
                                                  policy.routing.default_team)
    assignee = route(session, team, policies, now)
    case = Case(
        process=complaint.NAME, stage="new", priority=verdict.priority, tier=tier.value,
        category=request.category, channel=request.channel, subject=request.subject,
        description=request.description, customer_id=customer.id, team=team,
        policy_version=policies.version, idempotency_key=stored_key,
        request_hash=request.fingerprint if stored_key else None,
        opened_at=now, stage_entered_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    decision = complaint.open_case(
        case_id=case.id, tier=tier, classification=verdict, team=team, assignee=assignee,
        channel=request.channel, category=request.category, actor=actor[0], policies=policies,
        now=now, calendars=calendars, actor_kind=actor[1], data=data)
    persist_decision(session, case, [], decision, policies=policies, calendars=calendars,
                     now=now, new_case=True)
    after_open(session, case, policies=policies, calendars=calendars, now=now)
    return case


def _upsert_customer(session: Session, data: CustomerInput, channel: str | None,
                     now: datetime) -> Customer:
    """The customer, recognised across channels (`core.customers`), with care fields set."""
    customer = recognise(session, CustomerClaim(ref=data.ref, name=data.name, tier=data.tier,
                                                phone=data.phone, email=data.email),
                         channel=channel, now=now)
    for field in ("birthday", "greetings_consent", "survey_opt_out", "preferred_channel"):
        value = getattr(data, field)
        if value is not None:
            setattr(customer, field, value)
    session.add(customer)
    return customer


def route(session: Session, team: str, policies: PolicySet, now: datetime) -> str:
    """Pick the team member by the team's strategy and record the assignment time."""
    team_policy = policies.teams[team]
    rows = {
        row.person: row for row in session.exec(
            select(TeamMember).where(TeamMember.team == team,
                                     col(TeamMember.person).in_(team_policy.members))
            # Lock in one order in every transaction, so two intakes cannot deadlock.
            .order_by(col(TeamMember.person)).with_for_update())
    }
    loads = [MemberLoad(p, rows[p].open_cases, rows[p].last_assigned_at)
             for p in team_policy.members if p in rows]
    chosen = pick_assignee(loads, team_policy.strategy)
    rows[chosen].last_assigned_at = now
    session.add(rows[chosen])
    return chosen


def post_event(
    session: Session,
    *,
    case_id: int,
    event: Event,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    identity: Identity | None = None,
    runtime: Runtime | None = None,
) -> Case:
    """Apply an event to a case (409 material if the stage does not allow it).

    With an `identity`, the case must be in the caller's scope (else it is not found)
    and the caller's role must be allowed to send the event.
    """
    case = load_case(session, case_id, for_update=True)
    if case is None or (identity and not identity.sees(team=case.team, assignee=case.assignee)):
        raise CaseNotFound(case_id)
    clocks = load_clocks(session, case_id)
    table = definition(case.process).TABLE
    if identity is not None:
        table.authorize(event.type, identity.role)
    try:
        decision = table.decide(snapshot_of(case, clocks), event, policies, calendars, now)
    except IllegalTransition as exc:
        if identity is None:
            raise
        raise IllegalTransition(exc.event, exc.stage,
                                table.allowed_events(exc.stage, role=identity.role)) from None
    persist_decision(session, case, clocks, decision, policies=policies, calendars=calendars,
                     now=now)
    after_decision(session, case, decision, policies=policies, calendars=calendars, now=now,
                   runtime=runtime)
    session.commit()
    return case


def sync_team_members(session: Session, policies: PolicySet) -> None:
    """Make sure every member of every team in the policies has a load row."""
    existing = {(m.team, m.person) for m in session.exec(select(TeamMember))}
    for team, team_policy in policies.teams.items():
        for person in team_policy.members:
            if (team, person) not in existing:
                open_now = session.exec(select(func.count()).select_from(Case).where(
                    Case.team == team, Case.assignee == person,
                    col(Case.closed_at).is_(None))).one()
                session.add(TeamMember(team=team, person=person, open_cases=open_now))
    session.commit()

