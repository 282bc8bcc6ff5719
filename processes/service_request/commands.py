"""Service requests in the store: open one, hold and free seats, hand on to a team member.

Seats are counted per slot in `service_slots`, one row per (location, slot start) that
anyone booked. Booking takes that row's lock first (an upsert, then SELECT ... FOR
UPDATE on PostgreSQL; SQLite's single writer holds it from the upsert), so two
bookings racing for a slot's last seat are serialised and only one gets it. A decision
whose `data.booking` differs from before frees the old seat and books the new one in the
same transaction; a closed or full slot refuses the whole event with the nearest free
slots (`domain.process.Unavailable`). Seat rows are always locked in (location, start)
order, after the team members' rows, so concurrent moves queue rather than deadlock.
An Idempotency-Key is kept on the case as for complaints (`core.cases.scoped_key`).
Completion opens the satisfaction follow-up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import PrimaryKeyConstraint, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from core.cases import open_once, route
from core.customers import CustomerClaim, given_in, recognise
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet, Tier
from domain.process import SYSTEM_ACTOR, CaseSnapshot, Decision, Event, Unavailable
from domain.satisfaction import CONTACTS
from domain.service_request import rules as sr
from domain.service_request.locations import refuse
from engine import hooks
from engine.models import Case, Customer, UtcDateTime, stored_id
from engine.store import load_clocks, persist_decision, persist_new_case
from processes.followup.commands import after_closure

if TYPE_CHECKING:
    from core.runtime import Runtime


class ServiceSlot(SQLModel, table=True):
    """The seats booked in one slot of one location; the row is also the slot's lock."""

    __tablename__ = "service_slots"
    __table_args__ = (PrimaryKeyConstraint("location", "starts_at", name="pk_service_slots"),)
    location: str = Field(max_length=80)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    booked: int = 0


def taken(session: Session, location: str, start: datetime, end: datetime
          ) -> dict[datetime, int]:
    """Seats booked per slot of `location` starting in [start, end]."""
    rows = session.exec(select(ServiceSlot).where(
        ServiceSlot.location == location, col(ServiceSlot.starts_at) >= start,
        col(ServiceSlot.starts_at) <= end, col(ServiceSlot.booked) > 0))
    return {row.starts_at: row.booked for row in rows}


def book(session: Session, *, location: str, slot: datetime, policies: PolicySet,
         calendars: Mapping[str, BusinessCalendar], now: datetime,
         field_name: str = "data.slot") -> None:
    """Take a seat in `slot`, or raise `Unavailable` with the nearest free slots."""
    place = sr.location_of(policies, location, field_name)
    calendar = calendars[place.calendar]
    policy = sr.policy_of(policies)
    slot = slot.astimezone(UTC)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The upsert is a write, so SQLite takes its write lock before anything is counted.
    session.execute(insert(ServiceSlot).values(location=location, starts_at=slot, booked=0)
                    .on_conflict_do_nothing())
    row = session.exec(select(ServiceSlot).where(
        ServiceSlot.location == location, ServiceSlot.starts_at == slot)
        .with_for_update().execution_options(populate_existing=True)).one()
    seats = {slot: row.booked}

    def refused(seats: Mapping[datetime, int]) -> Unavailable | None:
        return refuse(location, place, calendar, slot, seats, field_name=field_name, now=now,
                      horizon=policy.booking.horizon, count=policy.booking.alternatives)

    if refused(seats) is not None:
        # The nearest free slots need every slot's seats, not only this one's.
        everything = {**taken(session, location, now, now + policy.booking.horizon), **seats}
        raise refused(everything) or AssertionError("a refusal that went away")
    session.execute(update(ServiceSlot).where(
        col(ServiceSlot.location) == location, col(ServiceSlot.starts_at) == slot)
        .values(booked=ServiceSlot.booked + 1))


def release(session: Session, *, location: str, slot: datetime) -> None:
    """Give a seat back."""
    session.execute(update(ServiceSlot).where(
        col(ServiceSlot.location) == location, col(ServiceSlot.starts_at) == slot.astimezone(UTC),
        col(ServiceSlot.booked) > 0).values(booked=ServiceSlot.booked - 1))


