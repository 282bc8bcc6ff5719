"""Time-travel tests of the escalation ladder on SQLite and PostgreSQL."""

from datetime import timedelta

from engine.escalations import fire_timers
from tests.conftest import sweep
from tests.store.helpers import claim, escalations, load, open_complaint, send

FR = "first_response"


def test_silent_complaint_climbs_the_whole_ladder_once_each(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver)
    case_id = open_complaint(rt)  # ordinary: first response PT20M
    assert sweep(rt).timers == {}
    for minutes, expected in [(14, []), (1, [(FR, "warning")]), (5, [(FR, "breach")]),
                              (10, [(FR, "manager")]), (10, [(FR, "director")])]:
        clock.advance(timedelta(minutes=minutes))
        before = len(escalations(rt, case_id))
        sweep(rt)
        assert escalations(rt, case_id)[before:] == expected
    assert load(rt, case_id).escalation_level == 3
    # Nothing fires twice, however often the sweeper runs afterwards.
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        sweep(rt)
    assert escalations(rt, case_id) == [(FR, s) for s in
                                        ("warning", "breach", "manager", "director")]
    # The assignee got the warning and the breach; the director only the last step.
    assignee = load(rt, case_id).assignee
    assert assignee is not None
    assert len(receiver.for_person(assignee)) == 2
    assert len(receiver.for_person("zhao.lei")) == 1
    assert len(receiver.for_person("liu.yang")) == 2


def test_acknowledging_in_time_stops_every_first_response_step(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver)
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=10))
    send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=2))
    sweep(rt)
    assert [e for e in escalations(rt, case_id) if e[0] == FR] == []
    assert receiver.all() == []


def test_waiting_on_customer_pauses_resolution_and_moves_its_due_time(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt, priority="urgent")  # resolution PT4H
    send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=1))
    send(rt, case_id, "wait_on_customer")
    clock.advance(timedelta(hours=10))  # paused: no rung may fire
    sweep(rt)
    assert [e for e in escalations(rt, case_id) if e[0] == "resolution"] == []
    send(rt, case_id, "customer_replied")
    clock.advance(timedelta(hours=2))  # 3h used of 4h: 75% passed
    sweep(rt)
    assert escalations(rt, case_id)[-1] == ("resolution", "warning")
    clock.advance(timedelta(hours=1))
    sweep(rt)
    assert escalations(rt, case_id)[-1] == ("resolution", "breach")


def test_resolved_complaint_auto_closes_after_silence(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt)
    send(rt, case_id, "acknowledge")
    send(rt, case_id, "resolve")
    clock.advance(timedelta(days=3) - timedelta(seconds=1))
    sweep(rt)
    assert load(rt, case_id).stage == "resolved"
    clock.advance(timedelta(seconds=1))
    sweep(rt)
    case = load(rt, case_id)
    assert case.stage == "closed" and case.closed_at is not None


def test_rejection_reopens_and_the_resolution_clock_resumes(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt, priority="urgent")  # resolution PT4H
    send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=2))
    send(rt, case_id, "resolve")
    clock.advance(timedelta(days=1))
    send(rt, case_id, "reject")
    assert load(rt, case_id).stage == "in_progress"
    clock.advance(timedelta(hours=1))  # 3h of 4h used: the warning is due
    sweep(rt)
    assert escalations(rt, case_id)[-1] == ("resolution", "warning")
    # The auto-close timer of the first resolution was cancelled by the rejection.
    clock.advance(timedelta(days=5))
    sweep(rt)
    assert load(rt, case_id).stage == "in_progress"


def test_acknowledging_the_escalation_ends_that_clock_s_ladder(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver)
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=21))
    sweep(rt)
    assert escalations(rt, case_id) == [(FR, "warning"), (FR, "breach")]
    send(rt, case_id, "acknowledge_escalation", actor="supervisor:wang.fang",
         clock="first_response")
    clock.advance(timedelta(hours=1))
    sweep(rt)
    assert escalations(rt, case_id) == [(FR, "warning"), (FR, "breach")]
    assert load(rt, case_id).escalation_level == 1


def test_a_pause_while_the_breach_is_claimed_leaves_it_to_fire_on_resuming(make_runtime,
                                                                            clock):
    rt = make_runtime()
    case_id = open_complaint(rt, priority="urgent")  # resolution PT4H
    send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=3))
    sweep(rt)  # the warning
    clock.advance(timedelta(hours=1, seconds=1))
    claimed = [row.id for row in claim(rt)]  # the breach, in a flow run that takes its time
    send(rt, case_id, "wait_on_customer")
    assert fire_timers(rt, claimed) == {"obsolete": 1}
    clock.advance(timedelta(seconds=3))
    send(rt, case_id, "customer_replied")
    sweep(rt)
    assert escalations(rt, case_id) == [("resolution", "warning"), ("resolution", "breach")]
    clock.advance(timedelta(hours=4))
    sweep(rt)
    assert escalations(rt, case_id)[2:] == [("resolution", "manager"),
                                            ("resolution", "director")]


def test_a_rung_claimed_before_its_deadline_moved_waits_for_the_new_one(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt, priority="urgent")  # resolution PT4H
    send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=3, seconds=1))
    claimed = [row.id for row in claim(rt)]  # the warning
    send(rt, case_id, "change_priority", actor="supervisor:wang.fang", priority="routine")
    assert fire_timers(rt, claimed) == {"obsolete": 1}
    assert escalations(rt, case_id) == []
    clock.advance(timedelta(hours=51))  # 54h of 72h: the routine warning
    sweep(rt)
    assert escalations(rt, case_id) == [("resolution", "warning")]
