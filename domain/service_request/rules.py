"""Service requests across channels (O2O; seed 000 §3.3, seed 002 §1.4, seed 003).

| event                   | from                         | to          | clocks, timers            |
|-------------------------|------------------------------|-------------|---------------------------|
| open                    | (a request on a channel)     | requested   | start confirmation        |
| accept                  | requested                    | scheduled   | stop confirmation;        |
|                         |                              |             | reminders, no_show timer  |
| remind (sys)            | scheduled                    | (same)      | message to the customer   |
| postpone (sys)          | scheduled, no_show           | (same)      | message after quiet hours |
| check_in                | requested (walk-in),scheduled| checked_in  | stop confirmation;        |
|                         |                              |             | start wait                |
| start_service           | checked_in                   | in_service  | stop wait; start complete |
| complete                | in_service                   | completed   | stop completion; a seat   |
|                         |                              |             | not reached yet is freed  |
| no_show (sys)           | requested, scheduled         | no_show     | stop confirmation;        |
|                         |                              |             | offer to reschedule       |
| offer (sys)             | no_show                      | (same)      | offer after quiet hours   |
| reschedule              | scheduled, no_show           | scheduled   | new reminders, no_show    |
| offer_expired (sys)     | no_show                      | cancelled   |                           |
| cancel                  | requested, scheduled, no_show| cancelled   | stop every clock          |
| transfer                | any open stage               | (same)      | escalation beyond N;      |
|                         |                              |             | clocks onto new location  |
| transfer_escalation(sys)| any open stage               | (same)      | supervisor told           |
| assign (sys)            | any open stage               | (same)      |                           |
| reassign                | any open stage               | (same)      |                           |
| add_note                | any open stage               | (same)      |                           |
| ack_escalation          | any open stage               | (same)      | ends data.clock's ladder  |

A customer asks on a channel (web, app, WeCom, phone, a store...) for a service at a
location, usually with a slot: the seat is held at once. The location's team accepts
(confirming the slot, or another) within `confirm_within` of the location's opening
hours. Reminders go `reminders_before` the appointment. The customer checks in; the wait
until service starts is timed (`wait_within`), then the service until completion
(`complete_within`); completion starts the satisfaction follow-up (followup.after), and
frees the seat of a slot not started yet (served early). A customer not checked in
`no_show_after` the slot's start is a no-show, whether or not the booking was accepted:
the seat is freed and they are offered to reschedule for `reschedule_offer_for` from
the offer. No message reaches the customer in `quiet_hours`: the offer, or a reminder
whose timer fired late, is postponed to their end (a reminder that would then come
after the appointment is not sent). Every hand-off between channels, teams or locations
(`transfer`) is recorded with its reason and how long the case was held before it; more
than `transfers.max_transfers` escalates to the team's supervisor. Seats are counted by
the store adapter (processes/service_request/commands), which refuses a closed or full slot
with the nearest free ones. (sys): the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from domain import clocks as clock_ops
from domain.access import ESCALATION_TARGETS, LADDER_STOPPERS, SUPERVISORS, ActorKind
from domain.calendars import BusinessCalendar
from domain.clocks import ClockState
from domain.complaint.rules import ReassignData, reassign_hook
from domain.durations import format_duration
from domain.escalation import AcknowledgeEscalationData, acknowledge_escalation_hook
from domain.policy import EscalationStep, PolicySet, Tier
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
    Notice,
    TimelineEntry,
    Transition,
    TransitionTable,
)
from domain.quiet_hours import is_quiet, next_allowed
from domain.service_request import appointments, handoffs
from domain.service_request.locations import LocationPolicy, check_slot_text
from domain.service_request.policy import CustomerMessage, ServiceRequestPolicy
from domain.service_request.policy import policy_problems as policy_problems
from domain.timers import PROCESS, TimerSpec

NAME = "service_request"
POLICY_FILE = "service_request.yaml"
POLICY_MODEL = ServiceRequestPolicy
CONFIRMATION, WAIT, COMPLETION = "confirmation", "wait", "completion"
PRIORITY = UNRANKED  # requests have no priority of their own
OPEN_STAGES = frozenset({"requested", "scheduled", "checked_in", "in_service", "no_show"})
EXPECTED = frozenset({"requested", "scheduled"})  # booked, not arrived: can be a no-show
STOP_ALL = ((CONFIRMATION, ClockOp.stop), (WAIT, ClockOp.stop), (COMPLETION, ClockOp.stop))


def policy_of(policies: PolicySet) -> ServiceRequestPolicy:
    return policies.process_policy(NAME, ServiceRequestPolicy)


def ladder(policies: PolicySet) -> list[EscalationStep]:
    return list(policy_of(policies).escalation)


def location_of(policies: PolicySet, name: str, field_name: str = "location") -> LocationPolicy:
    """A location by its key; `InvalidEvent` naming the known ones if there is none."""
    locations = policy_of(policies).locations
    if name not in locations:
        raise InvalidEvent(field_name, f"unknown location; known: {sorted(locations)}")
    return locations[name]


def _start(name: str, case: CaseSnapshot, target: timedelta, policies: PolicySet,
           now: datetime) -> dict[str, clock_ops.Clock]:
    calendar = location_of(policies, case.data["location"]).calendar
    return {**case.clocks, name: clock_ops.start_clock(name=name, calendar=calendar,
                                                      target=target, now=now)}


def _booking(case: CaseSnapshot, slot: datetime, now: datetime) -> dict[str, Any]:
    seq = case.data.get("bookings", 0) + 1
    return {"location": case.data["location"], "slot": slot.isoformat(), "seq": seq,
            "booked_at": now.isoformat()}


def open_request(*, case_id: int, customer_id: int, tier: Tier, location: str,
                 channel: str, service: str, slot: datetime | None, team: str, assignee: str,
                 actor: str, actor_kind: ActorKind, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime) -> Decision:
    """Open a request at `location`, holding `slot` if given; the confirmation clock starts."""
    policy = policy_of(policies)
    if channel not in policy.channels:
        raise InvalidEvent("channel", f"must be one of {policy.channels}")
    if service not in policy.services:
        raise InvalidEvent("service", f"must be one of {policy.services}")
    location_of(policies, location)
    data: dict[str, Any] = {"customer": customer_id, "location": location, "service": service,
                            "origin_channel": channel, "transfers": [], "bookings": 0}
    new = CaseSnapshot(id=case_id, process=NAME, stage="requested", priority=PRIORITY,
                       tier=tier, team=team, assignee=None, opened_at=now,
                       stage_entered_at=now, channel=channel, data=data)
    new = replace(new, clocks=_start(CONFIRMATION, new, policy.confirm_within, policies, now))
    if slot is not None:
        booking = _booking(new, slot, now)
        new = replace(new, data={**new.data, "booking": booking, "bookings": booking["seq"]})
    opened = TimelineEntry("opened", actor, {
        "channel": channel, "location": location, "service": service,
        "slot": new.data.get("booking", {}).get("slot"),
        "confirm_within": format_duration(policy.confirm_within)}, actor_kind)
    assigned = TABLE.decide(new, Event("assign", SYSTEM_ACTOR, {"assignee": assignee},
                                       by_system=True), policies, calendars, now)
    return Decision(before=new, after=assigned.after, timeline=(opened, *assigned.timeline))


def _assign(case, event, policies, calendars, now):
    return replace(case, assignee=event.data["assignee"]), {"team": case.team}


def _accept(case, event, policies, calendars, now):
    slot = event.data.get("slot")
    if slot is None:
        if not case.data.get("booking"):
            raise InvalidEvent("data.slot", "no slot is held yet: give the appointment's "
                                            "start, e.g. 2026-11-21T10:00:00+08:00")
        return case, {"slot": case.data["booking"]["slot"]}
    return _rebook(case, check_slot_text(slot, "data.slot"), now)


def _rebook(case: CaseSnapshot, slot: datetime, now: datetime
            ) -> tuple[CaseSnapshot, dict[str, Any]]:
    booking = _booking(case, slot, now)
    data = {**case.data, "booking": booking, "bookings": booking["seq"]}
    data.pop("offer_expires_at", None)
    data.pop("offer_at", None)
    return replace(case, data=data), {"slot": booking["slot"], "location": booking["location"]}


def _reschedule(case, event, policies, calendars, now):
    if "slot" not in event.data:
        raise InvalidEvent("data.slot", "the new appointment's start is required")
    return _rebook(case, check_slot_text(event.data["slot"], "data.slot"), now)


def _remind(case, event, policies, calendars, now):
    sent = [*case.data.get("reminders_sent", []),
            {"seq": case.data["booking"]["seq"], "before": event.data["before"]}]
    return replace(case, data={**case.data, "reminders_sent": sent}), {}


def _check_in(case, event, policies, calendars, now):
    details: dict[str, Any] = {}
    booking = case.data.get("booking")
    if booking:
        late = now - datetime.fromisoformat(booking["slot"])
        details["late_by"] = format_duration(late) if late > timedelta(0) else None
    data = {**case.data, "checked_in_at": now.isoformat(), "walk_in": booking is None}
    clocks = _start(WAIT, case, policy_of(policies).wait_within, policies, now)
    return replace(case, data=data, clocks=clocks), details


def _start_service(case, event, policies, calendars, now):
    clocks = _start(COMPLETION, case, policy_of(policies).complete_within, policies, now)
    return replace(case, clocks=clocks, data={**case.data, "served_at": now.isoformat()}), {}


def _outcome(outcome: str, *, reason: bool = False) -> Hook:
    def hook(case, event, policies, calendars, now):
        data, details = {**case.data, "outcome": outcome}, {}
        if reason:
            data["reason"] = handoffs.reason_of(event.data)
        booking = case.data.get("booking")
        # The seat goes back to others, unless the customer sat in it: served in its slot.
        if booking and (outcome != "completed"
                        or now < datetime.fromisoformat(booking["slot"])):
            data["booking"] = None
            details["seat_freed"] = booking["slot"]
        return replace(case, data=data), details
    return hook


def _no_show(case, event, policies, calendars, now):
    """Free the seat; the offer goes now, or at the end of quiet hours (`offer_at`), and
    lasts `reschedule_offer_for` from then."""
    policy = policy_of(policies)
    offer_at = next_allowed(now, policy.quiet_hours)
    expires = offer_at + policy.reschedule_offer_for
    missed = [*case.data.get("missed", []), case.data["booking"]]
    data = {**case.data, "booking": None, "missed": missed,
            "offer_expires_at": expires.isoformat()}
    details = {"slot": case.data["booking"]["slot"], "offer_expires_at": expires.isoformat()}
    if offer_at > now:
        data["offer_at"] = details["offer_at"] = offer_at.isoformat()
    return replace(case, data=data), details


def _offer(case, event, policies, calendars, now):
    data = {**case.data}
    data.pop("offer_at", None)
    return replace(case, data=data), {}


def _postpone(case, event, policies, calendars, now):
    """Move a message's timer (`data.timer`) to `data.until`, the end of quiet hours."""
    key = f"{case.data['bookings']}:{event.data['timer']}"
    postponed = case.data.get("postponed", {})
    times = postponed.get(key, {}).get("times", 0) + 1
    data = {**case.data, "postponed": {**postponed, key: {"until": event.data["until"],
                                                          "times": times}}}
    if event.data["timer"] == "offer":
        data["offer_at"] = event.data["until"]
    return replace(case, data=data), {}


