"""Satisfaction follow-up (回訪: seed 001 §1.1.43; seed 003: phone return visits, ratings).

| event             | from                      | to                        | clocks, timers       |
|-------------------|---------------------------|---------------------------|----------------------|
| open              | (a case closed)           | scheduled                 | send_survey timer    |
| postpone (sys)    | scheduled, surveyed       | (same)                    | send or reminder out |
|                   |                           |                           | of quiet hours       |
| send_survey (sys) | scheduled                 | surveyed                  | reminder, open_call  |
| remind (sys)      | surveyed                  | reminded                  |                      |
| skip (sys)        | scheduled, surveyed,      | closed (answered if it    |                      |
|                   | reminded                  | was)                      |                      |
| open_call (sys)   | surveyed, reminded        | calling                   | start call           |
| no_call (sys)     | surveyed, reminded        | (same)                    | close at link expiry |
| answer (sys)      | surveyed, reminded,       | answered (same stage for  | stop call once       |
|                   | calling                   | always-call tiers)        | answered             |
| record_call       | calling                   | calling, answered, closed | stop call once done  |
| reassign          | calling                   | (same)                    |                      |
| add_note          | any open stage            | (same)                    |                      |
| ack_escalation    | calling                   | (same)                    | ends the call ladder |

A follow-up opens when a case closes by an event `followup.after` lists for its process
(a complaint confirmed or auto-closed; a withdrawn one gets none: the customer took it
back, there is no handling to rate). The survey (CSAT 1-5, NPS 0-10, speed, attitude
and resolution 1-5, a comment) goes out `survey_after` the closure on the customer's
preferred channel, unless they opted out, cannot be reached, or had a survey within
`once_per`. Without an answer, a reminder follows `reminder_after` the survey, and a
return-visit call task `call_after` it; tiers in `always_call_tiers` get the call
even when they answered. A customer with no phone gets no call (no_call): the survey
stays open for answers until its link expires, then closes (`no_phone`). The link
answers to the end of the day its message names, in the quiet hours' timezone; a
reminder is never sent with a dead link. Nothing reaches a customer in quiet hours: it
waits for their end. The call goes to the agent who handled the case (else the team's
supervisor), who is told at once; it is due within `call.due_within` and escalates by
`call.escalation`; `record_call` logs each attempt, at most `call.max_attempts`. A low
score (`low_score`) opens a recovery complaint and a backlog finding: the store adapter
does that (processes/followup/hooks).
Answered and closed are final; `data.outcome` says how it ended. ack_escalation is short
for acknowledge_escalation; (sys) events come from the service, never from a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from domain import clocks as clock_ops
from domain.access import ESCALATION_TARGETS, LADDER_STOPPERS, SUPERVISORS, ActorKind
from domain.calendars import BusinessCalendar
from domain.complaint.rules import ReassignData, reassign_hook
from domain.escalation import (
    AcknowledgeEscalationData,
    acknowledge_escalation_hook,
    customer_line,
)
from domain.messages import local_time
from domain.policy import EscalationStep, FollowUpPolicy, PolicySet
from domain.process import (
    SYSTEM_ACTOR,
    UNRANKED,
    CaseSnapshot,
    CustomerContact,
    Decision,
    Event,
    EventData,
    InvalidEvent,
    Notice,
    TimelineEntry,
    Transition,
    TransitionTable,
)
from domain.quiet_hours import is_quiet, next_allowed
from domain.satisfaction import SCORES, check_scores, check_text, choose_channel, is_low
from domain.timers import PROCESS, TimerSpec

NAME = "followup"
CALL = "call"
PRIORITY = UNRANKED  # follow-ups have no priority of their own
CUSTOMER_ACTOR = "customer"
OPEN_STAGES = frozenset({"scheduled", "surveyed", "reminded", "calling"})
WAITING = frozenset({"surveyed", "reminded"})
ANSWERABLE = WAITING | {"calling"}


def policy_of(policies: PolicySet) -> FollowUpPolicy:
    return policies.followup


def ladder(policies: PolicySet) -> list[EscalationStep]:
    return list(policies.followup.call.escalation)


def follows(process: str, closing_event: str, policies: PolicySet) -> bool:
    """Whether closing a case of `process` by `closing_event` starts a follow-up."""
    return closing_event in policy_of(policies).after.get(process, [])


def open_followup(*, case_id: int, source: CaseSnapshot, closed_by: str,
                  policies: PolicySet, now: datetime) -> Decision:
    """Open the follow-up of a closed case; its survey waits for the send time."""
    policy = policy_of(policies)
    send_at = next_allowed(now + policy.survey_after, policy.quiet_hours)
    data = {"source_case": source.id, "source_process": source.process,
            "agent": source.assignee, "closed_by": closed_by, "send_at": send_at.isoformat()}
    new = CaseSnapshot(id=case_id, process=NAME, stage="scheduled", priority=PRIORITY,
                       tier=source.tier, team=source.team, assignee=None, opened_at=now,
                       stage_entered_at=now, category=source.category,
                       channel=source.channel, data=data)
    opened = TimelineEntry("opened", SYSTEM_ACTOR, dict(data), ActorKind.system)
    return Decision(before=new, after=new, timeline=(opened,))


def _at(case: CaseSnapshot, key: str) -> datetime:
    return datetime.fromisoformat(case.data[key])


def customer_zone(policy: FollowUpPolicy) -> ZoneInfo:
    """Where customers' days are counted: the quiet hours' timezone, else UTC."""
    return ZoneInfo(policy.quiet_hours.timezone if policy.quiet_hours else "UTC")


def link_expiry(sent_at: datetime, policy: FollowUpPolicy) -> datetime:
    """When a link sent at `sent_at` stops answering: at the end of the day that is
    `link_valid_for` away, since its message promises that day ("valid until 2026-12-05")."""
    zone = customer_zone(policy)
    last = (sent_at + policy.link_valid_for).astimezone(zone).date()
    return datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)


def last_day(expires_at: datetime, policy: FollowUpPolicy) -> date:
    """The last day a link answers, as its messages name it."""
    return (expires_at - timedelta(microseconds=1)).astimezone(customer_zone(policy)).date()


def _stop_call(case: CaseSnapshot, calendars: Mapping[str, BusinessCalendar],
               now: datetime) -> dict[str, clock_ops.Clock]:
    clock = case.clocks.get(CALL)
    if clock is None:
        return dict(case.clocks)
    return {**case.clocks, CALL: clock_ops.stop(clock, calendars[clock.calendar], now)}


def _send(case, event, policies, calendars, now):
    policy = policy_of(policies)
    times = {"expires_at": link_expiry(now, policy),
             "remind_at": next_allowed(now + policy.reminder_after, policy.quiet_hours),
             "call_at": now + policy.call_after}
    text = {key: value.isoformat() for key, value in times.items()}
    data = {**case.data, "sent_at": now.isoformat(), "channel": event.data["channel"], **text}
    return replace(case, data=data), text


def _postpone(case, event, policies, calendars, now):
    key, counter = {"send_survey": ("send_at", "send_postponed"),
                    "reminder": ("remind_at", "reminder_postponed")}[event.data["timer"]]
    data = {**case.data, key: event.data["until"], counter: case.data.get(counter, 0) + 1}
    return replace(case, data=data), {}


def _remind(case, event, policies, calendars, now):
    return replace(case, data={**case.data, "reminded_at": now.isoformat()}), {}


def _skip(case, event, policies, calendars, now):
    answered = bool(case.data.get("answer"))
    outcome = "answered" if answered else event.data["reason"]
    return replace(case, stage="answered" if answered else "closed",
                   data={**case.data, "outcome": outcome}), {}


def _open_call(case, event, policies, calendars, now):
    call = policy_of(policies).call
    clock = clock_ops.start_clock(name=CALL, calendar=call.calendar, target=call.due_within,
                                  now=now)
    team = policies.teams.get(case.team)
    agent = case.data.get("agent")
    assignee = agent if team is None or agent in team.members else team.supervisor
    data = {**case.data, "call_opened_at": now.isoformat(), "attempts": []}
    reason = "always_call_tier" if case.data.get("answer") else "no_answer"
    return (replace(case, assignee=assignee, clocks={**case.clocks, CALL: clock}, data=data),
            {"assignee": assignee, "reason": reason})


def _no_call(case, event, policies, calendars, now):
    return (replace(case, data={**case.data, "no_call": event.data["reason"]}),
            {"open_until": case.data["expires_at"]})


def _answer(case, event, policies, calendars, now):
    if case.data.get("answer"):
        raise InvalidEvent("answer", "this follow-up has its answer already")
    answer = {**event.data["scores"], "comment": event.data.get("comment"),
              "via": event.data["via"], "at": now.isoformat(), "by": event.actor}
    data = {**case.data, "answer": answer}
    low = {"low_score": is_low(event.data["scores"], policies)}
    if case.tier in policy_of(policies).always_call_tiers and not case.data.get("no_call"):
        return replace(case, data=data), low  # their return-visit call still comes
    data["outcome"] = "answered"
    return replace(case, stage="answered", clocks=_stop_call(case, calendars, now),
                   data=data), low


def _record_call(case, event, policies, calendars, now):
    unknown = set(event.data) - {"reached", "notes", "opt_out", *SCORES}
    if unknown:
        raise InvalidEvent("data", f"unknown field(s) {sorted(unknown)}; give reached, "
                                   f"notes, opt_out and scores {list(SCORES)}")
    reached, opt_out = event.data.get("reached"), event.data.get("opt_out", False)
    if not isinstance(reached, bool) or not isinstance(opt_out, bool):
        raise InvalidEvent("data.reached", "reached (and opt_out) are true or false")
    try:
        scores = check_scores(event.data)
    except InvalidEvent as exc:
        raise InvalidEvent(f"data.{exc.field}", exc.reason) from None
    if (scores or opt_out) and not reached:
        raise InvalidEvent("data.reached", "scores and opt_out need a customer reached")
    notes = check_text(event.data.get("notes"), "data.notes")
    max_attempts = policy_of(policies).call.max_attempts
    attempts = [*case.data.get("attempts", []),
                {"at": now.isoformat(), "by": event.actor, "reached": reached}]
    data = {**case.data, "attempts": attempts}
    details: dict[str, Any] = {"attempt": len(attempts), "max_attempts": max_attempts}
    if scores and not case.data.get("answer"):
        data["answer"] = {**scores, "comment": notes, "via": "call", "at": now.isoformat(),
                          "by": event.actor}
        details["low_score"] = is_low(scores, policies)
    if not (reached or len(attempts) >= max_attempts):
        return replace(case, data=data), details
    answered = bool(data.get("answer"))
    data["outcome"] = ("answered" if answered else "opted_out" if opt_out else
                       "reached" if reached else "unreached")
    return replace(case, stage="answered" if answered else "closed", data=data,
                   clocks=_stop_call(case, calendars, now)), details


class RecordCallData(EventData):
    """record_call: whether the customer was reached, and what they said if they were."""

    reached: bool | None = None
    notes: str | None = None
    opt_out: bool | None = Field(default=None, description="no more surveys or calls")
    csat: int | None = Field(default=None, description="1 to 5")
    nps: int | None = Field(default=None, description="0 to 10")
    speed: int | None = Field(default=None, description="1 to 5")
    attitude: int | None = Field(default=None, description="1 to 5")
    resolution: int | None = Field(default=None, description="1 to 5")


TABLE = TransitionTable(
    stages=("scheduled", "surveyed", "reminded", "calling", "answered", "closed"),
    final_stages=frozenset({"answered", "closed"}),
    transitions=(
        Transition("send_survey", frozenset({"scheduled"}), "surveyed", hook=_send,
                   system_only=True),
        Transition("postpone", frozenset({"scheduled", "surveyed"}), hook=_postpone,
                   system_only=True),
        Transition("remind", frozenset({"surveyed"}), "reminded", hook=_remind,
                   system_only=True),
        Transition("skip", OPEN_STAGES - {"calling"}, hook=_skip, system_only=True,
                   targets=frozenset({"answered", "closed"})),
        Transition("open_call", WAITING, "calling", hook=_open_call, system_only=True),
        Transition("no_call", WAITING, hook=_no_call, system_only=True),
        Transition("answer", ANSWERABLE, hook=_answer, system_only=True,
                   targets=ANSWERABLE | {"answered"}),
        Transition("record_call", frozenset({"calling"}), hook=_record_call,
                   targets=frozenset({"calling", "answered", "closed"})),
        Transition("reassign", frozenset({"calling"}), hook=reassign_hook, roles=SUPERVISORS),
        Transition("add_note", OPEN_STAGES, roles=ESCALATION_TARGETS),
        Transition("acknowledge_escalation", frozenset({"calling"}),
                   hook=acknowledge_escalation_hook, roles=LADDER_STOPPERS),
    ),
    data={"record_call": RecordCallData, "reassign": ReassignData,
          "acknowledge_escalation": AcknowledgeEscalationData},
)


def answer(case: CaseSnapshot, *, scores: Mapping[str, Any], comment: object, opt_out: bool,
           policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
           now: datetime) -> Decision:
    """Record the customer's answer from the survey link; `InvalidEvent` names a bad field."""
    data = {"scores": check_scores(scores, required=("csat", "nps")),
            "comment": check_text(comment, "comment"), "via": "link", "opt_out": opt_out}
    return TABLE.decide(case, Event("answer", CUSTOMER_ACTOR, data, by_system=True),
                        policies, calendars, now)


