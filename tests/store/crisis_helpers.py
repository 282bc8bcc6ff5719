"""Helpers for the crisis tests: a runtime whose notice channels reach a receiver, complaints
in bulk, and the crisis's rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from core.runtime import Runtime
from domain.access import ActorKind
from engine.clock import FrozenClock
from engine.models import Case, Customer
from processes.crisis.commands import raise_candidate
from processes.crisis.links import LinkFilter, link
from processes.crisis.tables import CrisisCompensation, CrisisLink
from tests.conftest import build_runtime
from tests.store.helpers import open_complaint, send
from tests.support import WebhookReceiver, write_policies

CHANNELS = ("website", "social_media", "cs_script", "internal")


def crisis_runtime(database: tuple[str, dict], clock: FrozenClock, directory: Path,
                   receiver: WebhookReceiver | None = None, **crisis: Any) -> Runtime:
    """The shipped policies; staff and every notice channel (`/channel-<name>`) reach
    `receiver`; keyword arguments replace keys of the crisis policy."""
    policies = write_policies(directory, receiver=receiver)
    path = policies / "crisis.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if receiver is not None:
        for name in CHANNELS:
            data["crisis"]["channels"][name]["notify"] = [receiver.url_for(f"channel-{name}")]
    data["crisis"].update(crisis)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return build_runtime(database, policies, clock)


def complaint_in(rt: Runtime, category: str, ref: str) -> int:
    """An ordinary complaint of `category` for customer `ref`, opened now."""
    return open_complaint(rt, category=category, ref=ref, priority="ordinary")


def seed_complaints(rt: Runtime, *, count: int, category: str, opened_at: datetime,
                    prefix: str = "seed") -> None:
    """`count` complaints of `category`, one per new customer, written straight to the
    store: the affected customers of an earlier wave, without running their intake."""
    with Session(rt.engine) as session:
        session.execute(insert(Customer), [
            {"external_ref": f"{prefix}-{n}", "name": f"Customer {n}", "tier": "C",
             "created_at": opened_at, "greetings_consent": False, "survey_opt_out": False}
            for n in range(count)])
        ids = session.exec(select(Customer.id).where(
            col(Customer.external_ref).startswith(f"{prefix}-"))).all()
        session.execute(insert(Case), [
            {"process": "complaint", "stage": "assigned", "priority": "ordinary", "tier": "C",
             "category": category, "subject": "parcel lost", "description": "",
             "customer_id": customer_id, "team": "complaints", "assignee": "li.wei",
             "escalation_level": 0, "resolved_count": 0, "policy_version": "seed",
             "opened_at": opened_at, "stage_entered_at": opened_at, "updated_at": opened_at,
             "version": 1, "data": {}} for customer_id in ids])
        session.commit()


def raise_crisis(rt: Runtime, *, category: str = "delivery",
                 title: str = "Lost parcels") -> Case:
    """A candidate raised now by the supervisor wang.fang, committed."""
    with Session(rt.engine, expire_on_commit=False) as session:
        crisis = raise_candidate(session, title=title, description="", category=category,
                                 actor="wang.fang", actor_kind=ActorKind.person,
                                 policies=rt.policies, calendars=rt.calendars,
                                 now=rt.clock.now())
        session.commit()
    return crisis


def link_last_day(rt: Runtime, crisis: Case) -> dict[str, int]:
    """Link the complaints of the crisis's category opened in the past day, as the lead."""
    now = rt.clock.now()
    with Session(rt.engine) as session:
        result = link(session, session.get(Case, crisis.id),
                      LinkFilter(opened_from=now - timedelta(days=1), opened_to=now),
                      by="wang.fang", how="filter", max_window=timedelta(days=30), now=now)
        session.commit()
    return result


def to_compensation(rt: Runtime, crisis_id: int, *, impact: str = "major",
                    value: int = 5) -> None:
    """Confirm, assemble the team, resolve and start compensating (coupons), as the lead."""
    for event, data in (("confirm", {"likelihood": "possible", "impact": impact}),
                        ("assemble_team", {"lead": "wang.fang", "members": ["li.wei"]}),
                        ("resolve", {"summary": "found"}),
                        ("start_compensation", {"kind": "coupon", "value": value})):
        by_lead(rt, crisis_id, event, **data)


def by_lead(rt: Runtime, case_id: int, event: str, actor: str = "wang.fang",
            **data: object) -> Case:
    """An event from a person (the supervisor unless told)."""
    return send(rt, case_id, event, actor=actor, **data)


def crises(rt: Runtime) -> list[Case]:
    with Session(rt.engine) as session:
        return list(session.exec(select(Case).where(Case.process == "crisis")
                                 .order_by(col(Case.id))))


def compensation_counts(rt: Runtime, crisis_id: int) -> tuple[int, int]:
    """(rows, distinct customers) of the crisis's compensation."""
    with Session(rt.engine) as session:
        return session.exec(select(func.count(),
                                   func.count(func.distinct(CrisisCompensation.customer_id)))
                            .where(CrisisCompensation.crisis_id == crisis_id)).one()


def linked_cases(rt: Runtime, crisis_id: int) -> set[int]:
    with Session(rt.engine) as session:
        return set(session.exec(select(CrisisLink.case_id)
                                .where(CrisisLink.crisis_id == crisis_id)))