def _transfer(case, event, policies, calendars, now):
    """Hand the case to another team, channel or location (a booking moves with it)."""
    unknown = set(event.data) - {"team", "channel", "location", "slot", "reason"}
    if unknown:
        raise InvalidEvent("data", f"unknown field(s) {sorted(unknown)}; give reason and "
                                   "one or more of team, channel, location (slot)")
    reason = handoffs.reason_of(event.data)
    here = {"team": case.team, "channel": case.channel, "location": case.data["location"]}
    to = {k: event.data[k] for k in ("team", "channel", "location") if k in event.data}
    if not to or all(to[k] == here[k] for k in to):
        raise InvalidEvent("data", "name a team, channel or location other than the "
                                   f"current ones {here}")
    policy = policy_of(policies)
    if "channel" in to and to["channel"] not in policy.channels:
        raise InvalidEvent("data.channel", f"must be one of {policy.channels}")
    if "team" in to and to["team"] not in policies.teams:
        raise InvalidEvent("data.team", f"unknown team; known: {sorted(policies.teams)}")
    moved = case
    if "slot" in event.data and to.get("location", here["location"]) == here["location"]:
        raise InvalidEvent("data.slot", "moves with a new location only; `reschedule` "
                                        "changes the time here")
    if "location" in to and to["location"] != here["location"]:
        place = location_of(policies, to["location"], "data.location")
        if case.stage in ("checked_in", "in_service"):
            raise InvalidEvent("data.location", "the customer is being served here already")
        to.setdefault("team", place.team)
        moved = replace(case, data={**case.data, "location": to["location"]},
                        clocks=_onto_calendar(case, place.calendar, calendars, now))
        if case.data.get("booking") or "slot" in event.data:
            if "slot" not in event.data:
                raise InvalidEvent("data.slot", "the booked appointment moves too: give its "
                                                "start at the new location")
            moved, _ = _rebook(moved, check_slot_text(event.data["slot"], "data.slot"), now)
    return handoffs.record(moved, here=here, to=to, reason=reason, actor=event.actor, now=now)


