"""Crises' store adapter: complaints as they are opened, the compensation batch, notice
channels, and what a completed post-crisis review leaves behind.

- `run_batch`: the compensation batch of a crisis, inline (processes/crisis/compensation),
  outside any case transaction; `processes/crisis/flows.py` runs it as a Prefect flow.
- `channel_urls`: where a notice on a channel is published (the policy's apprise URLs).
- `after_decision`: a completed review adds one backlog finding per action and, when it
  carries a plan, opens the PDCA cycle linked to the crisis and those findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.crisis import rules as crisis
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR, Decision
from domain.reviews.model import FindingSource, FindingStatus
from engine.models import Case, CaseEvent, Finding, stored_id
from processes.crisis import compensation as crisis_compensation
from processes.pdca.cycles import CycleRequest, open_cycle

if TYPE_CHECKING:
    from core.runtime import Runtime



def channel_urls(policies: PolicySet, channel: str) -> list[str]:
    """The apprise URLs of a notice channel (none: the notice is logged)."""
    template = crisis.policy_of(policies).channels.get(channel)
    return list(template.notify) if template else []


def run_batch(runtime: Runtime, case_id: int, name: str) -> dict[str, Any]:
    """Run a crisis's compensation batch to its end in this thread; where it stands."""
    if name != "compensation":
        raise LookupError(f"crisis has no batch {name!r}")
    return require_finished(case_id, crisis_compensation.run(runtime, case_id).as_dict())


def require_finished(case_id: int, result: dict[str, Any]) -> dict[str, Any]:
    """`result`, once every customer is compensated; otherwise (a link that committed as
    the batch ended) fail, so the timer stays claimed and the batch resumes when its claim
    runs out, rather than a fired timer leaving the crisis compensating for good."""
    if result["stage"] == "compensating":
        raise RuntimeError(f"crisis {case_id} compensation is not finished: "
                           f"{result['issued']} of {result['total']} customers")
    return result


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: object = None) -> None:
    """A completed review: its actions become findings, its plan a PDCA cycle."""
    if not decision.timeline or decision.timeline[0].type != "complete_review":
        return
    entry, review = decision.timeline[0], decision.after.data["review"]
    findings = [Finding(
        source=FindingSource.crisis_review, title=f"Crisis #{case.id}: {action}"[:300],
        description=f"Post-crisis review of #{case.id} ({case.subject}).\nWhat happened: "
                    f"{review['what_happened']}\nRoot cause: {review['root_cause']}",
        figures={"severity": case.data.get("severity"), "crisis": case.id},
        team=case.team, case_ids=[case.id or 0], status=FindingStatus.open, created_at=now,
        created_by=entry.actor) for action in review["actions"]]
    session.add_all(findings)
    session.flush()
    finding_ids = [f.id for f in findings if f.id is not None]
    cycle_id = None
    if review["pdca"] is not None:
        cycle = open_cycle(
            session, request=CycleRequest(plan=review["pdca"], team=case.team,
                                          links={"cases": [case.id or 0],
                                                 "findings": finding_ids}),
            actor=entry.actor, actor_kind=entry.actor_kind, policies=policies,
            calendars=calendars, now=now)
        cycle_id = cycle.id
        for finding in findings:
            finding.status, finding.promoted_at = FindingStatus.promoted, now
            finding.pdca_cycle_id = cycle_id
            session.add(finding)
    case.data = {**case.data, "review": {**review, "findings": finding_ids,
                                         "pdca_cycle": cycle_id}}
    session.add(case)
    session.add(CaseEvent(case_id=stored_id(case), type="review_recorded", actor=SYSTEM_ACTOR,
                          actor_kind=ActorKind.system.value, at=now,
                          details={"findings": finding_ids, "pdca_cycle": cycle_id}))
