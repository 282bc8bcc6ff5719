"""Store-level helpers: open a complaint and read its timeline through the commands."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.cases import CustomerInput, OpenCase, open_case, post_event
from core.runtime import Runtime
from domain.policy import Tier
from domain.process import Event
from engine.claims import claim_due
from engine.models import Case, CaseEvent, Timer


def open_complaint(rt: Runtime, *, tier: str = "B", priority: str | None = None,
                   subject: str = "parcel arrived broken", category: str | None = None,
                   ref: str | None = "cust-1", key: str | None = None) -> int:
    request = OpenCase(subject=subject, description="", priority=priority, category=category,
                       idempotency_key=key,
                       customer=CustomerInput(ref=ref, name="Lin", tier=Tier(tier), phone=None,
                                              email=None))
    with Session(rt.engine, expire_on_commit=False) as session:
        case, _ = open_case(session, request=request, actor="agent:test",
                            policies=rt.policies, calendars=rt.calendars, now=rt.clock.now())
        assert case.id is not None
        return case.id


def send(rt: Runtime, case_id: int, event: str, actor: str = "agent:test", **data: object) -> Case:
    with Session(rt.engine, expire_on_commit=False) as session:
        return post_event(session, case_id=case_id, event=Event(event, actor, data),
                          policies=rt.policies, calendars=rt.calendars, now=rt.clock.now())


def timeline(rt: Runtime, case_id: int) -> list[CaseEvent]:
    with Session(rt.engine) as session:
        return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(col(CaseEvent.id))))


def escalations(rt: Runtime, case_id: int) -> list[tuple[str, str]]:
    """(clock, step) of every warning and escalation on the timeline, in order."""
    return [(e.details["clock"], e.details["step"]) for e in timeline(rt, case_id)
            if e.type in ("sla_warning", "escalated")]


def load(rt: Runtime, case_id: int) -> Case:
    with Session(rt.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def claim(rt: Runtime, returning: tuple[str, ...] = ("id",)) -> list:
    """Claim the due timers as the sweeper does, without firing them: a test then acts
    while they are held, as an event may while a flow run takes its time."""
    return claim_due(rt.engine, Timer, due_column="fire_at", now=rt.clock.now(),
                     limit=rt.settings.sweep_batch_size, instance=rt.settings.instance_id,
                     lease=rt.lease, returning=returning)
