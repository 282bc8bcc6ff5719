"""Commands: open a case and apply an event to it, each in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Row, String, any_, sql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, func, select

from core.customers import CustomerClaim, KnownCustomers, given_in, recognise_row
from domain.access import ActorKind, Identity
from domain.calendars import BusinessCalendar
from domain.catalogue import definition
from domain.complaint import rules as complaint
from domain.complaint.classification import classify
from domain.complaint.routing import pick_assignee
from domain.policy import PolicySet, Tier
from domain.process import SYSTEM_ACTOR, Event, IllegalTransition
from engine.db import begin_writing, commit_retrying, connection_of
from engine.hooks import after_decision, after_open, opened_watched
from engine.models import Case, Customer, TeamMember
from engine.pg_pipeline import DriverQuery
from engine.store import (
    CASES,
    Appends,
    MemberLoads,
    Opening,
    load_case,
    load_clocks,
    new_case_id,
    persist_decision,
    persist_opening,
    snapshot_of,
)

if TYPE_CHECKING:
    from core.runtime import Runtime

WRITE_ATTEMPTS = 3  # tries at a write that may lose a race to a concurrent one
CARE_FIELDS = ("birthday", "greetings_consent", "survey_opt_out", "preferred_channel",
               "language")
T = TypeVar("T")
# Built once: building a statement costs more than running it (every intake runs these).
_BY_KEY = sql.select(CASES.c.id, CASES.c.request_hash).where(
    CASES.c.idempotency_key == sql.bindparam("key"))
# Which of the stored keys `keys` opened a case, for a batch's reads sent together on
# PostgreSQL (`engine.pg_pipeline`): a key that none did needs no lookup of its own.
KEYS_USED = DriverQuery(sql.select(CASES.c.idempotency_key).where(
    CASES.c.idempotency_key == any_(sql.bindparam("keys", type_=ARRAY(String())))),
    prepare=False)  # as `core.customers.BY_REFS`


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
    language: str | None = None  # zh-Hans | en; None: leave as it is

    def care(self) -> dict[str, Any]:
        """The consent and preference columns to set: those given."""
        return {name: value for name in CARE_FIELDS
                if (value := getattr(self, name)) is not None}

    def claim(self) -> CustomerClaim:
        """Who the customer says they are."""
        return CustomerClaim(ref=self.ref, name=self.name, tier=self.tier, phone=self.phone,
                             email=self.email)


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
        for name in CARE_FIELDS:
            if fields["customer"][name] is None:
                del fields["customer"][name]
        payload = json.dumps(fields, default=str, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A complaint as its opening wrote it, with its customer: enough to answer with."""

    opening: Opening
    customer: Row[Any] | Customer


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
    found, created = open_once(
        session, idempotency_key=request.idempotency_key, actor=actor, actor_kind=actor_kind,
        fingerprint=request.fingerprint,
        open_new=lambda stored_key: write_complaint(session, request, stored_key,
                                                    (actor, actor_kind), policies, calendars,
                                                    now))
    if isinstance(found, Case):
        return found, created
    return _model_of(session, found), created


def open_once(session: Session, *, idempotency_key: str | None, actor: str,
              actor_kind: ActorKind, fingerprint: str,
              open_new: Callable[[str | None], T]) -> tuple[T | Case, bool]:
    """Open a case of any process at most once per Idempotency-Key, and commit.

    `open_new(stored_key)` writes the new case (keeping the stored key and `fingerprint`
    on it when there is a key) and returns what it wrote. Returns that and True, or, for
    a retry with the same key, the case it opened before and False; the same key with
    another request is an `IdempotencyConflict`. Keys belong to their caller: another's
    same key is theirs.
    """
    stored_key = scoped_key(idempotency_key, actor, actor_kind)

    def write() -> tuple[T | Case, bool]:
        begin_writing(session)  # SQLite: what it reads (the key, the last case id) holds
        return replay_or_open(session, stored_key, fingerprint, open_new)

    # A concurrent request may win a race: the same Idempotency-Key (then this answers
    # with its case), the same new customer (who exists now), or a deadlock the database
    # broke by rolling us back. Each is settled by trying again.
    try:
        return commit_retrying(session, write, attempts=WRITE_ATTEMPTS)
    except BaseException:
        session.rollback()  # a refusal (a full slot, a bad field) leaves nothing behind
        raise


def replay_or_open(session: Session, stored_key: str | None, fingerprint: str,
                   open_new: Callable[[str | None], T], *, unused: bool = False
                   ) -> tuple[T | Case, bool]:
    """In `session`'s transaction, uncommitted: the case `stored_key` opened before and
    False, or what `open_new(stored_key)` writes and True. `IdempotencyConflict` when
    the key was used with another request. A key this transaction found `unused` is not
    looked up again."""
    if stored_key and not unused:
        existing = by_idempotency_key(session, stored_key, fingerprint)
        if existing is not None:
            return existing, False
    return open_new(stored_key), True


def scoped_key(key: str | None, actor: str, kind: ActorKind) -> str | None:
    """The Idempotency-Key as stored: the caller's own, so another's same key is not it."""
    if not key:
        return None
    return hashlib.sha256(f"{kind}\0{actor}\0{key}".encode()).hexdigest()


