"""Follow-ups' store adapter: the customer's facts at each timer, and what decisions cause.

At a timer: whether the customer opted out, which contacts they have and prefer, and
when they were last surveyed, read with the customer's row locked, so two follow-ups
of one customer due together cannot both send (one survey per customer per period).
After a decision: a survey sent gets its row, signed link and message; a reminder its
message; an answer (link or call) is stored, a requested opt-out kept, and a low score
opens the recovery complaint with its backlog finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, func, select

from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from domain.process import CaseSnapshot, CustomerContact, Decision
from domain.satisfaction import CONTACTS
from engine.models import Case, Customer, Survey
from processes.followup import commands as followups
from processes.followup import surveys

if TYPE_CHECKING:
    from core.runtime import Runtime


def timer_facts(session: Session, case: CaseSnapshot, timer_name: str,
                now: datetime) -> Mapping[str, Any] | None:
    """What the customer allows: opt-out, contacts, preference, last survey; and who they
    are, for the call task's notice."""
    row = session.get(Case, case.id)  # in the session already, locked by the timer
    if row is None or row.customer_id is None:
        return None
    customer = session.exec(select(Customer).where(Customer.id == row.customer_id)
                            .with_for_update()).one()
    last = session.exec(select(func.max(Survey.issued_at))
                        .where(Survey.customer_id == row.customer_id)).one()
    return {"opted_out": customer.survey_opt_out,
            "contacts": [kind for kind in CONTACTS if getattr(customer, kind)],
            "preferred": customer.preferred_channel,
            "last_surveyed_at": last.isoformat() if last else None,
            "customer": CustomerContact(name=customer.name, phone=customer.phone,
                                        email=customer.email)}


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: Runtime | None = None) -> None:
    """Send, remind, store the answer, keep an opt-out, recover from a low score."""
    if not decision.timeline:
        return
    entry = decision.timeline[0]
    if entry.type in ("send_survey", "remind"):
        # Links are signed with the runtime's secret; timers always bring the runtime.
        assert runtime is not None, "a survey is sent from a timer, with the runtime"
        if entry.type == "send_survey":
            surveys.issue(session, case, runtime=runtime, now=now)
        else:
            surveys.remind(session, case, runtime=runtime, now=now)
    if entry.details.get("opt_out") is True and case.customer_id is not None:
        customer = session.get(Customer, case.customer_id)
        if customer is not None:
            customer.survey_opt_out = True
            session.add(customer)
    answer = decision.after.data.get("answer")
    if answer and not decision.before.data.get("answer"):
        surveys.store_answer(session, case, answer, now=now)
        if entry.details.get("low_score"):
            followups.recover(session, case=case, answer=answer, policies=policies,
                              calendars=calendars, now=now)