def _onto_calendar(case: CaseSnapshot, calendar: str,
                   calendars: Mapping[str, BusinessCalendar], now: datetime
                   ) -> dict[str, clock_ops.Clock]:
    """The case's live clocks, continued on `calendar` (the new location's hours).

    The business time used so far stays used; what is left counts in the hours of the
    location that now has to act, as a supervisor there would expect (a request moved
    from a store open till 21:00 to a centre closing at 18:00 is not due at 20:00).
    Stopped clocks keep the calendar they were measured on.
    """
    moved = {}
    for name, clock in case.clocks.items():
        if clock.state is ClockState.stopped or clock.calendar == calendar:
            moved[name] = clock
        elif clock.state is ClockState.running:
            banked = clock_ops.pause(clock, calendars[clock.calendar], now)
            moved[name] = clock_ops.resume(replace(banked, calendar=calendar), now)
        else:
            moved[name] = replace(clock, calendar=calendar)
    return moved


def _transfer_escalation(case, event, policies, calendars, now):
    return handoffs.escalate(case, policy_of(policies).transfers, policies)


class SlotData(EventData):
    """accept (omit the slot to confirm the one held) and reschedule."""

    slot: str | None = Field(default=None, description="the appointment's start with its "
                                                       "offset, e.g. 2026-11-21T10:00:00+08:00")


