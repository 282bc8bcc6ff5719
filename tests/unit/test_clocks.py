"""SLA clocks: pause banks time, resume moves due times, stop records breaches, retarget."""

from __future__ import annotations

from datetime import timedelta

from domain.clocks import ClockState, pause, resume, retarget, start_clock, stop
from domain.complaint import rules as complaint
from domain.complaint.classification import Classification
from domain.policy import Tier
from tests.unit.builders import calendars, clock, hours, minutes, mixed_policies, sh

CALS = calendars()
ALWAYS = CALS["24x7"]
WORKING = CALS["cn-working-hours"]
T0 = sh(2026, 11, 20, 10, 0)


def test_a_started_clock_runs_from_now() -> None:
    c = start_clock(name="first_response", calendar="24x7", target=minutes(20), now=T0)
    assert c.state is ClockState.running
    assert (c.started_at, c.running_since, c.elapsed) == (T0, T0, timedelta(0))
    assert c.due_at(ALWAYS) == sh(2026, 11, 20, 10, 20)
    assert c.used(ALWAYS, sh(2026, 11, 20, 10, 5)) == minutes(5)
    assert c.remaining(ALWAYS, sh(2026, 11, 20, 10, 5)) == minutes(15)
    assert c.remaining(ALWAYS, sh(2026, 11, 20, 10, 30)) == -minutes(10)
    assert c.moment_at_fraction(ALWAYS, 0.75) == sh(2026, 11, 20, 10, 15)
    assert c.met(ALWAYS) is None


def test_pause_banks_the_used_time() -> None:
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 8))
    assert paused.state is ClockState.paused
    assert paused.elapsed == minutes(8)
    assert paused.running_since is None
    # Time no longer runs, and there is no due time while paused.
    assert paused.used(ALWAYS, sh(2026, 11, 22, 0, 0)) == minutes(8)
    assert paused.remaining(ALWAYS, sh(2026, 11, 22, 0, 0)) == minutes(12)
    assert paused.due_at(ALWAYS) is None
    assert paused.moment_at_fraction(ALWAYS, 0.75) is None
    assert paused.met(ALWAYS) is None


def test_pause_and_resume_are_no_ops_in_the_wrong_state() -> None:
    running = clock()
    assert resume(running, sh(2026, 11, 20, 10, 5)) is running
    paused = pause(running, ALWAYS, sh(2026, 11, 20, 10, 5))
    assert pause(paused, ALWAYS, sh(2026, 11, 20, 10, 9)) is paused


def test_resume_moves_due_at_later_by_the_paused_span_on_24x7() -> None:
    original_due = clock().due_at(ALWAYS)
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 8))
    resumed = resume(paused, sh(2026, 11, 20, 10, 30))
    assert resumed.state is ClockState.running
    assert resumed.running_since == sh(2026, 11, 20, 10, 30)
    assert resumed.elapsed == minutes(8)
    assert resumed.due_at(ALWAYS) == original_due + minutes(22)
    assert resumed.used(ALWAYS, sh(2026, 11, 20, 10, 32)) == minutes(10)


def test_a_pause_over_a_weekend_moves_due_at_by_exactly_that_span() -> None:
    c = clock("resolution", target=hours(24))
    paused = pause(c, ALWAYS, sh(2026, 11, 20, 12, 0))
    resumed = resume(paused, sh(2026, 11, 23, 12, 0))
    assert resumed.due_at(ALWAYS) == c.due_at(ALWAYS) + hours(72)


def test_working_hours_clock_pauses_and_resumes_in_business_time() -> None:
    c = clock(calendar="cn-working-hours", started=sh(2026, 11, 20, 17, 50))
    assert c.due_at(WORKING) == sh(2026, 11, 23, 9, 10)
    paused = pause(c, WORKING, sh(2026, 11, 20, 17, 55))
    assert paused.elapsed == minutes(5)
    resumed = resume(paused, sh(2026, 11, 23, 10, 0))
    assert resumed.due_at(WORKING) == sh(2026, 11, 23, 10, 15)
    assert resumed.used(WORKING, sh(2026, 11, 23, 10, 5)) == minutes(10)


def test_stop_in_time_is_met() -> None:
    stopped = stop(clock(), ALWAYS, sh(2026, 11, 20, 10, 15))
    assert stopped.state is ClockState.stopped
    assert stopped.stopped_at == sh(2026, 11, 20, 10, 15)
    assert stopped.elapsed == minutes(15)
    assert stopped.breached_at is None
    assert stopped.met(ALWAYS) is True
    assert stopped.due_at(ALWAYS) is None


def test_stop_exactly_at_the_target_is_met() -> None:
    stopped = stop(clock(), ALWAYS, sh(2026, 11, 20, 10, 20))
    assert stopped.breached_at is None
    assert stopped.met(ALWAYS) is True


def test_late_stop_records_the_breach_at_the_due_time() -> None:
    stopped = stop(clock(), ALWAYS, sh(2026, 11, 20, 10, 30))
    assert stopped.breached_at == sh(2026, 11, 20, 10, 20)
    assert stopped.met(ALWAYS) is False


def test_late_stop_on_working_hours_records_the_business_due_time() -> None:
    c = clock(calendar="cn-working-hours", started=sh(2026, 11, 20, 17, 50))
    stopped = stop(c, WORKING, sh(2026, 11, 23, 10, 0))
    assert stopped.elapsed == hours(1) + minutes(10)
    assert stopped.breached_at == sh(2026, 11, 23, 9, 10)
    assert stopped.met(WORKING) is False


