"""Escalation rungs (step_due) and the escalation timers a case should have."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.clocks import ClockState, pause, stop
from domain.complaint.rules import TABLE
from domain.escalation import step_due
from domain.policy import EscalationStep, Role
from domain.process import SYSTEM_ACTOR, CaseSnapshot, Decision, Event
from domain.timers import ESCALATION, escalation_key, plan_escalation_timers
from tests.unit.builders import LADDER, POLICIES, calendars, case, clock, hours, minutes, sh

CALS = calendars()
ALWAYS = CALS["24x7"]
FR, RES = "first_response", "resolution"
OPENED = sh(2026, 11, 20, 10, 0)
FR_DUE = sh(2026, 11, 20, 10, 20)
LATE = sh(2026, 11, 20, 10, 45)  # after every rung of a 20-minute clock


def with_steps(fired: int, **changes: object) -> CaseSnapshot:
    """A case whose first-response clock has fired `fired` rungs."""
    c = case(opened_at=OPENED, **changes)
    return replace(c, clocks={**c.clocks, FR: replace(c.clocks[FR], steps_fired=fired)})


def fire(c: CaseSnapshot, index: int, *, ladder: list[EscalationStep] = LADDER,
         clock_name: str = FR, now: datetime = LATE) -> Decision | None:
    return step_due(c, clock_name=clock_name, step_index=index, ladder=ladder, policies=POLICIES,
                    calendars=CALS, timer_key=escalation_key(c.id, clock_name, index), now=now)


def test_the_shipped_ladder() -> None:
    assert [(s.name, s.at_percent, s.level) for s in LADDER] == [
        ("warning", 75, 0), ("breach", 100, 1), ("manager", 150, 2), ("director", 200, 3)]


@pytest.mark.parametrize(("index", "level", "kind", "recipients"), [
    (0, 0, "sla_warning", {"li.wei": "assignee"}),
    (1, 1, "escalated", {"li.wei": "assignee", "wang.fang": "supervisor"}),
    (2, 2, "escalated", {"wang.fang": "supervisor", "liu.yang": "manager"}),
    (3, 3, "escalated", {"liu.yang": "manager", "zhao.lei": "director"}),
])
def test_each_rung_of_the_shipped_ladder(
    index: int, level: int, kind: str, recipients: dict[str, str]
) -> None:
    before = with_steps(index)
    decision = fire(before, index)
    assert decision is not None
    after = decision.after
    assert after.escalation_level == level
    assert after.assignee == "li.wei"
    fired = after.clocks[FR]
    assert fired.steps_fired == index + 1
    # Breach is the moment the target was reached, not when the timer happened to fire.
    assert fired.breached_at == (None if index == 0 else FR_DUE)
    assert after.clocks[RES] == before.clocks[RES]
    (entry,) = decision.timeline
    assert (entry.type, entry.actor) == (kind, SYSTEM_ACTOR)
    assert entry.details == {
        "clock": FR, "step": LADDER[index].name, "at_percent": LADDER[index].at_percent,
        "level": level, "due_at": FR_DUE.astimezone(UTC).isoformat(),
        "notified": sorted(recipients),
    }
    key = f"7:{FR}:{index}"
    assert [(n.recipient, n.role, n.key) for n in decision.notices] == [
        (person, role, f"{key}:{person}") for person, role in sorted(recipients.items())]
    for notice in decision.notices:
        assert "#7" in notice.subject and f"{LADDER[index].at_percent}%" in notice.subject
        assert f"escalation level {level}" in notice.body and f"升级级别 {level}" in notice.body


def test_breach_keeps_an_earlier_breached_at() -> None:
    c = with_steps(1)
    c = replace(c, clocks={**c.clocks, FR: replace(c.clocks[FR],
                                                   breached_at=sh(2026, 11, 20, 10, 19))})
    decision = fire(c, 1)
    assert decision is not None
    assert decision.after.clocks[FR].breached_at == sh(2026, 11, 20, 10, 19)


@pytest.mark.parametrize(("fired", "index"), [(0, 1), (2, 1), (1, 0), (4, 4), (0, 9)])
def test_a_stale_rung_returns_none(fired: int, index: int) -> None:
    assert fire(with_steps(fired), index) is None


def test_firing_the_same_rung_twice_does_nothing_the_second_time() -> None:
    first = fire(with_steps(0), 0)
    assert first is not None
    assert fire(first.after, 0) is None


def test_a_paused_or_stopped_or_missing_clock_returns_none() -> None:
    c = case(opened_at=OPENED)
    paused = case(opened_at=OPENED, clocks={
        **c.clocks, RES: pause(c.clocks[RES], ALWAYS, sh(2026, 11, 20, 11))})
    assert fire(paused, 0, clock_name=RES) is None
    stopped = case(opened_at=OPENED, clocks={
        **c.clocks, FR: stop(c.clocks[FR], ALWAYS, sh(2026, 11, 20, 10, 5))})
    assert fire(stopped, 0) is None
    assert fire(case(opened_at=OPENED, clocks={}), 0) is None


def test_an_acknowledgement_stops_further_rungs_of_that_clock() -> None:
    c = case(stage="assigned", opened_at=OPENED)
    acked = TABLE.decide(c, Event("acknowledge", "li.wei"), POLICIES, CALS,
                         sh(2026, 11, 20, 10, 16)).after
    assert fire(acked, 0) is None
    # 19 hours of 24: the resolution clock's warning.
    assert fire(acked, 0, clock_name=RES, now=sh(2026, 11, 21, 5)) is not None


def test_a_rung_the_clock_has_not_reached_as_it_now_stands_is_not_fired() -> None:
    # Its timer came due, then the target grew (the priority changed) before it fired.
    c = with_steps(1)
    longer = replace(c, clocks={**c.clocks, FR: replace(c.clocks[FR], target=hours(2))})
    assert fire(longer, 1, now=FR_DUE) is None
    assert fire(c, 1, now=FR_DUE) is not None


def test_notices_go_once_to_each_person() -> None:
    # The supervisor holds the case herself: the breach rung names her twice.
    decision = fire(with_steps(1, assignee="wang.fang"), 1)
    assert decision is not None
    assert [(n.recipient, n.role) for n in decision.notices] == [("wang.fang", "assignee")]
    assert decision.timeline[0].details["notified"] == ["wang.fang"]


def test_a_role_nobody_holds_is_skipped() -> None:
    decision = fire(with_steps(0, assignee=None), 0)
    assert decision is not None
    assert decision.notices == ()
    assert decision.timeline[0].details["notified"] == []
    other_team = fire(with_steps(1, team="no-such-team"), 1)
    assert other_team is not None
    assert [n.recipient for n in other_team.notices] == ["li.wei"]


def test_reassign_to_moves_the_assignee() -> None:
    ladder = [*LADDER[:1], EscalationStep(name="breach", at_percent=100, level=1,
                                          notify=[Role.supervisor], reassign_to=Role.supervisor)]
    decision = fire(with_steps(1), 1, ladder=ladder)
    assert decision is not None
    assert decision.after.assignee == "wang.fang"
    details = decision.timeline[0].details
    assert (details["reassigned_from"], details["reassigned_to"]) == ("li.wei", "wang.fang")
    assert "assignee wang.fang" in decision.notices[0].body


def test_reassign_to_nobody_keeps_the_assignee() -> None:
    ladder = [EscalationStep(name="w", at_percent=75, level=0, notify=[Role.assignee],
                             reassign_to=Role.manager)]
    decision = fire(with_steps(0, team="no-such-team"), 0, ladder=ladder)
    assert decision is not None
    assert decision.after.assignee == "li.wei"
    assert "reassigned_to" not in decision.timeline[0].details


def test_escalation_level_is_the_highest_reached() -> None:
    decision = fire(with_steps(0, escalation_level=2), 0)
    assert decision is not None
    assert decision.after.escalation_level == 2


# --- timers -------------------------------------------------------------------------------

def test_a_new_case_has_one_timer_per_clock_for_the_first_rung() -> None:
    specs = {s.name: s for s in plan_escalation_timers(case(opened_at=OPENED), LADDER, CALS)}
    assert set(specs) == {FR, RES}
    assert (specs[FR].key, specs[FR].kind, specs[FR].step) == (f"7:{FR}:0", ESCALATION, 0)
    assert specs[FR].fire_at == sh(2026, 11, 20, 10, 15)
    assert specs[RES].fire_at == OPENED + hours(18)


@pytest.mark.parametrize(("fired", "at"), [
    (1, sh(2026, 11, 20, 10, 20)), (2, sh(2026, 11, 20, 10, 30)), (3, sh(2026, 11, 20, 10, 40))])
def test_the_next_timer_follows_the_rungs_fired(fired: int, at: datetime) -> None:
    specs = [s for s in plan_escalation_timers(with_steps(fired), LADDER, CALS) if s.name == FR]
    assert [(s.key, s.step, s.fire_at) for s in specs] == [(f"7:{FR}:{fired}", fired, at)]


def test_timers_pause_with_their_clock_and_vanish_when_it_stops_or_the_ladder_ends() -> None:
    c = case(opened_at=OPENED)
    paused = case(opened_at=OPENED, clocks={
        FR: stop(c.clocks[FR], ALWAYS, sh(2026, 11, 20, 10, 5)),
        RES: pause(c.clocks[RES], ALWAYS, sh(2026, 11, 20, 11)),
    })
    assert [(s.name, s.fire_at) for s in plan_escalation_timers(paused, LADDER, CALS)] == [
        (RES, None)]
    assert [s.name for s in plan_escalation_timers(with_steps(4), LADDER, CALS)] == [RES]


def test_timers_on_working_hours_use_business_time() -> None:
    c = case(opened_at=sh(2026, 11, 20, 17, 50), clocks={RES: clock(
        RES, calendar="cn-working-hours", target=hours(24), started=sh(2026, 11, 20, 17, 50))})
    (spec,) = plan_escalation_timers(c, LADDER, CALS)
    # 75% of 24 business hours: 10 min Friday, 8 h Monday, 8 h Tuesday, 1 h 50 Wednesday.
    assert spec.fire_at == sh(2026, 11, 25, 10, 50)
    assert c.clocks[RES].state is ClockState.running


def test_a_warning_then_the_breach_on_time() -> None:
    c = with_steps(0)
    for index, expected_at in [(0, minutes(15)), (1, minutes(20))]:
        (spec,) = [s for s in plan_escalation_timers(c, LADDER, CALS) if s.name == FR]
        assert spec.fire_at == OPENED + expected_at
        decision = fire(c, index, now=spec.fire_at)
        assert decision is not None
        c = decision.after
    assert c.clocks[FR].breached_at == FR_DUE
    assert c.escalation_level == 1
