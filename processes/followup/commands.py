"""Follow-ups in the store: open one when a case closes, and recover from a low score.

Both run inside the transaction of the decision that causes them (a complaint's
closure; an answer), through the processes' store adapters, so a closure never commits
without its follow-up, nor a low score without its recovery case and backlog finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core.cases import CustomerInput, OpenCase, open_linked_complaint
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.catalogue import definition
from domain.followup import rules as followup
from domain.policy import PolicySet, Tier
from domain.process import SYSTEM_ACTOR, CaseSnapshot, Decision
from domain.satisfaction import SCORES
from engine.models import Case, CaseEvent, Customer, stored_id
from engine.store import persist_new_case
from processes.reviews.findings import add_satisfaction_finding


def _note(session: Session, case_id: int, kind: str, now: datetime,
          **details: Any) -> None:
    """Add a link between cases to a timeline (the cases' own decisions are elsewhere)."""
    session.add(CaseEvent(case_id=case_id, type=kind, actor=SYSTEM_ACTOR,
                          actor_kind=ActorKind.system.value, at=now, details=details))


def open_followup(session: Session, *, source: Case, closed: CaseSnapshot, closed_by: str,
                  policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                  now: datetime) -> Case | None:
    """Open the follow-up of `source`, just closed by `closed_by`, if the policy asks for one."""
    if source.customer_id is None or not followup.follows(source.process, closed_by, policies):
        return None
    case = Case(process=followup.NAME, stage="scheduled", priority=followup.PRIORITY,
                tier=source.tier, category=source.category, channel=source.channel,
                subject=f"Follow-up of #{source.id}: {source.subject}"[:300],
                customer_id=source.customer_id, team=source.team,
                policy_version=policies.version, opened_at=now, stage_entered_at=now,
                updated_at=now)
    persist_new_case(session, case, lambda case_id: followup.open_followup(
        case_id=case_id, source=closed, closed_by=closed_by, policies=policies, now=now),
        policies=policies, calendars=calendars, now=now)
    source.data = {**source.data, "followup": case.id}
    session.add(source)
    _note(session, stored_id(source), "followup_opened", now, followup=case.id,
          send_at=case.data["send_at"])
    return case


def after_closure(session: Session, case: Case, decision: Decision, *, policies: PolicySet,
                  calendars: Mapping[str, BusinessCalendar], now: datetime,
                  runtime: object = None) -> None:
    """Open a follow-up when `decision` closes `case` by an event `followup.after` names.

    Any process's adapter can use this as its `after_decision`: complaints do, and a
    process whose closures should be followed up needs only that and a policy line.
    """
    final = definition(case.process).TABLE.final_stages
    if decision.before.stage in final or decision.after.stage not in final:
        return
    if decision.timeline:
        open_followup(session, source=case, closed=decision.after,
                      closed_by=decision.timeline[0].type, policies=policies,
                      calendars=calendars, now=now)


def recover(session: Session, *, case: Case, answer: Mapping[str, Any], policies: PolicySet,
            calendars: Mapping[str, BusinessCalendar], now: datetime) -> Case:
    """Open the recovery complaint of a low-scored follow-up and add its backlog finding."""
    source = session.get(Case, case.data["source_case"])
    customer = session.get(Customer, case.customer_id)
    assert source is not None and customer is not None
    scores = {name: answer[name] for name in SCORES if answer.get(name) is not None}
    m = policies.staff_messages(source.team)
    comment = answer.get("comment")

    def why(language: str) -> str:
        """The recovery's reason for its team's staff, in `language`."""
        rated = m.text(language, ", ").join(f"{m.name(language, 'score', name)} {value}"
                                            for name, value in scores.items())
        said = m.text(language, "Low satisfaction after case #{case}: {scores}",
                      case=source.id, scores=rated)
        return m.text(language, "{said} (via {via})", said=said,
                      via=m.name(language, "via", str(answer["via"]))) + (
            "\n" + m.text(language, "They said: {comment}", comment=comment) if comment else "")

    request = OpenCase(
        subject=m.staff_subject(lambda language: m.text(
            language, "Service recovery: {subject}", subject=source.subject))[:300],
        description=m.staff(why),
        customer=CustomerInput(ref=customer.external_ref, name=customer.name,
                               tier=Tier(customer.tier), phone=None, email=None),
        channel=source.channel, category=source.category,
        priority=followup.policy_of(policies).recovery_priority)
    recovery = open_linked_complaint(
        session, request=request, customer=customer, team=source.team,
        data={"recovery_of": source.id, "followup": case.id}, policies=policies,
        calendars=calendars, now=now, avoid=case.data.get("agent"))  # not the agent rated
    assert recovery.id is not None and source.id is not None
    finding = add_satisfaction_finding(
        session, source=source, recovery_id=recovery.id, followup_id=stored_id(case),
        agent=case.data.get("agent"), answer=answer, scores=scores, now=now,
        messages=policies.staff_messages(source.team))
    case.data = {**case.data, "recovery_case": recovery.id, "finding": finding.id}
    session.add(case)
    _note(session, stored_id(case), "recovery_opened", now, recovery_case=recovery.id,
          finding=finding.id)
    _note(session, source.id, "recovery_opened", now, recovery_case=recovery.id,
          followup=case.id)
    return recovery