def open_request(session: Session, *, claim: CustomerClaim, location: str, channel: str,
                 service: str, slot: datetime | None, description: str, actor: str,
                 actor_kind: ActorKind, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime,
                 idempotency: tuple[str, str] | None = None) -> Case:
    """Add a request to `session` (the caller commits), holding its slot if one is given.

    `idempotency`: the stored key and the request's fingerprint, kept on the case.
    """
    place = sr.location_of(policies, location)
    customer = recognise(session, claim, channel=channel, now=now)
    assignee = route(session, place.team, policies, now)
    stored_key, fingerprint = idempotency or (None, None)
    case = Case(process=sr.NAME, stage="requested", priority=sr.PRIORITY, tier=customer.tier,
                channel=channel, subject=f"{service} at {place.name}"[:300],
                description=description, customer_id=customer.id, team=place.team,
                policy_version=policies.version, idempotency_key=stored_key,
                request_hash=fingerprint, opened_at=now, stage_entered_at=now, updated_at=now)
    customer_id = stored_id(customer)
    decision = persist_new_case(session, case, lambda case_id: given_in(sr.open_request(
        case_id=case_id, customer_id=customer_id, tier=Tier(customer.tier), location=location,
        channel=channel, service=service, slot=slot, team=place.team, assignee=assignee,
        actor=actor, actor_kind=actor_kind, policies=policies, calendars=calendars, now=now),
        claim), policies=policies, calendars=calendars, now=now)
    _sync_seats(session, None, decision.after.data.get("booking"), policies=policies,
                calendars=calendars, now=now, field_name="slot")
    hooks.after_open(session, case, policies=policies, calendars=calendars, now=now)
    return case


def submit_request(session: Session, *, idempotency_key: str | None = None,
                   **request: Any) -> tuple[Case, bool]:
    """Open a request (`open_request`'s arguments) and commit; (case, whether it is new).

    With an Idempotency-Key (the caller's own, as for complaints: `core.cases`), a retry
    answers the request it opened before. A lost race (the same key, or the same new
    customer's identity) is retried, and then finds the winner.
    """
    fingerprint = _fingerprint(request)
    return open_once(
        session, idempotency_key=idempotency_key, actor=request["actor"],
        actor_kind=request["actor_kind"], fingerprint=fingerprint,
        open_new=lambda stored_key: open_request(session, **request, idempotency=(
            (stored_key, fingerprint) if stored_key else None)))


def _fingerprint(request: Mapping[str, Any]) -> str:
    """A hash of what was asked (not who asked or when), to tell a retry from another request."""
    asked = {k: request[k] for k in ("location", "channel", "service", "slot", "description")}
    payload = json.dumps({"process": sr.NAME, "customer": asdict(request["claim"]), **asked},
                         default=str, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _sync_seats(session: Session, before: Mapping[str, Any] | None,
                after: Mapping[str, Any] | None, *, policies: PolicySet,
                calendars: Mapping[str, BusinessCalendar], now: datetime,
                field_name: str = "data.slot") -> None:
    """Free the seat of `before` and take one for `after` (bookings), in slot order.

    Both rows are locked in (location, start) order, whichever is freed: two requests
    swapping slots in opposite directions then queue instead of deadlocking.
    """
    if before == after:
        return
    steps = []
    if before:
        slot = datetime.fromisoformat(before["slot"]).astimezone(UTC)
        steps.append(((before["location"], slot), lambda: release(
            session, location=before["location"], slot=slot)))
    if after:
        wanted = datetime.fromisoformat(after["slot"]).astimezone(UTC)
        steps.append(((after["location"], wanted), lambda: book(
            session, location=after["location"], slot=wanted, policies=policies,
            calendars=calendars, now=now, field_name=field_name)))
    for _, step in sorted(steps, key=lambda s: s[0]):
        step()


def timer_facts(session: Session, case: CaseSnapshot, timer_name: str,
                now: datetime) -> Mapping[str, Any] | None:
    """How the customer can be reached, for a reminder or a reschedule offer."""
    row = session.get(Case, case.id)
    customer = session.get(Customer, row.customer_id) if row and row.customer_id else None
    if customer is None:
        return None
    return {"contacts": [kind for kind in CONTACTS if getattr(customer, kind)],
            "preferred": customer.preferred_channel, "language": customer.language}


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: Runtime | None = None) -> None:
    """Route a case handed to a team, move seats with the booking, follow up completion.

    Team members' rows are locked before seats, as when a request is opened, so a
    transfer and an intake never wait on each other in opposite orders.
    """
    after = decision.after
    if after.assignee is None and after.stage in sr.OPEN_STAGES:
        # Handed to another team's queue: its member by the team's strategy, as at intake.
        person = route(session, after.team, policies, now)
        assigned = sr.TABLE.decide(after, Event("assign", SYSTEM_ACTOR, {"assignee": person},
                                                by_system=True), policies, calendars, now)
        persist_decision(session, case, load_clocks(session, case.id or 0), assigned,
                         policies=policies, calendars=calendars, now=now)
    _sync_seats(session, decision.before.data.get("booking"),
                decision.after.data.get("booking"), policies=policies, calendars=calendars,
                now=now)
    after_closure(session, case, decision, policies=policies, calendars=calendars, now=now,
                  runtime=runtime)

