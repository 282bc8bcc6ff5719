"""Service requests in time travel, on SQLite and PostgreSQL.

The clock starts on Friday 20 November 2026, 10:00 in Shanghai. The Xuhui store opens
10:00-21:00 every day (closed on public holidays), 30-minute slots, two seats each;
its team is `complaints`. Confirmation within PT2H of opening hours, reminders P1D and
PT2H before the appointment (never in quiet hours, 21:00-09:00), no-show 15 minutes
after the slot's start, wait from check-in to service PT15M. Customers' e-mail and SMS
reach the local receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import yaml

from core.runtime import Runtime
from domain.process import IllegalTransition, InvalidEvent
from tests.conftest import build_runtime, sweep
from tests.store.followup_helpers import followup_runtime, live_timers, load
from tests.store.helpers import send, timeline
from tests.store.service_request_helpers import book_online, seats
from tests.support import WebhookReceiver, shanghai

SAT_15 = shanghai(2026, 11, 21, 15, 0)


@pytest.fixture
def rt(database, clock, tmp_path, receiver) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    made = followup_runtime(database, clock, tmp_path / "policies", receiver)
    yield made
    made.engine.dispose()


def to_customer(receiver: WebhookReceiver) -> list[str]:
    return [r.body["title"] for r in receiver.all() if r.path.startswith(("/email/", "/sms/"))]


def kinds(rt: Runtime, case_id: int) -> list[str]:
    return [e.type for e in timeline(rt, case_id)]


def test_booked_online_reminded_checked_in_served_completed_and_followed_up(
        rt, clock, receiver):
    case_id = book_online(rt, slot=SAT_15)
    case = load(rt, case_id)
    assert (case.process, case.stage, case.team, case.channel) == (
        "service_request", "requested", "complaints", "web")
    assert case.assignee in rt.policies.teams["complaints"].members
    assert seats(rt, "xuhui-store", SAT_15) == 1

    clock.advance(timedelta(minutes=30))
    send(rt, case_id, "accept")
    accepted = load(rt, case_id)
    assert accepted.stage == "scheduled"
    timers = sorted((t.name, t.fire_at) for t in live_timers(rt, case_id))
    assert timers == [("no_show", shanghai(2026, 11, 21, 15, 15)),
                      ("remind:P1D", shanghai(2026, 11, 20, 15, 0)),
                      ("remind:PT2H", shanghai(2026, 11, 21, 13, 0))]

    clock.set(shanghai(2026, 11, 20, 14, 59))
    sweep(rt)
    assert to_customer(receiver) == []
    clock.set(shanghai(2026, 11, 20, 15, 0))
    sweep(rt)
    assert to_customer(receiver) == ["提醒：您在Xuhui flagship store的预约"]
    assert "2026-11-21 15:00" in receiver.all()[-1].body["message"]
    clock.set(shanghai(2026, 11, 21, 13, 0))
    sweep(rt)
    sweep(rt)  # nothing fires twice
    assert len(to_customer(receiver)) == 2
    assert kinds(rt, case_id).count("remind") == 2

    clock.set(shanghai(2026, 11, 21, 14, 55))
    send(rt, case_id, "check_in")
    clock.advance(timedelta(minutes=10))
    send(rt, case_id, "start_service")
    clock.set(shanghai(2026, 11, 21, 15, 40))
    sweep(rt)  # the no-show check was cancelled by the check-in
    send(rt, case_id, "complete")
    done = load(rt, case_id)
    assert (done.stage, done.data["outcome"]) == ("completed", "completed")
    assert "no_show" not in kinds(rt, case_id)
    follow = load(rt, done.data["followup"])
    assert (follow.process, follow.stage, follow.customer_id, follow.team) == (
        "followup", "scheduled", done.customer_id, "complaints")
    assert follow.data["source_process"] == "service_request"
    assert kinds(rt, case_id)[-1] == "followup_opened"


def test_clocks_run_on_the_store_hours_and_the_wait_breaches(rt, clock):
    # Opened at 20:30: half an hour of the store's day left, the rest from 10:00 Saturday.
    clock.set(shanghai(2026, 11, 20, 20, 30))
    case_id = book_online(rt, slot=SAT_15, channel="app")
    with_clock = {c.name: c for c in _clocks(rt, case_id)}
    assert with_clock["confirmation"].due_at == shanghai(2026, 11, 21, 11, 30)
    clock.set(shanghai(2026, 11, 21, 11, 31))
    sweep(rt)
    assert load(rt, case_id).escalation_level == 1  # confirmation overdue
    send(rt, case_id, "accept")
    clock.set(shanghai(2026, 11, 21, 15, 0))
    send(rt, case_id, "check_in")
    clock.advance(timedelta(minutes=16))
    sweep(rt)
    escalated = [e.details for e in timeline(rt, case_id) if e.type == "escalated"]
    assert [(d["clock"], d["step"]) for d in escalated] == [
        ("confirmation", "overdue"), ("wait", "overdue")]


def _clocks(rt: Runtime, case_id: int):  # type: ignore[no-untyped-def]
    from sqlmodel import Session, select

    from engine.models import SlaClock

    with Session(rt.engine) as session:
        return list(session.exec(select(SlaClock).where(SlaClock.case_id == case_id)))


def test_a_no_show_frees_the_seat_is_offered_a_new_time_and_comes_then(rt, clock, receiver):
    case_id = book_online(rt, slot=SAT_15)
    send(rt, case_id, "accept")
    clock.set(shanghai(2026, 11, 21, 15, 14, 59))
    sweep(rt)
    assert load(rt, case_id).stage == "scheduled"
    clock.set(shanghai(2026, 11, 21, 15, 15))
    sweep(rt)
    missed = load(rt, case_id)
    assert missed.stage == "no_show"
    assert seats(rt, "xuhui-store", SAT_15) == 0
    assert to_customer(receiver)[-1] == "您错过了在Xuhui flagship store的预约"
    with pytest.raises(IllegalTransition):
        send(rt, case_id, "check_in")

    clock.set(shanghai(2026, 11, 21, 16, 0))
    sunday = shanghai(2026, 11, 22, 11, 0)
    send(rt, case_id, "reschedule", slot=sunday.isoformat())
    again = load(rt, case_id)
    assert (again.stage, again.data["booking"]["seq"]) == ("scheduled", 2)
    assert seats(rt, "xuhui-store", sunday) == 1
    # P1D before is Saturday 11:00, before this booking: only the PT2H reminder, which
    # would be 09:00 Sunday, the end of quiet hours.
    assert sorted((t.name, t.fire_at) for t in live_timers(rt, case_id)) == [
        ("no_show", shanghai(2026, 11, 22, 11, 15)),
        ("remind:PT2H", shanghai(2026, 11, 22, 9, 0))]
    clock.set(shanghai(2026, 11, 22, 10, 58))
    sweep(rt)
    send(rt, case_id, "check_in")
    send(rt, case_id, "start_service")
    send(rt, case_id, "complete")
    assert load(rt, case_id).stage == "completed"
    assert kinds(rt, case_id).count("no_show") == 1


def test_an_unanswered_offer_cancels_the_request_without_a_follow_up(rt, clock):
    case_id = book_online(rt, slot=SAT_15)
    send(rt, case_id, "accept")
    clock.set(shanghai(2026, 11, 21, 15, 15))
    sweep(rt)
    clock.set(shanghai(2026, 11, 24, 15, 15))
    sweep(rt)
    closed = load(rt, case_id)
    assert (closed.stage, closed.data["outcome"]) == ("cancelled", "no_show")
    assert "followup" not in closed.data


def test_a_case_bounced_between_teams_escalates_to_a_supervisor(rt, clock, receiver):
    case_id = book_online(rt, slot=None, channel="phone")
    hops = [("billing", "billing question"), ("complaints", "not billing after all"),
            ("billing", "refund needed")]
    for team, reason in hops:
        clock.advance(timedelta(minutes=7))
        send(rt, case_id, "transfer", team=team, reason=reason)
        moved = load(rt, case_id)
        assert moved.team == team and moved.assignee in rt.policies.teams[team].members
    transfers = [e.details for e in timeline(rt, case_id) if e.type == "transfer"]
    assert [(t["from"]["team"], t["to"]["team"], t["held_for"]) for t in transfers] == [
        ("complaints", "billing", "PT7M"), ("billing", "complaints", "PT7M"),
        ("complaints", "billing", "PT7M")]
    assert load(rt, case_id).escalation_level == 0
    sweep(rt)
    escalated = load(rt, case_id)
    assert (escalated.escalation_level, escalated.assignee) == (1, "wang.fang")
    entry = [e for e in timeline(rt, case_id) if e.type == "transfer_escalation"]
    assert len(entry) == 1 and entry[0].details["transfers"] == 3
    told = receiver.for_person("wang.fang")
    assert any("transferred 3 times" in r.body["title"] for r in told)
    sweep(rt)  # once per transfer beyond the limit, not per sweep
    assert kinds(rt, case_id).count("transfer_escalation") == 1


def test_a_transfer_needs_a_reason_and_somewhere_new(rt):
    case_id = book_online(rt, slot=None)
    with pytest.raises(InvalidEvent, match="text of 1 to"):
        send(rt, case_id, "transfer", team="billing")
    with pytest.raises(InvalidEvent, match="other than the current"):
        send(rt, case_id, "transfer", team="complaints", reason="stay")
    with pytest.raises(InvalidEvent, match="unknown team"):
        send(rt, case_id, "transfer", team="nobody", reason="x")


def test_a_location_transfer_moves_the_booked_seat(rt, clock):
    case_id = book_online(rt, slot=SAT_15)
    monday = shanghai(2026, 11, 23, 10, 0)
    with pytest.raises(InvalidEvent, match="data.slot"):
        send(rt, case_id, "transfer", location="pudong-centre", reason="nearer home")
    send(rt, case_id, "transfer", location="pudong-centre", slot=monday.isoformat(),
         reason="nearer home")
    moved = load(rt, case_id)
    assert (moved.team, moved.data["location"]) == ("billing", "pudong-centre")
    assert seats(rt, "xuhui-store", SAT_15) == 0
    assert seats(rt, "pudong-centre", monday) == 1


def test_a_request_moved_to_another_location_runs_on_its_hours(rt, clock):
    # Friday 17:00 at the store (open till 21:00): confirmation due at 19:00. At 17:30 it
    # goes to the service centre (closes 18:00, opens Saturday 09:00): due Saturday 10:00.
    clock.set(shanghai(2026, 11, 20, 17, 0))
    case_id = book_online(rt, slot=None)
    clock.set(shanghai(2026, 11, 20, 17, 30))
    send(rt, case_id, "transfer", location="pudong-centre", reason="nearer home")
    confirmation = next(c for c in _clocks(rt, case_id) if c.name == "confirmation")
    assert (confirmation.calendar, confirmation.due_at) == (
        "service-centre-hours", shanghai(2026, 11, 21, 10, 0))
    clock.set(shanghai(2026, 11, 20, 19, 1))
    sweep(rt)
    assert load(rt, case_id).escalation_level == 0  # the store's deadline is not theirs
    clock.set(shanghai(2026, 11, 21, 10, 1))
    sweep(rt)
    moved = load(rt, case_id)
    assert (moved.team, moved.escalation_level) == ("billing", 1)


def test_a_booking_never_accepted_is_still_a_no_show(rt, clock, receiver):
    case_id = book_online(rt, slot=SAT_15)
    clock.set(shanghai(2026, 11, 21, 15, 14, 59))
    sweep(rt)
    assert load(rt, case_id).stage == "requested"
    clock.set(shanghai(2026, 11, 21, 15, 51))
    sweep(rt)
    missed = load(rt, case_id)
    assert missed.stage == "no_show"
    assert seats(rt, "xuhui-store", SAT_15) == 0
    assert to_customer(receiver)[-1] == "您错过了在Xuhui flagship store的预约"
    assert {c.name: c.state for c in _clocks(rt, case_id)} == {"confirmation": "stopped"}
    sunday = shanghai(2026, 11, 22, 11, 0)
    send(rt, case_id, "reschedule", slot=sunday.isoformat())
    assert (load(rt, case_id).stage, seats(rt, "xuhui-store", sunday)) == ("scheduled", 1)


def test_a_customer_served_before_the_slot_gives_its_seat_back(rt, clock):
    evening = shanghai(2026, 11, 21, 18, 0)
    early = book_online(rt, slot=evening, ref="early")
    on_time = book_online(rt, slot=SAT_15, ref="on-time")
    for case_id in (early, on_time):
        send(rt, case_id, "accept")
    clock.set(SAT_15)
    for case_id in (early, on_time):
        send(rt, case_id, "check_in")
        send(rt, case_id, "start_service")
        send(rt, case_id, "complete")
    assert seats(rt, "xuhui-store", evening) == 0
    assert load(rt, early).data["outcome"] == "completed"
    assert seats(rt, "xuhui-store", SAT_15) == 1  # served in its slot: the seat was used
    completed = [e.details for e in timeline(rt, early) if e.type == "complete"]
    assert completed[0]["seat_freed"] == evening.isoformat()


@pytest.fixture
def late_rt(database, clock, tmp_path, receiver) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    """The Xuhui store open until 23:00: slots run into quiet hours (21:00-09:00)."""
    directory = tmp_path / "policies"
    followup_runtime(database, clock, directory, receiver).engine.dispose()
    path = directory / "calendars.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["calendars"]["store-hours"]["hours"] = [["10:00", "23:00"]]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    made = build_runtime(database, directory, clock)
    yield made
    made.engine.dispose()


def test_the_we_missed_you_offer_waits_for_the_end_of_quiet_hours(late_rt, clock, receiver):
    rt, late = late_rt, shanghai(2026, 11, 21, 22, 0)
    case_id = book_online(rt, slot=late)
    send(rt, case_id, "accept")
    clock.set(shanghai(2026, 11, 21, 22, 16))
    sweep(rt)
    missed = load(rt, case_id)
    assert missed.stage == "no_show" and seats(rt, "xuhui-store", late) == 0
    assert "您错过了在Xuhui flagship store的预约" not in to_customer(receiver)
    morning = shanghai(2026, 11, 22, 9, 0)
    assert datetime.fromisoformat(missed.data["offer_expires_at"]) == morning + timedelta(days=3)
    clock.set(morning - timedelta(seconds=1))
    sweep(rt)
    assert "您错过了在Xuhui flagship store的预约" not in to_customer(receiver)
    clock.set(morning)
    sweep(rt)
    sweep(rt)
    assert to_customer(receiver).count("您错过了在Xuhui flagship store的预约") == 1
    assert kinds(rt, case_id)[-1] == "offer"


def test_a_reminder_fired_late_into_quiet_hours_waits_for_the_morning(
        late_rt, clock, receiver):
    rt, sunday = late_rt, shanghai(2026, 11, 22, 15, 0)
    case_id = book_online(rt, slot=sunday)
    send(rt, case_id, "accept")
    # The P1D reminder was due Saturday 15:00; the sweeper ran again only at 21:30.
    clock.set(shanghai(2026, 11, 21, 21, 30))
    sweep(rt)
    assert to_customer(receiver) == []
    clock.set(shanghai(2026, 11, 22, 9, 0))
    sweep(rt)
    assert to_customer(receiver) == ["提醒：您在Xuhui flagship store的预约"]
    # PT2H before, at 13:00, was never in quiet hours.
    clock.set(shanghai(2026, 11, 22, 13, 0))
    sweep(rt)
    assert len(to_customer(receiver)) == 2
    # Late again, and the end of quiet hours is after the appointment: not sent at all.
    evening = book_online(rt, slot=shanghai(2026, 11, 22, 22, 0), ref="late")
    send(rt, evening, "accept")
    clock.set(shanghai(2026, 11, 22, 21, 40))
    sweep(rt)
    assert len(to_customer(receiver)) == 2
    skipped = [e.details for e in timeline(rt, evening) if e.type == "remind"]
    assert [(d["before"], d["reached"]) for d in skipped] == [("PT2H", False)]
