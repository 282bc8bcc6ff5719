"""The compensation batch: each affected customer compensated at most once per crisis.

The batch walks the crisis's customers in id order, a chunk per transaction. A chunk
takes the next customers who have no compensation row yet and inserts theirs, skipping
any that exist (the unique key on crisis and customer), together with the customer's
message in the outbox. So a batch that is interrupted, re-run, or run twice at once
issues each customer exactly one compensation, and picks up where it stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, insert, literal, update
from sqlmodel import Session, col, select

from core.cases import post_event
from domain.access import ActorKind
from domain.crisis import rules as crisis
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR, Event
from domain.timers import BATCH
from engine.db import select_rows, session_scope
from engine.models import Case, Customer, OutboxMessage, Timer, UtcDateTime
from processes.crisis.links import insert_ignoring_duplicates
from processes.crisis.tables import CrisisCompensation, CrisisLink

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.crisis")


@dataclass(frozen=True)
class Progress:
    """Where a crisis's compensation stands: customers compensated of those affected."""

    crisis_id: int
    stage: str
    total: int
    issued: int
    value: float

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.issued / self.total, 2)

    def as_dict(self) -> dict[str, Any]:
        return {"crisis_id": self.crisis_id, "stage": self.stage, "total": self.total,
                "issued": self.issued, "value": self.value, "percent": self.percent}


def progress(session: Session, crisis_id: int) -> Progress:
    """Customers affected, customers compensated and the value issued so far."""
    case = session.get(Case, crisis_id)
    assert case is not None
    total = session.exec(select(func.count(func.distinct(CrisisLink.customer_id)))
                         .where(CrisisLink.crisis_id == crisis_id)).one()
    issued, value = session.exec(
        select(func.count(), func.coalesce(func.sum(CrisisCompensation.value), 0.0))
        .where(CrisisCompensation.crisis_id == crisis_id)).one()
    return Progress(crisis_id=crisis_id, stage=case.stage, total=total, issued=issued,
                    value=float(value))


@dataclass(frozen=True)
class Chunk:
    """What one chunk did: customers compensated, and customers still waiting after it
    (counting those another run of the batch is compensating right now)."""

    issued: int
    pending: int


def _pending(session: Session, crisis_id: int) -> Any:
    """Affected customers of the crisis who have no compensation row yet."""
    done = exists().where(col(CrisisCompensation.crisis_id) == crisis_id,
                          col(CrisisCompensation.customer_id) == CrisisLink.customer_id)
    return (select(CrisisLink.customer_id)
            .where(CrisisLink.crisis_id == crisis_id,
                   col(CrisisLink.customer_id).is_not(None), ~done)
            .group_by(col(CrisisLink.customer_id)))


def issue_chunk(runtime: Runtime, crisis_id: int) -> Chunk:
    """Compensate the next chunk of customers in one transaction."""
    now = runtime.clock.now()
    policy = crisis.policy_of(runtime.policies).compensation
    with session_scope(runtime.engine) as session:
        case = session.get(Case, crisis_id)
        if case is None or case.stage != "compensating":
            return Chunk(issued=0, pending=0)
        offer = case.data["compensation"]
        nxt = (_pending(session, crisis_id).order_by(CrisisLink.customer_id)
               .limit(policy.chunk_size).subquery())
        rows = select_rows(literal(crisis_id), nxt.c.customer_id, literal(offer["kind"]),
                           literal(float(offer["value"])), literal(offer["run"]),
                           literal(now, UtcDateTime())).where(nxt.c.customer_id.is_not(None))
        statement = insert_ignoring_duplicates(session, CrisisCompensation).from_select(
            ["crisis_id", "customer_id", "kind", "value", "run", "issued_at"], rows)
        issued = [row[0] for row in session.execute(
            statement.returning(col(CrisisCompensation.customer_id)))]
        if issued and policy.notify_customers:
            _tell_customers(session, case, issued, policies=runtime.policies, now=now)
        pending = session.exec(select(func.count()).select_from(
            _pending(session, crisis_id).subquery())).one()
        # Renew the batch timer's claim: a long batch that makes progress keeps its lease,
        # while one whose runner died stops renewing it and is taken over.
        session.execute(update(Timer).where(
            col(Timer.case_id) == crisis_id, col(Timer.kind) == BATCH,
            col(Timer.status) == "claimed")
            .values(claimed_at=now).execution_options(synchronize_session=False))
    return Chunk(issued=len(issued), pending=pending)


