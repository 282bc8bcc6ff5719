"""Crisis response (seed 002 §7.3, §7.1; seed 000 §9; seed 004 应急处理团队).

| event                    | from                  | to           | clocks and timers        |
|--------------------------|-----------------------|--------------|--------------------------|
| open                     | (raised, or a spike)  | candidate    | start triage             |
| confirm                  | candidate             | confirmed    | stop triage; start team, |
|                          |                       |              | first_notice, update_1   |
| dismiss                  | candidate             | dismissed    | stop triage              |
| override_severity        | confirmed, responding | (same)       | retarget obligations     |
| assemble_team            | confirmed             | responding   | stop team                |
| post_update              | confirmed, responding | (same)       | stop update_n, start n+1 |
| draft_notice             | confirmed .. resolved | (same)       |                          |
| approve_notice           | confirmed .. resolved | (same)       | (managers, directors)    |
| publish_notice           | confirmed .. resolved | (same)       | a public one stops       |
|                          |                       |              | first_notice             |
| resolve                  | responding            | resolved     | stop all; start review   |
| start_compensation       | resolved              | compensating | compensation batch timer |
| skip_compensation        | resolved              | reviewing    |                          |
| compensation_done (sys)  | compensating          | reviewing    |                          |
| complete_review          | reviewing             | closed       | stop review              |
| add_note, ack_escalation | any open stage        | (same)       |                          |

Severity (S1-S4) is the policy matrix's cell for the likelihood and impact given at
confirmation; a different severity needs a reason, and so does every later override,
and both are on the timeline. Each obligation is a clock that escalates by the crisis
ladder when missed. The status update repeats: each update stops its clock and starts
the next (`update_2`, `update_3`...), so each has its own due time and ladder. The
compensation batch runs outside the case's transaction (processes/crisis/compensation)
and reports back with `compensation_done`. Completing the review adds its actions to the
improvement backlog and can open a PDCA cycle (the store adapter does both).
ack_escalation is short for acknowledge_escalation; (sys) events come from the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import Field

from domain import clocks as clock_ops
from domain.access import ESCALATION_TARGETS, AccessRole, ActorKind
from domain.calendars import BusinessCalendar
from domain.clocks import ClockState
from domain.crisis import news, notices
from domain.crisis.decisions import (
    check_compensation,
    check_review,
    current_update,
    cut_short,
    promised_update,
    retarget_obligations,
    start_obligations,
)
from domain.crisis.policy import SEVERITIES, CrisisPolicy
from domain.crisis.policy import policy_problems as policy_problems
from domain.escalation import AcknowledgeEscalationData, acknowledge_escalation_hook
from domain.policy import EscalationStep, PolicySet
from domain.process import (
    WAIVED,
    CaseSnapshot,
    ClockOp,
    Decision,
    Event,
    EventData,
    InvalidEvent,
    TimelineEntry,
    Transition,
    TransitionTable,
)
from domain.timers import BATCH, TimerSpec

NAME = "crisis"
POLICY_FILE = "crisis.yaml"
POLICY_MODEL = CrisisPolicy
TRIAGE, TEAM, NOTICE, REVIEW = "triage", "team", "first_notice", "review"
LEADS = frozenset({AccessRole.supervisor, AccessRole.manager, AccessRole.director})
APPROVERS = frozenset({AccessRole.manager, AccessRole.director})
ACTIVE = frozenset({"confirmed", "responding"})
COMMUNICATING = ACTIVE | {"resolved"}
OPEN_STAGES = frozenset({"candidate", "confirmed", "responding", "resolved", "compensating",
                         "reviewing"})
RESOLVED_FIRST = "the crisis was resolved before it was due"
# Complaints of the crisis's category opened in these stages are linked as they arrive.
LINKING_STAGES = frozenset({"candidate", "confirmed", "responding", "resolved"})


def policy_of(policies: PolicySet) -> CrisisPolicy:
    return policies.process_policy(NAME, CrisisPolicy)


def ladder(policies: PolicySet) -> list[EscalationStep]:
    return list(policy_of(policies).escalation)


def open_candidate(*, case_id: int, title: str, description: str, category: str | None,
                   team: str, actor: str, actor_kind: ActorKind,
                   spike: Mapping[str, Any] | None, policies: PolicySet,
                   now: datetime) -> Decision:
    """A crisis candidate, raised by a person or detected from a spike; triage starts."""
    policy = policy_of(policies)
    lead = policies.teams[team].supervisor
    triage = clock_ops.start_clock(name=TRIAGE, calendar=policy.calendar,
                                   target=policy.triage_within, now=now)
    data: dict[str, Any] = {"title": title, "description": description, "category": category,
                            "raised_by": "detected" if spike else "person",
                            "notices": [], "update_seq": 0}
    if spike:
        data["spike"] = dict(spike)
    new = CaseSnapshot(id=case_id, process=NAME, stage="candidate", priority="candidate",
                       tier=None, team=team, assignee=lead, opened_at=now,
                       stage_entered_at=now, category=category, clocks={TRIAGE: triage},
                       data=data)
    opened = TimelineEntry("opened", actor, {k: v for k, v in data.items() if k != "notices"},
                           actor_kind)
    sent = news.candidate(new, spike, policies) if spike else ()
    # Before: nobody leads it yet, so the lead's open-case count goes up, as at routing.
    return Decision(before=replace(new, assignee=None), after=new, timeline=(opened,),
                    notices=sent)


def _choice(data: Mapping[str, Any], name: str, allowed: list[str]) -> str:
    value = data.get(name)
    if value not in allowed:
        raise InvalidEvent(f"data.{name}", f"must be one of {allowed}")
    return str(value)


def _confirm(case, event, policies, calendars, now):
    policy = policy_of(policies)
    likelihood = _choice(event.data, "likelihood", policy.likelihood)
    impact = _choice(event.data, "impact", policy.impact)
    matrix = policy.severity(likelihood, impact)
    severity = event.data.get("severity", matrix)
    if severity not in SEVERITIES:
        raise InvalidEvent("data.severity", f"must be one of {list(SEVERITIES)}")
    details: dict[str, Any] = {"severity": severity, "matrix_severity": matrix}
    data = {**case.data, "likelihood": likelihood, "impact": impact, "severity": severity,
            "matrix_severity": matrix, "confirmed_at": now.isoformat(), "update_seq": 1}
    if severity != matrix:  # the supervisor overrides the matrix, and says why
        details["reason"] = notices.text_field(event.data, "reason")
        data["overrides"] = [{"from": matrix, "to": severity, "reason": details["reason"],
                              "by": event.actor, "at": now.isoformat()}]
    clocks = start_obligations(case.clocks, policy, severity, now)
    due = {name: clock.due_at(calendars[clock.calendar]) for name, clock in clocks.items()
           if clock.state is ClockState.running and name != TRIAGE}
    details["due"] = {name: at.isoformat() for name, at in due.items() if at}
    return replace(case, priority=severity, data=data, clocks=clocks), details


def _dismiss(case, event, policies, calendars, now):
    reason = notices.text_field(event.data, "reason")
    return replace(case, data={**case.data, "dismissal": reason}), {}


def _override(case, event, policies, calendars, now):
    severity = _choice(event.data, "severity", list(SEVERITIES))
    reason = notices.text_field(event.data, "reason")
    before = case.data["severity"]
    if severity == before:
        raise InvalidEvent("data.severity", f"the crisis is {before} already")
    clocks = retarget_obligations(case.clocks, policy_of(policies), severity,
                                  calendars, now,
                                  since=datetime.fromisoformat(case.data["confirmed_at"]),
                                  noticed=any(n["public"] and n["status"] == "published"
                                              for n in case.data.get("notices", [])))
    overrides = [*case.data.get("overrides", []),
                 {"from": before, "to": severity, "reason": reason, "by": event.actor,
                  "at": now.isoformat()}]
    data = {**case.data, "severity": severity, "overrides": overrides}
    return (replace(case, priority=severity, data=data, clocks=clocks),
            {"from": before, "to": severity, "reason": reason})


def _assemble(case, event, policies, calendars, now):
    lead = notices.text_field(event.data, "lead", limit=120)
    members = event.data.get("members")
    if not isinstance(members, list) or not members or not all(
            isinstance(m, str) and m.strip() and len(m) <= 120 for m in members):
        raise InvalidEvent("data.members", "a non-empty list of the team's people")
    known = set(policies.people) | {p for t in policies.teams.values() for p in t.members}
    if lead not in known:
        raise InvalidEvent("data.lead", f"unknown person {lead!r}")
    unknown = sorted(set(members) - known)
    if unknown:
        raise InvalidEvent("data.members", f"unknown people {unknown}")
    team = {"lead": lead, "members": sorted(set(members) | {lead}),
            "assembled_at": now.isoformat()}
    return replace(case, assignee=lead, data={**case.data, "team": team}), {"lead": lead}


def _post_update(case, event, policies, calendars, now):
    summary = notices.text_field(event.data, "summary")
    policy = policy_of(policies)
    name, clock = current_update(case)
    # post_update is sent in confirmed and responding only, and confirm starts update_1.
    assert clock is not None, "an active crisis has a status update clock"
    seq = case.data["update_seq"] + 1
    nxt = clock_ops.start_clock(name=f"update_{seq}", calendar=policy.calendar,
                                target=policy.targets(case.data["severity"]).update_every,
                                now=now)
    clocks = {**case.clocks, name: clock_ops.stop(clock, calendars[clock.calendar], now),
              nxt.name: nxt}
    data = {**case.data, "update_seq": seq, "last_update": {"at": now.isoformat(),
                                                            "summary": summary}}
    next_due = nxt.due_at(calendars[nxt.calendar])
    return (replace(case, data=data, clocks=clocks),
            {"update": seq - 1, "next_due": next_due.isoformat() if next_due else None})


def _draft(case, event, policies, calendars, now):
    policy = policy_of(policies)
    notice = notices.draft(case, event.data, policy,
                           next_update=promised_update(case, calendars, now),
                           zone=calendars[policy.calendar].tz, actor=event.actor, now=now,
                           messages=policies.messages)
    data = {**case.data, "notices": [*case.data.get("notices", []), notice]}
    return replace(case, data=data), {"notice": notice["id"], "channel": notice["channel"]}


def _approve(case, event, policies, calendars, now):
    notice = notices.find(case, event.data, "drafted")
    if notice["drafted_by"] == event.actor:
        raise InvalidEvent("data.notice", "a notice is approved by someone other than "
                                          "who drafted it")
    notice.update(status="approved", approved_by=event.actor, approved_at=now.isoformat())
    return (replace(case, data={**case.data, "notices": notices.replace_notice(case, notice)}),
            {"notice": notice["id"], "channel": notice["channel"]})


def _publish(case, event, policies, calendars, now):
    notice = notices.find(case, event.data, "approved")
    notices.check_promise(notice, now, calendars[policy_of(policies).calendar].tz)
    notice.update(status="published", published_by=event.actor, published_at=now.isoformat())
    data = {**case.data, "notices": notices.replace_notice(case, notice)}
    clocks = dict(case.clocks)
    first = clocks.get(NOTICE)
    if notice["public"] and first is not None and first.state is not ClockState.stopped:
        clocks[NOTICE] = clock_ops.stop(first, calendars[first.calendar], now)
        data["first_notice_at"] = now.isoformat()
    return (replace(case, data=data, clocks=clocks),
            {"notice": notice["id"], "channel": notice["channel"], "public": notice["public"],
             "subject": notice["subject"]})


def _resolve(case, event, policies, calendars, now):
    summary = notices.text_field(event.data, "summary")
    policy = policy_of(policies)
    clocks, waived = cut_short(case.clocks, calendars, now)
    clocks[REVIEW] = clock_ops.start_clock(name=REVIEW, calendar=policy.review_calendar,
                                           target=policy.review_within, now=now)
    due = clocks[REVIEW].due_at(calendars[policy.review_calendar])
    data = {**case.data, "resolution": summary, "resolved_at": now.isoformat(),
            WAIVED: {**case.data.get(WAIVED, {}), **{
                name: {"by": event.actor, "at": now.isoformat(), "reason": RESOLVED_FIRST}
                for name in waived}}}
    return (replace(case, data=data, clocks=clocks),
            {"review_due": due.isoformat() if due else None, "waived": waived})


def _start_compensation(case, event, policies, calendars, now):
    offer = check_compensation(event.data, policy_of(policies))
    run = case.data.get("compensation", {}).get("run", 0) + 1
    data = {**case.data, "compensation": {**offer, "run": run, "started_at": now.isoformat(),
                                          "started_by": event.actor}}
    return replace(case, data=data), {}


def _skip_compensation(case, event, policies, calendars, now):
    reason = notices.text_field(event.data, "reason")
    return replace(case, data={**case.data, "compensation": {"skipped": reason}}), {}


def _compensation_done(case, event, policies, calendars, now):
    totals = {k: event.data[k] for k in ("customers", "issued_now", "total_value")}
    data = {**case.data, "compensation": {**case.data["compensation"], **totals,
                                          "finished_at": now.isoformat()}}
    return replace(case, data=data), {}


def _complete_review(case, event, policies, calendars, now):
    review = check_review(event.data, policies)
    data = {**case.data, "review": {**review, "by": event.actor, "at": now.isoformat()}}
    return replace(case, data=data), {"actions": len(review["actions"]),
                                      "opens_pdca": review["pdca"] is not None}


class ConfirmData(EventData):
    likelihood: str | None = None
    impact: str | None = None
    severity: str | None = Field(default=None, description="overrides the matrix; give "
                                                           "the reason")
    reason: str | None = None


class ReasonData(EventData):
    """dismiss and skip_compensation."""

    reason: str | None = None


class OverrideSeverityData(EventData):
    severity: str | None = None
    reason: str | None = None


class AssembleTeamData(EventData):
    lead: str | None = None
    members: list[str] | None = Field(default=None, description="the team's people")


class SummaryData(EventData):
    """post_update and resolve."""

    summary: str | None = None


class DraftNoticeData(EventData):
    channel: str | None = Field(default=None, description="one of the policy's channels")
    summary: str | None = Field(default=None, description="fills the channel's template")
    subject: str | None = Field(default=None, description="instead of the template's")
    body: str | None = Field(default=None, description="instead of the template's")


class NoticeData(EventData):
    """approve_notice and publish_notice."""

    notice: int | None = Field(default=None, description="the notice's number, from 1")


class CompensationData(EventData):
    kind: str | None = None
    value: float | None = None
    description: str | None = None


class ReviewData(EventData):
    what_happened: str | None = None
    root_cause: str | None = None
    actions: list[str] | None = None
    pdca: dict[str, Any] | None = Field(default=None, description="a PDCA plan: kpi, "
                                        "target, scope, pilot_period")


class CrisisTable(TransitionTable):
    """The crisis table: `decide` also says whom each event's news goes to."""

    def decide(self, case: CaseSnapshot, event: Event, policies: PolicySet,
               calendars: Mapping[str, BusinessCalendar], now: datetime) -> Decision:
        decision = super().decide(case, event, policies, calendars, now)
        zone = calendars[policy_of(policies).calendar].tz
        return replace(decision, notices=news.of_event(decision, event, policies, zone))