def test_stop_keeps_an_earlier_breach_and_is_idempotent() -> None:
    escalated = clock(breached_at=sh(2026, 11, 20, 10, 20))
    stopped = stop(escalated, ALWAYS, sh(2026, 11, 20, 11, 0))
    assert stopped.breached_at == sh(2026, 11, 20, 10, 20)
    assert stop(stopped, ALWAYS, sh(2026, 11, 20, 12, 0)) is stopped


def test_resume_after_stop_continues_from_the_banked_time() -> None:
    stopped = stop(clock("resolution", target=hours(24)), ALWAYS, sh(2026, 11, 20, 14, 0))
    reopened = resume(stopped, sh(2026, 11, 21, 9, 0))
    assert reopened.state is ClockState.running
    assert reopened.stopped_at is None
    assert reopened.elapsed == hours(4)
    assert reopened.due_at(ALWAYS) == sh(2026, 11, 22, 5, 0)
    assert reopened.met(ALWAYS) is None


def test_retarget_moves_due_times() -> None:
    c = clock()
    tighter = retarget(c, minutes(10))
    assert tighter.due_at(ALWAYS) == sh(2026, 11, 20, 10, 10)
    assert tighter.moment_at_fraction(ALWAYS, 0.75) == sh(2026, 11, 20, 10, 7, 30)
    looser = retarget(c, hours(2))
    assert looser.due_at(ALWAYS) == sh(2026, 11, 20, 12, 0)


def test_retarget_of_a_paused_clock_changes_what_remains() -> None:
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 8))
    assert retarget(paused, minutes(10)).remaining(ALWAYS, sh(2026, 11, 21)) == minutes(2)


def test_a_fraction_already_passed_lies_before_the_resumption_by_the_overrun() -> None:
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 18))  # 90% used
    resumed = resume(paused, sh(2026, 11, 20, 11, 0))
    assert resumed.moment_at_fraction(ALWAYS, 0.75) == sh(2026, 11, 20, 10, 57)
    assert resumed.due_at(ALWAYS) == sh(2026, 11, 20, 11, 2)


def test_an_overdue_clock_resumed_is_still_overdue_by_what_remaining_says() -> None:
    # Paused 6 s after its due time: resumed, it is due 6 s before the resumption.
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 20, 6))
    resumed_at = sh(2026, 11, 20, 11, 0)
    resumed = resume(paused, resumed_at)
    assert resumed.due_at(ALWAYS) == sh(2026, 11, 20, 10, 59, 54)
    for later in (resumed_at, sh(2026, 11, 20, 11, 7)):
        assert resumed.due_at(ALWAYS) == later + resumed.remaining(ALWAYS, later)


def test_an_overdue_working_hours_clock_resumed_after_hours_was_due_before_closing() -> None:
    # 30 working minutes over, paused Friday 17:00, resumed Saturday: 30 working minutes
    # before the resumption is Friday 17:30, as if it had run on without the pause.
    started = start_clock(name="resolution", calendar=WORKING.name, target=hours(2),
                          now=sh(2026, 11, 20, 14, 30))
    paused = pause(started, WORKING, sh(2026, 11, 20, 17, 0))
    resumed = resume(paused, sh(2026, 11, 21, 10, 0))
    assert resumed.due_at(WORKING) == sh(2026, 11, 20, 17, 30)
    assert resumed.moment_at_fraction(WORKING, 0.5) == sh(2026, 11, 20, 16, 30)
    assert resumed.remaining(WORKING, sh(2026, 11, 23, 9, 0)) == -minutes(30)


def test_mixed_calendars_on_one_case() -> None:
    policies = mixed_policies()
    cals = calendars(policies)
    opened = complaint.open_case(
        case_id=1, tier=Tier.B, classification=Classification("ordinary", "test"),
        team="complaints", assignee="li.wei", channel="phone", category=None, actor="agent",
        policies=policies, now=sh(2026, 11, 20, 17, 50), calendars=cals,
    ).after
    first, resolution = opened.clocks["first_response"], opened.clocks["resolution"]
    assert (first.calendar, resolution.calendar) == ("24x7", "cn-working-hours")
    # 20 calendar minutes; 24 business hours = 10 min Friday + Mon 8 h + Tue 8 h + Wed 7 h 50.
    assert first.due_at(cals[first.calendar]) == sh(2026, 11, 20, 18, 10)
    assert resolution.due_at(cals[resolution.calendar]) == sh(2026, 11, 25, 17, 50)
    # Over the weekend the 24x7 clock runs on, the working-hours clock does not.
    monday = sh(2026, 11, 23, 9, 0)
    assert first.used(cals["24x7"], monday) == hours(63) + minutes(10)
    assert resolution.used(cals["cn-working-hours"], monday) == minutes(10)


def test_late_stop_of_a_paused_clock_records_when_the_target_was_reached() -> None:
    paused = pause(clock(), ALWAYS, sh(2026, 11, 20, 10, 30))  # 30 of 20 minutes used
    stopped = stop(paused, ALWAYS, sh(2026, 11, 20, 11, 0))
    assert stopped.met(ALWAYS) is False
    assert stopped.breached_at == sh(2026, 11, 20, 10, 20)