class CancelData(EventData):
    reason: str | None = Field(default=None, description="why it is cancelled")


class TransferData(EventData):
    """transfer: the reason and one or more of team, channel, location (and slot)."""

    reason: str | None = Field(default=None, description="why it is handed on")
    team: str | None = None
    channel: str | None = None
    location: str | None = None
    slot: str | None = Field(default=None, description="with a location: the booked "
                                                       "appointment's start there")


TABLE = TransitionTable(
    stages=("requested", "scheduled", "checked_in", "in_service", "no_show", "completed",
            "cancelled"),
    final_stages=frozenset({"completed", "cancelled"}),
    transitions=(
        Transition("accept", frozenset({"requested"}), "scheduled",
                   clocks=((CONFIRMATION, ClockOp.stop),), hook=_accept),
        Transition("remind", frozenset({"scheduled"}), hook=_remind, system_only=True),
        Transition("check_in", frozenset({"requested", "scheduled"}), "checked_in",
                   clocks=((CONFIRMATION, ClockOp.stop),), hook=_check_in),
        Transition("start_service", frozenset({"checked_in"}), "in_service",
                   clocks=((WAIT, ClockOp.stop),), hook=_start_service),
        Transition("complete", frozenset({"in_service"}), "completed",
                   clocks=((COMPLETION, ClockOp.stop),), hook=_outcome("completed")),
        Transition("no_show", EXPECTED, "no_show", hook=_no_show,
                   clocks=((CONFIRMATION, ClockOp.stop),), system_only=True),
        Transition("offer", frozenset({"no_show"}), hook=_offer, system_only=True),
        Transition("postpone", frozenset({"scheduled", "no_show"}), hook=_postpone,
                   system_only=True),
        Transition("reschedule", frozenset({"scheduled", "no_show"}), "scheduled",
                   hook=_reschedule),
        Transition("offer_expired", frozenset({"no_show"}), "cancelled", clocks=STOP_ALL,
                   hook=_outcome("no_show"), system_only=True),
        Transition("cancel", frozenset({"requested", "scheduled", "no_show"}), "cancelled",
                   clocks=STOP_ALL, hook=_outcome("cancelled", reason=True)),
        Transition("transfer", OPEN_STAGES, hook=_transfer),
        Transition("transfer_escalation", OPEN_STAGES, hook=_transfer_escalation,
                   system_only=True),
        Transition("assign", OPEN_STAGES, hook=_assign, system_only=True),
        Transition("reassign", OPEN_STAGES, hook=reassign_hook, roles=SUPERVISORS),
        Transition("add_note", OPEN_STAGES, roles=ESCALATION_TARGETS),
        Transition("acknowledge_escalation", OPEN_STAGES, hook=acknowledge_escalation_hook,
                   roles=LADDER_STOPPERS),
    ),
    data={"accept": SlotData, "reschedule": SlotData, "cancel": CancelData,
          "transfer": TransferData, "reassign": ReassignData,
          "acknowledge_escalation": AcknowledgeEscalationData},
)