TABLE = CrisisTable(
    stages=("candidate", "confirmed", "responding", "resolved", "compensating", "reviewing",
            "closed", "dismissed"),
    final_stages=frozenset({"closed", "dismissed"}),
    transitions=(
        Transition("confirm", frozenset({"candidate"}), "confirmed",
                   clocks=((TRIAGE, ClockOp.stop),), hook=_confirm, roles=LEADS),
        Transition("dismiss", frozenset({"candidate"}), "dismissed",
                   clocks=((TRIAGE, ClockOp.stop),), hook=_dismiss, roles=LEADS),
        Transition("override_severity", ACTIVE, hook=_override, roles=LEADS),
        Transition("assemble_team", frozenset({"confirmed"}), "responding",
                   clocks=((TEAM, ClockOp.stop),), hook=_assemble, roles=LEADS),
        Transition("post_update", ACTIVE, hook=_post_update, roles=LEADS),
        Transition("draft_notice", COMMUNICATING, hook=_draft, roles=LEADS),
        Transition("approve_notice", COMMUNICATING, hook=_approve, roles=APPROVERS),
        Transition("publish_notice", COMMUNICATING, hook=_publish, roles=LEADS),
        Transition("resolve", frozenset({"responding"}), "resolved", hook=_resolve,
                   roles=LEADS),
        Transition("start_compensation", frozenset({"resolved"}), "compensating",
                   hook=_start_compensation, roles=LEADS),
        Transition("skip_compensation", frozenset({"resolved"}), "reviewing",
                   hook=_skip_compensation, roles=LEADS),
        Transition("compensation_done", frozenset({"compensating"}), "reviewing",
                   hook=_compensation_done, system_only=True),
        Transition("complete_review", frozenset({"reviewing"}), "closed",
                   clocks=((REVIEW, ClockOp.stop),), hook=_complete_review, roles=LEADS),
        Transition("add_note", OPEN_STAGES, roles=ESCALATION_TARGETS),
        Transition("acknowledge_escalation", OPEN_STAGES, hook=acknowledge_escalation_hook,
                   roles=LEADS),
    ),
    data={"confirm": ConfirmData, "dismiss": ReasonData,
          "override_severity": OverrideSeverityData, "assemble_team": AssembleTeamData,
          "post_update": SummaryData, "draft_notice": DraftNoticeData,
          "approve_notice": NoticeData, "publish_notice": NoticeData, "resolve": SummaryData,
          "start_compensation": CompensationData, "skip_compensation": ReasonData,
          "complete_review": ReviewData, "acknowledge_escalation": AcknowledgeEscalationData},
)


def process_timers(case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]:
    """The compensation batch, due at once, while compensating (the sweeper runs it)."""
    if case.stage != "compensating":
        return []
    compensation = case.data["compensation"]
    return [TimerSpec(key=f"{case.id}:compensation:{compensation['run']}", kind=BATCH,
                      name="compensation", step=None,
                      fire_at=datetime.fromisoformat(compensation["started_at"]))]


def on_timer(case: CaseSnapshot, name: str, policies: PolicySet,
             calendars: Mapping[str, BusinessCalendar], now: datetime,
             facts: Mapping[str, Any] | None = None) -> Decision | None:
    """A crisis has no process timers that decide: its batch timer runs the batch."""
    return None