def process_timers(case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]:
    """The send time while scheduled; the reminder and the call (or, with no call to
    come, the link's expiry) while waiting for an answer."""
    data = case.data
    if case.stage == "scheduled":
        return [TimerSpec(f"{case.id}:send_survey:{data.get('send_postponed', 0)}", PROCESS,
                          "send_survey", None, _at(case, "send_at"))]
    specs = []
    if case.stage == "surveyed" and not data.get("answer"):
        specs.append(TimerSpec(f"{case.id}:reminder:{data.get('reminder_postponed', 0)}",
                               PROCESS, "reminder", None, _at(case, "remind_at")))
    if case.stage in WAITING and data.get("no_call"):
        specs.append(TimerSpec(f"{case.id}:link_expiry", PROCESS, "link_expiry", None,
                               _at(case, "expires_at")))
    elif case.stage in WAITING:
        specs.append(TimerSpec(f"{case.id}:open_call", PROCESS, "open_call", None,
                               _at(case, "call_at")))
    return specs


def _system(case: CaseSnapshot, type_: str, data: Mapping[str, Any], policies: PolicySet,
            calendars: Mapping[str, BusinessCalendar], now: datetime) -> Decision:
    return TABLE.decide(case, Event(type_, SYSTEM_ACTOR, data, by_system=True), policies,
                        calendars, now)


