"""Service requests, pure: slots, the transition table, timers and the policy's checks."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest
import yaml

from core.policy_loader import PolicyError, load_policies
from domain.access import AccessRole, ActorKind, NotPermitted
from domain.policy import Tier
from domain.process import Event, IllegalTransition, InvalidEvent
from domain.service_request import rules as sr
from domain.service_request.locations import day_slots, is_slot, nearest_free, refuse
from tests.unit.builders import POLICIES, SHIPPED_POLICIES, calendars, sh

POLICY = sr.policy_of(POLICIES)
STORE = POLICY.locations["xuhui-store"]
CALS = calendars()
STORE_HOURS = CALS["store-hours"]
NOW = sh(2026, 11, 20, 10, 0)


SAT_15 = sh(2026, 11, 21, 15, 0)


def opened(slot=SAT_15, case_id: int = 5):  # type: ignore[no-untyped-def]
    return sr.open_request(case_id=case_id, customer_id=9, tier=Tier.B, location="xuhui-store",
                           channel="web", service="repair", slot=slot, team="complaints",
                           assignee="li.wei", actor="portal", actor_kind=ActorKind.integration,
                           policies=POLICIES, calendars=CALS, now=NOW).after


def act(case, kind: str, at=NOW, **data):  # type: ignore[no-untyped-def]
    return sr.TABLE.decide(case, Event(kind, "li.wei", data), POLICIES, CALS, at).after


# --- slots ---------------------------------------------------------------------------------

def test_a_store_day_has_22_half_hour_slots_and_a_holiday_none() -> None:
    saturday = day_slots(STORE, STORE_HOURS, date(2026, 11, 21))
    assert (len(saturday), saturday[0], saturday[-1]) == (
        22, sh(2026, 11, 21, 10, 0).astimezone(UTC), sh(2026, 11, 21, 20, 30).astimezone(UTC))
    assert day_slots(STORE, STORE_HOURS, date(2027, 1, 1)) == []  # New Year's Day
    assert is_slot(STORE, STORE_HOURS, sh(2026, 11, 21, 20, 30))
    assert not is_slot(STORE, STORE_HOURS, sh(2026, 11, 21, 20, 45))
    assert not is_slot(STORE, STORE_HOURS, sh(2026, 11, 21, 9, 30))


def test_nearest_free_skips_full_slots_and_never_offers_the_past() -> None:
    full = {sh(2026, 11, 20, 10, 30).astimezone(UTC): 2,
            sh(2026, 11, 20, 11, 0).astimezone(UTC): 2}
    found = nearest_free(STORE, STORE_HOURS, sh(2026, 11, 20, 10, 30), full,
                         now=sh(2026, 11, 20, 10, 5), horizon=timedelta(days=30), count=3)
    assert found == [sh(2026, 11, 20, h, m).astimezone(UTC)
                     for h, m in ((11, 30), (12, 0), (12, 30))]


def test_a_refusal_says_whether_the_slot_is_taken_or_invalid() -> None:
    slot = sh(2026, 11, 21, 15, 0)
    full = refuse("xuhui-store", STORE, STORE_HOURS, slot, {slot.astimezone(UTC): 2},
                  field_name="slot", now=NOW, horizon=timedelta(days=30), count=2)
    closed = refuse("xuhui-store", STORE, STORE_HOURS, sh(2026, 11, 21, 6, 0), {},
                    field_name="slot", now=NOW, horizon=timedelta(days=30), count=2)
    assert full is not None and full.taken and closed is not None and not closed.taken
    assert closed.alternatives["nearest_free_slots"] == ["2026-11-21T10:00:00+08:00",
                                                         "2026-11-21T10:30:00+08:00"]
    assert refuse("xuhui-store", STORE, STORE_HOURS, slot, {}, field_name="slot", now=NOW,
                  horizon=timedelta(days=30), count=2) is None


# --- the table -----------------------------------------------------------------------------

def test_opening_holds_the_slot_and_starts_the_confirmation_clock_on_store_hours() -> None:
    case = opened()
    assert (case.stage, case.assignee, case.data["booking"]["seq"]) == ("requested", "li.wei", 1)
    clock = case.clocks["confirmation"]
    assert (clock.calendar, clock.target) == ("store-hours", timedelta(hours=2))


def test_the_journey_stops_and_starts_the_clocks_in_turn() -> None:
    case = act(opened(), "accept")
    assert case.clocks["confirmation"].state == "stopped"
    case = act(case, "check_in", sh(2026, 11, 21, 15, 5))
    assert case.clocks["wait"].state == "running"
    case = act(case, "start_service", sh(2026, 11, 21, 15, 10))
    assert case.clocks["wait"].state == "stopped" and case.clocks["wait"].met(STORE_HOURS)
    case = act(case, "complete", sh(2026, 11, 21, 15, 50))
    assert (case.stage, case.clocks["completion"].state) == ("completed", "stopped")
    assert case.data["booking"] is not None  # a served seat is not given back


def test_illegal_events_name_the_allowed_ones_and_roles_are_declared() -> None:
    with pytest.raises(IllegalTransition) as refused:
        act(opened(), "complete")
    assert "accept" in refused.value.allowed and "check_in" in refused.value.allowed
    with pytest.raises(NotPermitted):
        sr.TABLE.authorize("reassign", AccessRole.agent)
    with pytest.raises(IllegalTransition):  # the service marks no-shows, not a client
        act(act(opened(), "accept"), "no_show")


def test_accept_without_a_held_slot_needs_one_and_cancel_needs_a_reason() -> None:
    with pytest.raises(InvalidEvent) as missing:
        act(opened(slot=None), "accept")
    assert missing.value.field == "data.slot"
    with pytest.raises(InvalidEvent) as no_reason:
        act(opened(), "cancel")
    assert no_reason.value.field == "data.reason"
    cancelled = act(opened(), "cancel", reason="moved away")
    assert (cancelled.stage, cancelled.data["booking"]) == ("cancelled", None)


def test_a_walk_in_checks_in_without_a_booking() -> None:
    case = act(opened(slot=None), "check_in")
    assert case.stage == "checked_in" and case.data["walk_in"] is True


# --- timers --------------------------------------------------------------------------------

def test_reminders_skip_times_before_the_booking_and_wait_out_quiet_hours() -> None:
    late = replace(opened(slot=sh(2026, 11, 21, 10, 0)), stage="scheduled")
    timers = {t.name: t.fire_at for t in sr.process_timers(late, POLICIES)}
    # P1D before is Friday 10:00, not after the booking at 10:00; PT2H before is 08:00,
    # quiet until 09:00.
    assert timers == {"remind:PT2H": sh(2026, 11, 21, 9, 0),
                      "no_show": sh(2026, 11, 21, 10, 15)}


def test_an_offer_fired_late_into_quiet_hours_is_postponed_to_a_new_timer() -> None:
    facts = {"contacts": ["email"], "preferred": None}
    late = sh(2026, 11, 21, 21, 30)
    accepted = act(opened(), "accept")
    missed = replace(accepted, stage="no_show", data={
        **accepted.data, "booking": None, "missed": [accepted.data["booking"]],
        "offer_at": sh(2026, 11, 21, 20, 0).isoformat(),
        "offer_expires_at": sh(2026, 11, 24, 20, 0).isoformat()})
    [offer] = [t for t in sr.process_timers(missed, POLICIES) if t.name == "offer"]
    assert offer.key == "5:offer:1"
    postponed = sr.on_timer(missed, "offer", POLICIES, CALS, late, facts)
    assert postponed is not None and postponed.notices == ()
    [again] = [t for t in sr.process_timers(postponed.after, POLICIES) if t.name == "offer"]
    assert (again.key, again.fire_at) == ("5:offer:1:1", sh(2026, 11, 22, 9, 0))
    sent = sr.on_timer(postponed.after, "offer", POLICIES, CALS, again.fire_at, facts)
    assert sent is not None and [n.subject for n in sent.notices] == [
        "您错过了在Xuhui flagship store的预约"]
    assert "offer_at" not in sent.after.data
    assert not [t for t in sr.process_timers(sent.after, POLICIES) if t.name == "offer"]


def test_a_request_not_accepted_has_its_no_show_check() -> None:
    timers = {t.name: t.fire_at for t in sr.process_timers(opened(), POLICIES)}
    assert timers == {"no_show": sh(2026, 11, 21, 15, 15)}


def test_the_transfer_escalation_timer_comes_once_beyond_the_limit() -> None:
    case = opened(slot=None)
    for n, team in enumerate(("billing", "complaints", "billing")):
        assert not [t for t in sr.process_timers(case, POLICIES)
                    if t.name == "transfer_escalation"], n
        case = act(case, "transfer", NOW + timedelta(minutes=n + 1), team=team, reason="x")
    [timer] = [t for t in sr.process_timers(case, POLICIES) if t.name == "transfer_escalation"]
    decision = sr.on_timer(case, timer.name, POLICIES, CALS, NOW + timedelta(minutes=3))
    assert decision is not None and decision.after.escalation_level == 1
    assert [n.recipient for n in decision.notices] == ["wang.fang"]
    assert not [t for t in sr.process_timers(decision.after, POLICIES)
                if t.name == "transfer_escalation"]


# --- the policy ----------------------------------------------------------------------------

def test_a_location_naming_an_unknown_calendar_or_team_stops_loading(tmp_path: Path) -> None:
    target = tmp_path / "p"
    shutil.copytree(SHIPPED_POLICIES, target)
    path = target / "service_request.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["service_request"]["locations"]["xuhui-store"].update(calendar="mall-hours",
                                                               team="nobody")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_policies(target)
    message = str(refused.value)
    assert f"{path}: service_request.locations.xuhui-store.calendar" in message
    assert "service_request.locations.xuhui-store.team: unknown team 'nobody'" in message


def test_a_bad_slot_length_names_the_field(tmp_path: Path) -> None:
    target = tmp_path / "p"
    shutil.copytree(SHIPPED_POLICIES, target)
    path = target / "service_request.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["service_request"]["locations"]["pudong-centre"]["slot_length"] = "PT2M"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PolicyError, match="locations.pudong-centre.slot_length"):
        load_policies(target)


def test_a_location_transfer_carries_the_live_clock_onto_the_new_calendar() -> None:
    # Fri 17:00 at the store (open till 21:00): due 19:00. Handed at 17:30 to the service
    # centre (closes 18:00, opens Sat 09:00): 30 minutes used, 1h30 left in its hours.
    late = sh(2026, 11, 20, 17, 0)
    case = sr.open_request(case_id=5, customer_id=9, tier=Tier.B, location="xuhui-store",
                           channel="web", service="repair", slot=None, team="complaints",
                           assignee="li.wei", actor="portal", actor_kind=ActorKind.integration,
                           policies=POLICIES, calendars=CALS, now=late).after
    moved = act(case, "transfer", at=late + timedelta(minutes=30), location="pudong-centre",
                reason="nearer home")
    clock = moved.clocks[sr.CONFIRMATION]
    assert clock.calendar == "service-centre-hours"
    assert clock.elapsed == timedelta(minutes=30)
    assert clock.due_at(CALS["service-centre-hours"]) == sh(2026, 11, 21, 10, 0)
    stopped = act(act(opened(), "accept"), "transfer", at=NOW + timedelta(hours=1),
                  location="pudong-centre", slot=sh(2026, 11, 23, 10, 0).isoformat(),
                  reason="nearer home")
    assert stopped.clocks[sr.CONFIRMATION].calendar == "store-hours"  # measured there


def test_a_slot_moves_only_with_a_location() -> None:
    with pytest.raises(InvalidEvent, match="new location only") as refused:
        act(opened(), "transfer", team="billing", slot=SAT_15.isoformat(), reason="x")
    assert refused.value.field == "data.slot"
