"""The crisis's timed obligations and the checks of its compensation and review.

Obligations are clocks: `team` (assembled by), `first_notice` (for a severity with a
public notice) and the repeating status update, one clock per due update (`update_1`,
`update_2`...), all measured from confirmation on the crisis calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from domain import clocks as clock_ops
from domain.calendars import BusinessCalendar
from domain.clocks import Clock, ClockState
from domain.crisis.notices import text_field
from domain.crisis.policy import CrisisPolicy
from domain.pdca.rules import check_plan
from domain.policy import PolicySet
from domain.process import CaseSnapshot, InvalidEvent

TEAM, NOTICE, UPDATE_PREFIX = "team", "first_notice", "update_"
MAX_ACTIONS = 50


def start_obligations(clocks: Mapping[str, Clock], policy: CrisisPolicy, severity: str,
                      now: datetime) -> dict[str, Clock]:
    """The clocks a confirmed crisis of `severity` runs: team, first notice, first update."""
    targets = policy.targets(severity)
    started = dict(clocks)
    started[TEAM] = clock_ops.start_clock(name=TEAM, calendar=policy.calendar,
                                          target=targets.team_within, now=now)
    if targets.first_notice_within is not None:
        started[NOTICE] = clock_ops.start_clock(name=NOTICE, calendar=policy.calendar,
                                                target=targets.first_notice_within, now=now)
    started[f"{UPDATE_PREFIX}1"] = clock_ops.start_clock(
        name=f"{UPDATE_PREFIX}1", calendar=policy.calendar, target=targets.update_every,
        now=now)
    return started


def current_update(case: CaseSnapshot) -> tuple[str, Clock | None]:
    """The name and clock of the status update due now (None before confirmation)."""
    name = f"{UPDATE_PREFIX}{case.data.get('update_seq', 0)}"
    return name, case.clocks.get(name)


def promised_update(case: CaseSnapshot, calendars: Mapping[str, BusinessCalendar],
                    now: datetime) -> datetime | None:
    """The time a notice written now promises the next status update by (None: no update
    is owed): the update due, or, once that has passed, the one an update posted now
    would start; to the whole minute up, so a notice never shows an earlier minute."""
    _, clock = current_update(case)
    if clock is None or clock.state is ClockState.stopped:
        return None
    calendar = calendars[clock.calendar]
    due = clock.due_at(calendar)
    if due is None or due <= now:
        due = calendar.add(now, clock.target)
    whole = due.replace(second=0, microsecond=0)
    return whole if whole == due else whole + timedelta(minutes=1)


def retarget_obligations(clocks: Mapping[str, Clock], policy: CrisisPolicy, severity: str,
                         calendars: Mapping[str, BusinessCalendar], now: datetime, *,
                         since: datetime, noticed: bool = False) -> dict[str, Clock]:
    """The obligations under a new severity: running clocks take its targets; a first
    notice it asks for starts (from confirmation) unless a public one is out (`noticed`),
    one it drops stops."""
    targets = policy.targets(severity)
    changed = dict(clocks)
    running = {n: c for n, c in clocks.items() if c.state is not ClockState.stopped}
    if TEAM in running:
        changed[TEAM] = clock_ops.retarget(running[TEAM], targets.team_within)
    for name, clock in running.items():
        if name.startswith(UPDATE_PREFIX):
            changed[name] = clock_ops.retarget(clock, targets.update_every)
    notice = clocks.get(NOTICE)
    if targets.first_notice_within is None:
        if notice is not None and notice.state is not ClockState.stopped:
            changed[NOTICE] = clock_ops.stop(notice, calendars[notice.calendar], now)
    elif noticed:
        pass  # a public notice is out: the obligation is met whatever the severity
    elif notice is None or notice.state is ClockState.stopped:
        # Owed again (S4 -> S1, or S1 -> S4 -> S1 with nothing published): from confirmation.
        changed[NOTICE] = clock_ops.start_clock(name=NOTICE, calendar=policy.calendar,
                                                target=targets.first_notice_within, now=since)
    else:
        changed[NOTICE] = clock_ops.retarget(notice, targets.first_notice_within)
    return changed


def cut_short(clocks: Mapping[str, Clock], calendars: Mapping[str, BusinessCalendar],
              now: datetime) -> tuple[dict[str, Clock], list[str]]:
    """Every clock stopped (a resolved crisis owes no more team, notice or update), and
    the names of the obligations this waives: still owed and not yet due. Stopped in
    time they would read as met, though nothing met them; one past due is missed."""
    stopped = {name: clock_ops.stop(clock, calendars[clock.calendar], now)
               for name, clock in clocks.items()}
    waived = sorted(name for name, clock in clocks.items()
                    if clock.state is not ClockState.stopped
                    and stopped[name].met(calendars[clock.calendar]))
    return stopped, waived


def check_compensation(data: Mapping[str, Any], policy: CrisisPolicy) -> dict[str, Any]:
    """What each affected customer gets: a kind the policy allows and a value within it."""
    kinds = policy.compensation.kinds
    kind = data.get("kind")
    if kind not in kinds:
        raise InvalidEvent("data.kind", f"must be one of {kinds}")
    value = data.get("value")
    limit = policy.compensation.max_value
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 < value <= limit:
        raise InvalidEvent("data.value", f"a number above 0 and at most {limit:g}")
    note = data.get("description")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise InvalidEvent("data.description", "a text of at most 500 characters")
    return {"kind": kind, "value": value, "description": note}


def check_review(data: Mapping[str, Any], policies: PolicySet) -> dict[str, Any]:
    """The post-crisis review: what happened, the root cause, actions, maybe a PDCA plan."""
    unknown = set(data) - {"what_happened", "root_cause", "actions", "pdca"}
    if unknown:
        raise InvalidEvent("data", f"unknown field(s) {sorted(unknown)}; give what_happened, "
                                   "root_cause, actions and optionally pdca")
    what, cause = text_field(data, "what_happened"), text_field(data, "root_cause")
    actions = data.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS or not all(
            isinstance(a, str) and a.strip() and len(a) <= 300 for a in actions):
        raise InvalidEvent("data.actions", f"a list of 1 to {MAX_ACTIONS} actions, each a "
                                           "text of at most 300 characters")
    plan = data.get("pdca")
    if plan is not None:
        if not isinstance(plan, dict):
            raise InvalidEvent("data.pdca", "a PDCA plan: kpi, target, scope, pilot_period")
        try:
            plan = check_plan({"problem": cause, **plan}, policies)
        except InvalidEvent as exc:  # the plan's fields sit under data.pdca
            raise InvalidEvent(f"data.pdca.{exc.field}", exc.reason) from None
    return {"what_happened": what, "root_cause": cause,
            "actions": [a.strip() for a in actions], "pdca": plan}