def on_timer(case: CaseSnapshot, name: str, policies: PolicySet,
             calendars: Mapping[str, BusinessCalendar], now: datetime,
             facts: Mapping[str, Any] | None = None) -> Decision | None:
    """Send, remind or open the call, as the customer's `facts` allow; None if obsolete.

    `facts`: `opted_out`, `contacts` (of email, phone), `preferred`,
    `last_surveyed_at` (ISO 8601 or None) and `customer` (a `CustomerContact`), read
    from the store by the adapter. Timers that came due together (after downtime) fire
    in time order, so each checks what an earlier one left: no reminder with a link
    that is dead.
    """
    if facts is None:
        return None
    policy = policy_of(policies)
    quiet = policy.quiet_hours

    def decide(kind: str, data: Mapping[str, Any]) -> Decision:
        return _system(case, kind, data, policies, calendars, now)

    if name == "send_survey" and case.stage == "scheduled":
        channel = choose_channel(list(facts["contacts"]), facts["preferred"], policies)
        last = facts["last_surveyed_at"]
        if facts["opted_out"] or channel is None or (
                last and now - datetime.fromisoformat(last) < policy.once_per):
            reason = ("opted_out" if facts["opted_out"] else "no_contact" if channel is None
                      else "surveyed_recently")
            return decide("skip", {"reason": reason})
        if is_quiet(now, quiet):  # fired late, into the night: wait for the morning
            return decide("postpone", {"timer": name, "until": next_allowed(now, quiet)
                                       .isoformat()})
        return decide("send_survey", {"channel": channel})
    if name == "reminder" and case.stage == "surveyed" and not case.data.get("answer"):
        if facts["opted_out"]:
            return decide("skip", {"reason": "opted_out"})
        if now >= _at(case, "expires_at"):
            return None  # the link it would carry answers no more
        if is_quiet(now, quiet):
            return decide("postpone", {"timer": name, "until": next_allowed(now, quiet)
                                       .isoformat()})
        return decide("remind", {})
    if name == "open_call" and case.stage in WAITING:
        if facts["opted_out"]:
            return decide("skip", {"reason": "opted_out"})
        if "phone" not in facts["contacts"]:
            # Nobody to call: the link still answers until the day its message promised.
            if case.data.get("answer") or now >= _at(case, "expires_at"):
                return decide("skip", {"reason": "no_phone"})
            return decide("no_call", {"reason": "no_phone"})
        opened = decide("open_call", {})
        return replace(opened, notices=call_notice(opened, facts.get("customer"), policies,
                                                   calendars))
    if name == "link_expiry" and case.stage in WAITING:
        return decide("skip", {"reason": case.data["no_call"]})
    return None