def by_idempotency_key(session: Session, stored_key: str, fingerprint: str) -> Case | None:
    """The case a stored key opened (any process); `IdempotencyConflict` for another body."""
    found = connection_of(session).execute(_BY_KEY, {"key": stored_key}).first()
    if found is None:
        return None
    if found.request_hash != fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body")
    return session.get(Case, found.id)


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
    avoid: str | None = None,
) -> Case:
    """Open a complaint for a known customer and team, linked by `data`, in the caller's
    transaction (a service-recovery case opened by a low satisfaction score), routed to
    someone other than `avoid` when the team has anyone else."""
    opened = write_complaint(session, request, None, (SYSTEM_ACTOR, ActorKind.system),
                             policies, calendars, now, customer=customer, team=team, data=data,
                             avoid=avoid)
    return _model_of(session, opened)


def _model_of(session: Session, opened: Opened) -> Case:
    """The complaint just written, as a model in `session`, for callers that want one."""
    case = session.get(Case, opened.opening.case.id)
    assert case is not None
    return case


def write_complaint(
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
    avoid: str | None = None,
    appends: Appends | None = None,
    known: KnownCustomers | None = None,
) -> Opened:
    """Write a new complaint in `session`'s transaction (not committed): its customer,
    routing (past `avoid`: see `route`), case row, clocks, timeline and timers, and what
    other processes add. With `appends`, its clocks, timeline, timers and notifications
    are left to it (see `persist_opening`), and with `known` (a batch's customers, read
    together) the customer is looked up there.

    Plain statements, no model objects, and nothing read back: every intake runs this,
    and the answer to it is built from the rows written.
    """
    policy = complaint.policy_of(policies)
    db = session.connection()  # plain statements: no session machinery on the way
    given = request.customer
    claim = given.claim()
    who = customer or recognise_row(db, claim, channel=request.channel, now=now,
                                    care=given.care(), known=known)
    tier = Tier(who.tier)
    verdict = classify(policy, tier=tier, channel=request.channel, category=request.category,
                       text=f"{request.subject}\n{request.description}",
                       requested=request.priority)
    team = team or complaint_team(policies, request.category)
    rows = appends if appends is not None else Appends(ids=True)
    assignee = route(db, team, policies, now, avoid=avoid, loads=rows.loads)
    decision = given_in(complaint.open_case(
        case_id=new_case_id(db, rows), tier=tier, classification=verdict, team=team,
        assignee=assignee, channel=request.channel, category=request.category, actor=actor[0],
        policies=policies, now=now, calendars=calendars, actor_kind=actor[1], data=data), claim)
    opening = persist_opening(db, decision, {
        "tier": tier.value, "category": request.category, "subject": request.subject,
        "description": request.description, "customer_id": who.id,
        "policy_version": policies.version, "idempotency_key": stored_key,
        "request_hash": request.fingerprint if stored_key else None,
    }, policies=policies, calendars=calendars, now=now, appends=rows)
    if appends is None:
        rows.insert(db)
    elif opened_watched(opening.case):
        rows.insert_cases(db)  # the watcher reads the cases opened, or points at this one
    # The processes that watch cases opened act in this transaction (processes/registry.py):
    # a crisis links the complaint to itself, or counts it towards a spike.
    after_open(session, opening.case, policies=policies, calendars=calendars, now=now)
    return Opened(opening=opening, customer=who)


def complaint_team(policies: PolicySet, category: str | None) -> str:
    """The team a complaint of `category` goes to."""
    routing = complaint.policy_of(policies).routing
    return routing.by_category.get(category or "", routing.default_team)


def route(db: Session | Connection, team: str, policies: PolicySet, now: datetime, *,
          avoid: str | None = None, loads: MemberLoads | None = None) -> str:
    """Pick the team member by the team's strategy (not `avoid` while anyone else is
    there) and record the assignment time: in `loads` when given (a batch's, written with
    the rest of it), else at once."""
    team_policy = policies.teams[team]
    ledger = loads if loads is not None else MemberLoads()
    known = ledger.team(db, team)  # former members' rows too, left out here
    chosen = pick_assignee([known[p] for p in team_policy.members if p in known],
                           team_policy.strategy, avoid=avoid,
                           supervisor=team_policy.supervisor)
    ledger.change(team, chosen, at=now)
    if loads is None:
        ledger.write(db)
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
    """Apply an event to a case (409 material if the stage does not allow it), and commit.

    With an `identity`, the case must be in the caller's scope (else it is not found)
    and the caller's role must be allowed to send the event. In a transaction of its own,
    a deadlock or a unique key lost to a concurrent one is settled by reading the case
    again and deciding again (which may then refuse the event: the stage moved on); a
    transaction the caller began holds the caller's work too, so it is not replayed.
    """
    owned = not session.in_transaction()
    return commit_retrying(
        session, lambda: _apply_event(session, case_id, event, policies, calendars, now,
                                      identity, runtime),
        attempts=WRITE_ATTEMPTS if owned else 1)


def _apply_event(session: Session, case_id: int, event: Event, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime,
                 identity: Identity | None, runtime: Runtime | None) -> Case:
    begin_writing(session)
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
                                table.allowed_events(exc.stage, role=identity.role,
                                                     data=case.data), exc.reason) from None
    persist_decision(session, case, clocks, decision, policies=policies, calendars=calendars,
                     now=now)
    after_decision(session, case, decision, policies=policies, calendars=calendars, now=now,
                   runtime=runtime)
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