def _tell_customers(session: Session, case: Case, customer_ids: list[int], *,
                    policies: PolicySet, now: datetime) -> None:
    """Queue each compensated customer's message, in the chunk's transaction."""
    policy, m = crisis.policy_of(policies).compensation, policies.messages
    offer = case.data["compensation"]
    found = {found_id: (name, language) for found_id, name, language in session.exec(
        select(Customer.id, Customer.name, Customer.language)
        .where(col(Customer.id).in_(customer_ids)))}
    rows = []
    for customer_id in customer_ids:
        name, language = found.get(customer_id, (None, None))
        language = language or m.language
        text = {"title": case.data.get("title", case.subject),
                "kind": m.name(language, "compensation", str(offer["kind"])),
                "value": f"{offer['value']:g}",
                "name": name or m.for_customers("customer", language=language)}
        rows.append({"key": f"crisis:{case.id}:compensation:{customer_id}",
                     "case_id": case.id, "recipient": f"customer:{customer_id}",
                     "role": "customer",
                     "subject": m.for_customers(policy.subject, language=language, **text)[:300],
                     "body": m.for_customers(policy.body, language=language, **text),
                     "status": "pending", "attempts": 0,
                     "created_at": now, "next_attempt_at": now})
    session.execute(insert(OutboxMessage), rows)


def finish(runtime: Runtime, crisis_id: int, *, issued_now: int) -> Progress:
    """Record the totals on the crisis, which moves on to its review; once only."""
    with session_scope(runtime.engine) as session:
        state = progress(session, crisis_id)
    if state.stage != "compensating" or state.issued < state.total:
        return state
    with Session(runtime.engine, expire_on_commit=False) as session:
        # Take the crisis's row (PostgreSQL) or the write lock (SQLite) before reading its
        # stage, so of two runs finishing at once only one records the totals.
        claimed = session.exec(
            update(Case).where(col(Case.id) == crisis_id, col(Case.stage) == "compensating")
            .values(version=Case.version).execution_options(synchronize_session=False))
        if claimed.rowcount == 0:
            session.rollback()
            with session_scope(runtime.engine) as fresh:
                return progress(fresh, crisis_id)
        post_event(session, case_id=crisis_id, policies=runtime.policies,
                   calendars=runtime.calendars, now=runtime.clock.now(), runtime=runtime,
                   event=Event("compensation_done", SYSTEM_ACTOR,
                               {"customers": state.issued, "issued_now": issued_now,
                                "total_value": state.value},
                               by_system=True, actor_kind=ActorKind.system))
    with session_scope(runtime.engine) as session:
        return progress(session, crisis_id)


def run(runtime: Runtime, crisis_id: int) -> Progress:
    """Run the batch to its end here, without Prefect, logging progress after each chunk
    (GET /crises/{id}/compensation shows it too)."""
    issued_now = 0
    while True:
        chunk = issue_chunk(runtime, crisis_id)
        issued_now += chunk.issued
        if chunk.pending == 0:
            break
        log.info("crisis %s compensation: %s compensated by this run, %s waiting",
                 crisis_id, issued_now, chunk.pending)
    result = finish(runtime, crisis_id, issued_now=issued_now)
    log.info("crisis %s compensation: %s issued now, %s of %s customers", crisis_id,
             issued_now, result.issued, result.total)
    return result