def call_notice(decision: Decision, customer: CustomerContact | None, policies: PolicySet,
                calendars: Mapping[str, BusinessCalendar]) -> tuple[Notice, ...]:
    """Tell the assignee a return-visit call task is theirs: why, whom, and by when, in
    the call calendar's timezone."""
    case = decision.after
    if case.assignee is None:
        return ()
    clock = case.clocks[CALL]
    calendar = calendars[clock.calendar]
    m = policies.staff_messages(case.team)
    due = local_time(clock.due_at(calendar) or clock.started_at, calendar.tz)
    why = ("the customer's tier is always called, answered or not"
           if decision.timeline[0].details.get("reason") == "always_call_tier"
           else "no answer to the survey")
    data = case.data

    def values(language: str) -> dict[str, object]:
        return {"case": case.id, "due": due, "why": m.text(language, why),
                "source": m.name(language, "process", data["source_process"]),
                "source_case": data["source_case"],
                "attempts": policy_of(policies).call.max_attempts}

    subject = m.staff_subject(lambda language: m.text(
        language, "[followup #{case}] return-visit call task: call by {due}",
        **values(language)))
    body = m.staff(lambda language: m.text(
        language, "A return-visit call task is yours: follow-up #{case} of {source} "
        "#{source_case} ({why}). Call the customer by {due} and record each attempt "
        "(record_call, at most {attempts}); the follow-up shows the number: {link}",
        link=m.case_link(case.process, case.id), **values(language))
        + customer_line(replace(case, customer=customer), policies, language))
    return (Notice(recipient=case.assignee, role="assignee", subject=subject, body=body,
                   key=f"{case.id}:call_opened:{case.assignee}"),)