def _reminder_times(case: CaseSnapshot, policy: ServiceRequestPolicy
                    ) -> list[tuple[str, datetime, str]]:
    """(label, when, key suffix) of each reminder still to come, a postponed one at its
    new time."""
    planned = appointments.reminders_due(case.data["booking"], policy.reminders_before,
                                         policy.quiet_hours,
                                         case.data.get("reminders_sent", []))
    return [(label, *_postponed(case, f"remind:{label}", when)) for label, when in planned]


def _postponed(case: CaseSnapshot, timer: str, planned: datetime) -> tuple[datetime, str]:
    """When a message's timer fires, and its key's suffix: a postponed one is a new timer
    (a fired one is never scheduled again)."""
    moved = case.data.get("postponed", {}).get(f"{case.data['bookings']}:{timer}")
    if moved is None:
        return planned, ""
    return datetime.fromisoformat(moved["until"]), f":{moved['times']}"


def process_timers(case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]:
    """Reminders while scheduled, the no-show check while a booking is expected; the
    offer (after quiet hours) and its end after a no-show; the transfer escalation once
    a case was handed on too often."""
    policy, data, specs = policy_of(policies), case.data, []
    if case.stage in EXPECTED and data.get("booking"):
        seq, slot = data["booking"]["seq"], datetime.fromisoformat(data["booking"]["slot"])
        if case.stage == "scheduled":
            for label, when, suffix in _reminder_times(case, policy):
                specs.append(TimerSpec(f"{case.id}:remind:{seq}:{label}{suffix}", PROCESS,
                                       f"remind:{label}", None, when))
        specs.append(TimerSpec(f"{case.id}:no_show:{seq}", PROCESS, "no_show", None,
                               slot + policy.no_show_after))
    if case.stage == "no_show":
        if data.get("offer_at"):
            when, suffix = _postponed(case, "offer", datetime.fromisoformat(data["offer_at"]))
            specs.append(TimerSpec(f"{case.id}:offer:{data['bookings']}{suffix}", PROCESS,
                                   "offer", None, when))
        specs.append(TimerSpec(f"{case.id}:offer_expired:{data['bookings']}", PROCESS,
                               "offer_expired", None,
                               datetime.fromisoformat(data["offer_expires_at"])))
    if case.stage in OPEN_STAGES:
        specs += handoffs.escalation_timer(case, policy.transfers)
    return specs


