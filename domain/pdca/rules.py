"""PDCA improvement cycles (seed 002 §3.2; seed 003: pilot small, then roll out).

| event                  | from                   | to       | clocks and timers          |
|------------------------|------------------------|----------|----------------------------|
| open                   | (new cycle)            | planning | start plan                 |
| update_plan            | planning               | planning |                            |
| predict (sys)          | planning, doing        | (same)   |                            |
| start_pilot            | planning               | doing    | stop plan; pilot_end timer |
| check (sys)            | doing                  | acting   | start act                  |
| standardise            | acting                 | closed   | stop act                   |
| revise                 | acting                 | closed   | stop act                   |
| abandon                | planning, doing, acting| closed   | stop every clock           |
| add_note               | any open stage         | (same)   |                            |
| acknowledge_escalation | any open stage         | (same)   | ends data.clock's ladder   |

Plan: a problem, the KPI to move and its target, the scope the KPI is measured over
(team, category, channel, priority, tier), and a baseline measured from the case
data when the cycle opens. A plan may carry a predicted effect: the KPI as a what-if
replay of past complaints under the candidate policies computes it (`predict`, sent
by the service for whoever asked); the check then shows it beside the measured one.
Do: the pilot runs for its period. Check: when the pilot
ends, the service measures the KPI over the pilot's scope and period (the `check`
event carries the figures) and compares it with the target and the baseline. Act:
standardise and roll out (only when the target was met), or revise, which closes this
cycle and opens a linked follow-up whose baseline is what this one measured.

The plan and act stages have due times that escalate like SLAs; the pilot's end is a
process timer. Supervisors, managers and directors run cycles; (sys) is the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import Field

from domain import clocks as clock_ops
from domain.access import ESCALATION_TARGETS, AccessRole, ActorKind
from domain.calendars import BusinessCalendar
from domain.durations import format_duration, parse_duration
from domain.escalation import AcknowledgeEscalationData, acknowledge_escalation_hook
from domain.kpi_definitions import DEFINITIONS
from domain.policy import EscalationStep, PdcaPolicy, PolicySet
from domain.process import (
    SYSTEM_ACTOR,
    UNRANKED,
    CaseSnapshot,
    ClockOp,
    Decision,
    Event,
    EventData,
    Hook,
    InvalidEvent,
    TimelineEntry,
    Transition,
    TransitionTable,
)
from domain.timers import PROCESS, TimerSpec

NAME = "pdca"
PLAN, ACT = "plan", "act"
PRIORITY = UNRANKED  # cycles have no priority of their own
OPEN_STAGES = frozenset({"planning", "doing", "acting"})
RUNNERS = frozenset({AccessRole.supervisor, AccessRole.manager, AccessRole.director})
SCOPE_FIELDS = ("team", "category", "channel", "priority", "tier")
PLAN_FIELDS = ("problem", "kpi", "target", "scope", "pilot_period")
EDITABLE_FIELDS = ("problem", "target", "pilot_period")
# The rate KPIs a cycle can be measured by (the store computes them over any scope).
TargetableKpi = Literal["complaint_on_time_rate", "resolution_rate", "reopen_rate",
                        "escalation_rate_l1", "escalation_rate_l2", "escalation_rate_l3"]
TARGETABLE_KPIS: tuple[TargetableKpi, ...] = get_args(TargetableKpi)


def policy_of(policies: PolicySet) -> PdcaPolicy:
    return policies.pdca


def ladder(policies: PolicySet) -> list[EscalationStep]:
    return list(policies.pdca.escalation)


def verdict(kpi: str, target: float, value: float | None) -> str:
    """met, not_met, or inconclusive when the pilot produced no figure at all."""
    if value is None:
        return "inconclusive"
    higher = DEFINITIONS[kpi].higher_is_better
    return "met" if (value >= target if higher else value <= target) else "not_met"


def check_plan(plan: Mapping[str, Any], policies: PolicySet) -> dict[str, Any]:
    """A plan as stored: checked, with the pilot period in ISO 8601; `InvalidEvent` if not."""
    problem = plan.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise InvalidEvent("problem", "a problem statement is required")
    kpi = plan.get("kpi")
    if kpi not in TARGETABLE_KPIS:
        raise InvalidEvent("kpi", f"must be one of {list(TARGETABLE_KPIS)}")
    target = plan.get("target")
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 <= target <= 1:
        raise InvalidEvent("target", "a share between 0 and 1, e.g. 0.95")
    scope = plan.get("scope") or {}
    if not isinstance(scope, dict) or set(scope) - set(SCOPE_FIELDS) or not all(
            isinstance(v, str) and v for v in scope.values()):
        raise InvalidEvent("scope", f"a mapping of {list(SCOPE_FIELDS)} to values")
    if "team" in scope and scope["team"] not in policies.teams:
        raise InvalidEvent("scope.team", f"unknown team; known: {sorted(policies.teams)}")
    period = plan.get("pilot_period") or format_duration(policy_of(policies).pilot_period)
    try:
        pilot = parse_duration(period)
    except (TypeError, ValueError) as exc:
        raise InvalidEvent("pilot_period", str(exc)) from None
    if not timedelta(days=1) <= pilot <= timedelta(days=366):
        raise InvalidEvent("pilot_period", "between one day and one year")
    return {"problem": problem.strip(), "kpi": kpi, "target": float(target), "scope": scope,
            "pilot_period": format_duration(pilot)}


def open_cycle(
    *,
    case_id: int,
    plan: Mapping[str, Any],
    baseline: Mapping[str, Any],
    team: str,
    owner: str,
    links: Mapping[str, list[int]],
    parent: int | None,
    actor: str,
    actor_kind: ActorKind,
    policies: PolicySet,
    now: datetime,
) -> Decision:
    """Open a cycle in planning, with its plan, baseline and links; the plan clock starts."""
    policy = policy_of(policies)
    plan_clock = clock_ops.start_clock(name=PLAN, calendar=policy.calendar,
                                       target=policy.plan_within, now=now)
    data = {**check_plan(plan, policies), "baseline": dict(baseline), "links": dict(links),
            "parent_cycle": parent}
    new = CaseSnapshot(id=case_id, process=NAME, stage="planning", priority=PRIORITY,
                       tier=None, team=team, assignee=owner, opened_at=now,
                       stage_entered_at=now, clocks={PLAN: plan_clock}, data=data)
    opened = TimelineEntry("opened", actor, {**data, "owner": owner, "team": team},
                           actor_kind)
    # Before: nobody owns it yet, so the owner's open-case count goes up, as at routing.
    return Decision(before=replace(new, assignee=None), after=new, timeline=(opened,))


def _update_plan(case, event, policies, calendars, now):
    # The KPI and its scope are what the baseline measured: changing them is a new cycle.
    changes = {k: v for k, v in event.data.items() if k in EDITABLE_FIELDS}
    unknown = set(event.data) - set(EDITABLE_FIELDS)
    if unknown or not changes:
        raise InvalidEvent("data", f"give one or more of {list(EDITABLE_FIELDS)}; the kpi "
                                   "and scope stay as measured (abandon and plan anew)")
    try:
        plan = check_plan({**case.data, **changes}, policies)
    except InvalidEvent as exc:  # the plan's fields sit under the event's data
        raise InvalidEvent(f"data.{exc.field}", exc.reason) from None
    return replace(case, data={**case.data, **plan}), {}


def _start_pilot(case, event, policies, calendars, now):
    ends = now + parse_duration(case.data["pilot_period"])
    data = {**case.data, "pilot_from": now.isoformat(), "pilot_to": ends.isoformat()}
    return replace(case, data=data), {"pilot_to": ends.isoformat()}


def _predict(case, event, policies, calendars, now):
    prediction = event.data.get("prediction")
    if not isinstance(prediction, Mapping) or prediction.get("kpi") != case.data["kpi"]:
        raise InvalidEvent("data.prediction", f"a what-if figure of {case.data['kpi']!r}")
    return replace(case, data={**case.data, "prediction": dict(prediction)}), {}


def _check(case, event, policies, calendars, now):
    measured = dict(event.data.get("measured") or {})
    outcome = verdict(case.data["kpi"], case.data["target"], measured.get("value"))
    policy = policy_of(policies)
    act = clock_ops.start_clock(name=ACT, calendar=policy.calendar, target=policy.act_within,
                                now=now)
    data = {**case.data, "measured": measured, "verdict": outcome}
    details = {"baseline": case.data.get("baseline", {}).get("value"),
               "target": case.data["target"], "verdict": outcome}
    if "prediction" in case.data:
        # Predicted against measured: how far the what-if was from what the pilot did.
        details["predicted"] = case.data["prediction"].get("value")
        details["measured"] = measured.get("value")
    return replace(case, data=data, clocks={**case.clocks, ACT: act}), details


def _only_when_met(data: Mapping[str, Any]) -> str | None:
    """Standardise only what worked: a cycle whose check did not meet its target may not."""
    if data.get("verdict") == "met":
        return None
    return (f"the check found the target {data.get('verdict')}: revise the plan in a "
            "follow-up cycle, or abandon")


def _closing(outcome: str) -> Hook:
    def hook(case, event, policies, calendars, now):
        return replace(case, data={**case.data, "outcome": outcome}), {}
    return hook


STOP_ALL = ((PLAN, ClockOp.stop), (ACT, ClockOp.stop))


class UpdatePlanData(EventData):
    """update_plan: one or more of these; the kpi and scope stay as measured."""

    problem: str | None = None
    target: float | None = Field(default=None, description="a share between 0 and 1")
    pilot_period: str | None = Field(default=None, examples=["P14D"])


TABLE = TransitionTable(
    stages=("planning", "doing", "acting", "closed"),
    final_stages=frozenset({"closed"}),
    transitions=(
        Transition("update_plan", frozenset({"planning"}), hook=_update_plan, roles=RUNNERS),
        Transition("predict", frozenset({"planning", "doing"}), hook=_predict,
                   system_only=True),
        Transition("start_pilot", frozenset({"planning"}), "doing",
                   clocks=((PLAN, ClockOp.stop),), hook=_start_pilot, roles=RUNNERS),
        Transition("check", frozenset({"doing"}), "acting", hook=_check, system_only=True),
        Transition("standardise", frozenset({"acting"}), "closed",
                   clocks=((ACT, ClockOp.stop),), hook=_closing("standardised"),
                   guard=_only_when_met, roles=RUNNERS),
        Transition("revise", frozenset({"acting"}), "closed",
                   clocks=((ACT, ClockOp.stop),), hook=_closing("revised"), roles=RUNNERS),
        Transition("abandon", OPEN_STAGES, "closed", clocks=STOP_ALL,
                   hook=_closing("abandoned"), roles=RUNNERS),
        Transition("add_note", OPEN_STAGES, roles=ESCALATION_TARGETS),
        Transition("acknowledge_escalation", OPEN_STAGES, hook=acknowledge_escalation_hook,
                   roles=RUNNERS),
    ),
    data={"update_plan": UpdatePlanData, "acknowledge_escalation": AcknowledgeEscalationData},
)


def process_timers(case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]:
    """The pilot's end, while the pilot runs."""
    if case.stage != "doing":
        return []
    return [TimerSpec(key=f"{case.id}:pilot_end", kind=PROCESS, name="pilot_end", step=None,
                      fire_at=datetime.fromisoformat(case.data["pilot_to"]))]


def on_timer(case: CaseSnapshot, name: str, policies: PolicySet,
             calendars: Mapping[str, BusinessCalendar], now: datetime,
             facts: Mapping[str, Any] | None = None) -> Decision | None:
    """The pilot ended: record the check with the figures the service measured (`facts`)."""
    if name != "pilot_end" or case.stage != "doing" or facts is None:
        return None
    return TABLE.decide(case, Event("check", SYSTEM_ACTOR, {"measured": dict(facts)},
                                    by_system=True), policies, calendars, now)
