"""PDCA cycles in the store: open one with its baseline measured now, measure the pilot
when it ends, and open the linked follow-up when a cycle is revised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core import kpis
from core.kpis import KpiFilter, RateKpi
from core.policy_loader import build_calendars
from core.whatif import Period, what_if
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.pdca import rules as pdca
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR, CaseSnapshot, Decision, InvalidEvent
from domain.whatif.report import kpi_figure
from engine.models import Case, CaseEvent, stored_id
from engine.store import persist_new_case

LINK_KINDS = ("cases", "findings", "review_runs")


@dataclass(frozen=True)
class CycleRequest:
    """What it takes to open a cycle: the plan, and optionally who runs it and why."""

    plan: Mapping[str, Any]
    team: str | None = None
    owner: str | None = None
    links: Mapping[str, list[int]] = field(default_factory=dict)


def measure(session: Session, *, kpi: str, scope: Mapping[str, str], start: datetime,
            end: datetime, now: datetime) -> dict[str, Any]:
    """A KPI over the complaints opened in [start, end) within `scope`, with its counts."""
    flt = KpiFilter(opened_from=start, opened_to=end, **scope)
    rate = kpis.rate(session, RateKpi(kpi), flt, now=now)
    return {"value": rate.value, "numerator": rate.numerator, "denominator": rate.denominator,
            "from": start.isoformat(), "to": end.isoformat(), "measured_at": now.isoformat()}


def predicted_effect(session: Session, *, kpi: str, scope: Mapping[str, str],
                     body: Any, candidate: PolicySet, now: datetime) -> dict[str, Any]:
    """A cycle's KPI over its scope's complaints opened from `body.start` to `body.end`,
    replayed under `candidate`, beside the same KPI as recorded."""
    others = {k: v for k, v in scope.items() if k != "team"}
    period = Period.of_days(body.start, body.end, body.timezone,
                            frozenset({scope["team"]}) if "team" in scope else None, others)
    report = what_if(session.connection(), period, candidate=candidate,
                     calendars=build_calendars(candidate), as_of=now)
    numerator, denominator = kpi_figure(report.candidate, kpi)
    recorded, recorded_of = kpi_figure(report.recorded, kpi)
    return {"kpi": kpi, "value": numerator / denominator if denominator else None,
            "numerator": numerator, "denominator": denominator,
            "recorded_value": recorded / recorded_of if recorded_of else None,
            "policy_version": candidate.version, "from": period.start.isoformat(),
            "to": period.end.isoformat(), "cases": report.candidate.cases,
            "changed_cases": len(report.changes), "made_at": now.isoformat()}


def cycle_team(request: CycleRequest, scope: Mapping[str, str], policies: PolicySet) -> str:
    """Whose cycle: as asked, else the scope's team, else where its category routes to."""
    team = (request.team or scope.get("team")
            or policies.complaint.routing.by_category.get(scope.get("category", ""))
            or pdca.policy_of(policies).default_team)
    if team not in policies.teams:
        raise InvalidEvent("team", f"unknown team; known: {sorted(policies.teams)}")
    return team


def open_cycle(
    session: Session,
    *,
    request: CycleRequest,
    actor: str,
    actor_kind: ActorKind,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    parent: int | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> Case:
    """Add a cycle in planning to `session` (the caller commits); `InvalidEvent` if the
    plan is wrong. Without a `baseline`, it is measured now over the policy's window."""
    plan = pdca.check_plan(request.plan, policies)
    team = cycle_team(request, plan["scope"], policies)
    unknown = set(request.links) - set(LINK_KINDS)
    if unknown:
        raise InvalidEvent("links", f"links may name {list(LINK_KINDS)}")
    owner = request.owner or policies.teams[team].supervisor
    if baseline is None:
        window = pdca.policy_of(policies).baseline_window
        baseline = measure(session, kpi=plan["kpi"], scope=plan["scope"], start=now - window,
                           end=now, now=now)
    case = Case(process=pdca.NAME, stage="planning", priority=pdca.PRIORITY, tier=None,
                subject=plan["problem"][:300], description=plan["problem"], customer_id=None,
                team=team, assignee=owner, policy_version=policies.version, opened_at=now,
                stage_entered_at=now, updated_at=now)
    persist_new_case(session, case, lambda case_id: pdca.open_cycle(
        case_id=case_id, plan=plan, baseline=baseline, team=team, owner=owner,
        links={kind: sorted(set(ids)) for kind, ids in request.links.items()}, parent=parent,
        actor=actor, actor_kind=actor_kind, policies=policies, now=now),
        policies=policies, calendars=calendars, now=now)
    return case


def timer_facts(session: Session, case: CaseSnapshot, timer_name: str,
                now: datetime) -> Mapping[str, Any] | None:
    """At the pilot's end: the target KPI over the pilot's scope and period."""
    if timer_name != "pilot_end":
        return None
    data = case.data
    return measure(session, kpi=data["kpi"], scope=data["scope"],
                   start=datetime.fromisoformat(data["pilot_from"]),
                   end=datetime.fromisoformat(data["pilot_to"]), now=now)


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: object = None) -> None:
    """A revised cycle opens its follow-up: the same plan, its measure as the baseline."""
    after = decision.after
    if after.data.get("outcome") != "revised" or decision.before.stage != "acting":
        return
    plan = {name: after.data[name] for name in pdca.PLAN_FIELDS}
    follow_up = open_cycle(
        session, request=CycleRequest(plan=plan, team=case.team, owner=case.assignee,
                                      links=after.data.get("links", {})),
        actor=SYSTEM_ACTOR, actor_kind=ActorKind.system, policies=policies,
        calendars=calendars, now=now, parent=case.id, baseline=after.data.get("measured"))
    case.data = {**case.data, "follow_up_cycle": follow_up.id}
    session.add(case)
    session.add(CaseEvent(case_id=stored_id(case), type="follow_up_opened", actor=SYSTEM_ACTOR,
                          actor_kind=ActorKind.system.value, at=now,
                          details={"cycle": follow_up.id}))