def _customer_notice(case: CaseSnapshot, message: CustomerMessage, key: str,
                     policies: PolicySet, facts: Mapping[str, Any] | None
                     ) -> tuple[Notice, ...]:
    """A message about the booking (or the one missed) to the customer."""
    booking = case.data.get("booking") or (case.data.get("missed") or [{}])[-1]
    location = location_of(policies, booking.get("location", case.data["location"]))
    values = {"location": location.name, "service": case.data["service"],
              "time": datetime.fromisoformat(booking["slot"]) if booking.get("slot") else None}
    return appointments.customer_notice(
        customer_id=case.data.get("customer"), message=message, key=key, values=values,
        timezone=policies.calendars[location.calendar].timezone, policies=policies,
        facts=facts)


def on_timer(case: CaseSnapshot, name: str, policies: PolicySet,
             calendars: Mapping[str, BusinessCalendar], now: datetime,
             facts: Mapping[str, Any] | None = None) -> Decision | None:
    """Remind, mark a no-show, offer a new time, end an unanswered offer, escalate
    transfers; None if stale. A message whose timer fires in quiet hours is postponed.

    `facts`: the customer's `contacts` (of email, phone) and `preferred` one, read by
    the store adapter, for the messages that go to the customer.
    """
    policy, data = policy_of(policies), case.data
    quiet = policy.quiet_hours

    def decide(kind: str, details: Mapping[str, Any]) -> Decision:
        return TABLE.decide(case, Event(kind, SYSTEM_ACTOR, details, by_system=True),
                            policies, calendars, now)

    def postpone() -> Decision:
        return decide("postpone", {"timer": name,
                                   "until": next_allowed(now, quiet).isoformat()})

    if name.startswith("remind:") and case.stage == "scheduled" and data.get("booking"):
        label = name.removeprefix("remind:")
        if label not in {due[0] for due in _reminder_times(case, policy)}:
            return None
        if is_quiet(now, quiet):  # fired late, into the night
            if next_allowed(now, quiet) < datetime.fromisoformat(data["booking"]["slot"]):
                return postpone()
            return decide("remind", {"before": label, "reached": False,
                                     "reason": "quiet hours until the appointment"})
        key = f"sr:{case.id}:remind:{data['booking']['seq']}:{label}"
        notices = _customer_notice(case, policy.reminder, key, policies, facts)
        # On the timeline either way; `reached` says whether a message could go out.
        decision = decide("remind", {"before": label, "reached": bool(notices)})
        return replace(decision, notices=notices)
    if name == "no_show" and case.stage in EXPECTED and data.get("booking"):
        if now < datetime.fromisoformat(data["booking"]["slot"]) + policy.no_show_after:
            return None
        decision = decide("no_show", {})
        if decision.after.data.get("offer_at"):
            return decision  # the offer waits for the end of quiet hours: its own timer
        return replace(decision, notices=_offer_notice(decision.after, policies, facts))
    if name == "offer" and case.stage == "no_show" and data.get("offer_at"):
        if now < datetime.fromisoformat(data["offer_at"]):
            return None
        if is_quiet(now, quiet):
            return postpone()
        decision = decide("offer", {})
        return replace(decision, notices=_offer_notice(case, policies, facts))
    if name == "offer_expired" and case.stage == "no_show":
        if now < datetime.fromisoformat(data["offer_expires_at"]):
            return None
        return decide("offer_expired", {})
    if name == handoffs.ESCALATION_TIMER and handoffs.escalation_due(case, policy.transfers):
        decision = decide("transfer_escalation", {})
        def what(language: str) -> str:
            return policies.messages.text(
                language, "Service request {case} ({service} at {location})", case=case.id,
                service=data["service"], location=data["location"])

        return replace(decision, notices=handoffs.notices(decision.after, policy.transfers,
                                                          policies, what=what))
    return None


def _offer_notice(case: CaseSnapshot, policies: PolicySet,
                  facts: Mapping[str, Any] | None) -> tuple[Notice, ...]:
    """The offer to reschedule the booking missed last."""
    key = f"sr:{case.id}:reschedule_offer:{case.data['missed'][-1]['seq']}"
    return _customer_notice(case, policy_of(policies).reschedule_offer, key, policies, facts)
