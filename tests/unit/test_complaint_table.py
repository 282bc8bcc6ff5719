"""The complaint transition table: every (stage, event) pair, hooks, opening and auto-close."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.access import NotPermitted
from domain.clocks import Clock, ClockState, pause, stop
from domain.complaint.classification import Classification
from domain.complaint.rules import (
    TABLE,
    on_timer,
    open_case,
    process_timers,
    targets_for,
)
from domain.policy import PolicySet, Tier
from domain.process import (
    SYSTEM_ACTOR,
    CaseSnapshot,
    Event,
    IllegalTransition,
    InvalidEvent,
    TransitionTable,
)
from domain.timers import PROCESS
from tests.unit.builders import POLICIES, calendars, case, clock, hours, minutes, sh

CALS = calendars()
ALWAYS = CALS["24x7"]
OPENED = sh(2026, 11, 20, 10, 0)
NOW = sh(2026, 11, 20, 10, 15)
FR, RES = "first_response", "resolution"

# The stage table of the complaint module's docstring, written out independently.
STAGES = ("new", "classified", "assigned", "in_progress", "waiting_on_customer", "resolved",
          "closed")
OPEN = frozenset({"assigned", "in_progress", "waiting_on_customer", "resolved"})
WORKING = frozenset({"assigned", "in_progress", "waiting_on_customer"})
BOTH_STOP = {FR: "stop", RES: "stop"}
# event: (sources, target or None to keep the stage, clock ops, system only)
SPEC: dict[str, tuple[frozenset[str], str | None, dict[str, str], bool]] = {
    "classify": (frozenset({"new"}), "classified", {}, True),
    "assign": (frozenset({"classified"}), "assigned", {}, True),
    "acknowledge": (frozenset({"assigned"}), "in_progress", {FR: "stop"}, False),
    "wait_on_customer": (frozenset({"in_progress"}), "waiting_on_customer", {RES: "pause"},
                         False),
    "customer_replied": (frozenset({"waiting_on_customer"}), "in_progress", {RES: "resume"},
                         False),
    "resolve": (WORKING, "resolved", BOTH_STOP, False),
    "confirm": (frozenset({"resolved"}), "closed", {}, False),
    "reject": (frozenset({"resolved"}), "in_progress", {RES: "resume"}, False),
    "auto_close": (frozenset({"resolved"}), "closed", {}, True),
    "withdraw": (OPEN, "closed", BOTH_STOP, False),
    "reassign": (OPEN, None, {}, False),
    "change_priority": (WORKING, None, {}, False),
    "add_note": (frozenset(STAGES) - {"closed"}, None, {}, False),
    "acknowledge_escalation": (OPEN, None, {}, False),
}
DATA = {"reassign": {"assignee": "zhang.min"}, "change_priority": {"priority": "urgent"},
        "acknowledge_escalation": {"clock": RES}}
STATE_AFTER = {"stop": ClockState.stopped, "pause": ClockState.paused,
               "resume": ClockState.running}


def clocks_in(stage: str) -> dict[str, Clock]:
    """Clocks as they stand in `stage` for a case opened at 10:00."""
    first = clock(FR, target=minutes(20), started=OPENED)
    # The resolution clock has warned once, so its escalation can be acknowledged.
    resolution = replace(clock(RES, target=hours(24), started=OPENED), steps_fired=1)
    if stage in {"in_progress", "waiting_on_customer", "resolved", "closed"}:
        first = stop(first, ALWAYS, sh(2026, 11, 20, 10, 5))
    if stage == "waiting_on_customer":
        resolution = pause(resolution, ALWAYS, sh(2026, 11, 20, 10, 10))
    if stage in {"resolved", "closed"}:
        resolution = stop(resolution, ALWAYS, sh(2026, 11, 20, 10, 10))
    return {FR: first, RES: resolution}


def in_stage(stage: str, **changes: object) -> CaseSnapshot:
    assignee = None if stage in {"new", "classified"} else "li.wei"
    return case(stage=stage, assignee=assignee, opened_at=OPENED, clocks=clocks_in(stage),
                **changes)


def allowed_for_people(stage: str) -> list[str]:
    return sorted(e for e, (sources, _, _, system) in SPEC.items()
                  if stage in sources and not system)


def test_the_table_declares_the_documented_transitions() -> None:
    assert TABLE.stages == STAGES
    assert TABLE.final_stages == {"closed"}
    assert sorted(t.event for t in TABLE.transitions) == sorted(SPEC)
    for t in TABLE.transitions:
        sources, target, ops, system = SPEC[t.event]
        assert (t.sources, t.target, t.system_only) == (sources, target, system), t.event
        assert {name: op.value for name, op in t.clocks} == ops, t.event


def test_a_table_naming_an_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        TransitionTable(stages=("a",), final_stages=frozenset(),
                        transitions=(replace(TABLE.transitions[0], sources=frozenset({"a"})),))


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("event", sorted(SPEC))
def test_every_stage_and_event(stage: str, event: str) -> None:
    sources, target, ops, system = SPEC[event]
    # A supervisor acknowledges an escalation: never the assignee, li.wei, whose lapse it is.
    person = "wang.fang" if event == "acknowledge_escalation" else "li.wei"
    actor = SYSTEM_ACTOR if system else person
    before = in_stage(stage)
    command = Event(event, actor, DATA.get(event, {}), by_system=system)
    if stage not in sources:
        with pytest.raises(IllegalTransition) as refused:
            TABLE.decide(before, command, POLICIES, CALS, NOW)
        assert refused.value.allowed == TABLE.allowed_events(stage)
        assert refused.value.allowed == allowed_for_people(stage)
        assert (refused.value.event, refused.value.stage) == (event, stage)
        return
    after = TABLE.decide(before, command, POLICIES, CALS, NOW).after
    assert after.stage == (target or stage)
    for name, old in before.clocks.items():
        new = after.clocks[name]
        if name in ops:
            assert new.state is STATE_AFTER[ops[name]], name
            if old.state is not ClockState.stopped and ops[name] == "stop":
                assert new.stopped_at == NOW
        elif event == "change_priority":
            assert replace(new, target=old.target) == old
        elif event == "acknowledge_escalation" and name == RES:
            assert new == replace(old, ladder_stopped_at=NOW)
        else:
            assert new == old, name


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("event", ["classify", "assign", "auto_close"])
def test_system_events_are_refused_for_people(stage: str, event: str) -> None:
    with pytest.raises(IllegalTransition) as refused:
        TABLE.decide(in_stage(stage), Event(event, "li.wei"), POLICIES, CALS, NOW)
    assert refused.value.allowed == TABLE.allowed_events(stage)
    assert event not in refused.value.allowed
    source = next(iter(SPEC[event][0]))
    assert event in TABLE.allowed_events(source, include_system=True)


@pytest.mark.parametrize("event", ["classify", "assign", "auto_close"])
def test_naming_oneself_system_does_not_make_an_event_the_system_s(event: str) -> None:
    source = next(iter(SPEC[event][0]))
    with pytest.raises(IllegalTransition):
        TABLE.decide(in_stage(source), Event(event, SYSTEM_ACTOR), POLICIES, CALS, NOW)


@pytest.mark.parametrize("data", [{}, {"assignee": ""}, {"assignee": "   "}, {"assignee": 5}])
def test_reassign_needs_an_assignee(data: dict) -> None:
    with pytest.raises(InvalidEvent) as invalid:
        TABLE.decide(in_stage("in_progress"), Event("reassign", "li.wei", data), POLICIES,
                     CALS, NOW)
    assert invalid.value.field == "data.assignee"
    assert isinstance(invalid.value, ValueError)


def test_reassign_moves_the_case_and_records_who_had_it() -> None:
    decision = TABLE.decide(in_stage("in_progress"),
                            Event("reassign", "wang.fang", {"assignee": " zhang.min "}),
                            POLICIES, CALS, NOW)
    assert decision.after.assignee == "zhang.min"
    assert decision.timeline[0].details["reassigned_from"] == "li.wei"


@pytest.mark.parametrize("person", ["nobody.at.all", "sun.hao"])  # unknown; another team's
def test_reassign_only_to_the_case_s_team_or_the_people_above_it(person: str) -> None:
    with pytest.raises(InvalidEvent) as invalid:
        TABLE.decide(in_stage("in_progress"), Event("reassign", "wang.fang",
                                                    {"assignee": person}), POLICIES, CALS, NOW)
    assert invalid.value.field == "data.assignee"
    assert invalid.value.reason == (
        f"{person!r} is not a member of team 'complaints' nor above it; who may be assigned: "
        "['li.wei', 'zhang.min', 'chen.jing', 'wang.fang', 'liu.yang', 'zhao.lei']")
    for above in ("wang.fang", "zhao.lei"):
        decision = TABLE.decide(in_stage("in_progress"), Event(
            "reassign", "wang.fang", {"assignee": above}), POLICIES, CALS, NOW)
        assert decision.after.assignee == above


def test_change_priority_needs_a_known_priority() -> None:
    with pytest.raises(InvalidEvent) as invalid:
        TABLE.decide(in_stage("in_progress"),
                     Event("change_priority", "li.wei", {"priority": "critical"}),
                     POLICIES, CALS, NOW)
    assert invalid.value.field == "data.priority"


@pytest.mark.parametrize(("tier", "first", "resolution"), [
    (Tier.B, minutes(10), hours(4)),
    (Tier.A, minutes(7.5), hours(3)),
    (Tier.VIP, minutes(5), hours(2)),
])
def test_change_priority_retargets_both_clocks(
    tier: Tier, first: timedelta, resolution: timedelta
) -> None:
    before = in_stage("assigned", tier=tier)
    decision = TABLE.decide(before, Event("change_priority", "li.wei", {"priority": "urgent"}),
                            POLICIES, CALS, NOW)
    after = decision.after
    assert after.priority == "urgent"
    assert (after.clocks[FR].target, after.clocks[RES].target) == (first, resolution)
    assert after.clocks[FR].due_at(ALWAYS) == OPENED + first
    assert after.clocks[RES].due_at(ALWAYS) == OPENED + resolution
    assert decision.timeline[0].details["priority_from"] == "ordinary"


def test_resolve_counts_each_resolution() -> None:
    first = TABLE.decide(in_stage("in_progress"), Event("resolve", "li.wei"), POLICIES, CALS,
                         NOW).after
    assert first.resolved_count == 1
    reopened = TABLE.decide(first, Event("reject", "customer"), POLICIES, CALS,
                            sh(2026, 11, 20, 11)).after
    assert reopened.stage == "in_progress"
    assert reopened.clocks[RES].state is ClockState.running
    assert reopened.clocks[FR].state is ClockState.stopped
    again = TABLE.decide(reopened, Event("resolve", "li.wei"), POLICIES, CALS,
                         sh(2026, 11, 20, 12)).after
    assert again.resolved_count == 2


def test_the_timeline_entry_records_actor_stages_data_and_note() -> None:
    before = in_stage("in_progress")
    decision = TABLE.decide(before, Event("wait_on_customer", "li.wei", {"asked": "receipt"},
                                          note="need the receipt"), POLICIES, CALS, NOW)
    (entry,) = decision.timeline
    assert (entry.type, entry.actor) == ("wait_on_customer", "li.wei")
    assert entry.details == {"asked": "receipt", "note": "need the receipt",
                             "stage_from": "in_progress", "stage_to": "waiting_on_customer"}
    assert decision.before == before
    assert decision.notices == ()
    assert decision.after.stage_entered_at == NOW


def test_staying_in_a_stage_keeps_when_it_was_entered() -> None:
    before = in_stage("in_progress", stage_entered_at=sh(2026, 11, 20, 10, 5))
    decision = TABLE.decide(before, Event("add_note", "li.wei", note="called back"), POLICIES,
                            CALS, NOW)
    assert decision.after.stage_entered_at == sh(2026, 11, 20, 10, 5)
    assert decision.timeline[0].details["stage_to"] == "in_progress"


def test_waiting_on_the_customer_moves_the_resolution_due_time() -> None:
    c = in_stage("in_progress")
    original = c.clocks[RES].due_at(ALWAYS)
    c = TABLE.decide(c, Event("wait_on_customer", "li.wei"), POLICIES, CALS,
                     sh(2026, 11, 20, 11)).after
    assert c.clocks[RES].due_at(ALWAYS) is None
    c = TABLE.decide(c, Event("customer_replied", "customer"), POLICIES, CALS,
                     sh(2026, 11, 20, 14)).after
    assert c.clocks[RES].due_at(ALWAYS) == original + hours(3)


# --- opening, tiers and the auto-close timer --------------------------------------------

def test_open_case_starts_clocks_classifies_and_assigns() -> None:
    decision = open_case(
        case_id=42, tier=Tier.VIP, classification=Classification("urgent", "rule 'x'"),
        team="complaints", assignee="chen.jing", channel="phone", category="delivery",
        actor="agent-7", policies=POLICIES, now=OPENED, calendars=CALS)
    after = decision.after
    assert (after.id, after.stage, after.assignee, after.priority) == (
        42, "assigned", "chen.jing", "urgent")
    assert (after.opened_at, after.team, after.channel, after.category) == (
        OPENED, "complaints", "phone", "delivery")
    assert after.clocks[FR].target == minutes(5)
    assert after.clocks[RES].target == hours(2)
    assert all(c.state is ClockState.running and c.running_since == OPENED
               for c in after.clocks.values())
    assert [(e.type, e.actor) for e in decision.timeline] == [
        ("opened", "agent-7"), ("classify", SYSTEM_ACTOR), ("assign", SYSTEM_ACTOR)]
    assert decision.timeline[0].details["targets"] == {FR: "PT5M", RES: "PT2H"}
    assert decision.timeline[1].details["stage_to"] == "classified"
    assert decision.timeline[2].details["assignee"] == "chen.jing"


def _without_tier_c() -> PolicySet:
    data = POLICIES.model_dump()
    del data["complaint"]["tiers"][Tier.C]
    return PolicySet.model_validate(data)


@pytest.mark.parametrize(("tier", "factor"), [
    (Tier.VIP, 0.5), (Tier.A, 0.75), (Tier.B, 1.0), (Tier.C, 1.0)])
def test_targets_for_tightens_by_tier(tier: Tier, factor: float) -> None:
    targets = targets_for(POLICIES.complaint, "ordinary", tier)
    assert targets == {FR: minutes(20) * factor, RES: hours(24) * factor}


def test_a_tier_without_a_policy_keeps_the_targets() -> None:
    targets = targets_for(_without_tier_c().complaint, "routine", Tier.C)
    assert targets == {FR: hours(2), RES: hours(72)}


def test_a_resolved_case_gets_an_auto_close_timer() -> None:
    resolved = in_stage("resolved", resolved_count=2, stage_entered_at=sh(2026, 11, 20, 16))
    (timer,) = process_timers(resolved, POLICIES)
    assert (timer.key, timer.kind, timer.name, timer.step) == (
        "7:auto_close:2", PROCESS, "auto_close", None)
    assert timer.fire_at == sh(2026, 11, 23, 16)


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "resolved"])
def test_other_stages_have_no_process_timer(stage: str) -> None:
    assert process_timers(in_stage(stage), POLICIES) == []


def test_auto_close_closes_a_silent_resolved_case() -> None:
    decision = on_timer(in_stage("resolved"), "auto_close", POLICIES, CALS,
                        sh(2026, 11, 23, 16))
    assert decision is not None
    assert decision.after.stage == "closed"
    (entry,) = decision.timeline
    assert (entry.type, entry.actor) == ("auto_close", SYSTEM_ACTOR)
    assert entry.details["silent_for"] == "P3D"


def test_auto_close_is_stale_once_the_case_moved_on() -> None:
    assert on_timer(in_stage("in_progress"), "auto_close", POLICIES, CALS, NOW) is None
    assert on_timer(in_stage("closed"), "auto_close", POLICIES, CALS, NOW) is None
    assert on_timer(in_stage("resolved"), "something_else", POLICIES, CALS, NOW) is None


def test_the_assignee_may_not_acknowledge_the_escalation_of_their_own_lapse() -> None:
    escalated = in_stage("in_progress")
    escalated = replace(escalated, clocks={**escalated.clocks, RES: replace(
        escalated.clocks[RES], steps_fired=1)})
    with pytest.raises(NotPermitted, match="li.wei is the case's assignee"):
        TABLE.decide(escalated, Event("acknowledge_escalation", "li.wei", {"clock": RES}),
                     POLICIES, CALS, NOW)
    acked = TABLE.decide(escalated, Event("acknowledge_escalation", "liu.yang",
                                          {"clock": RES}), POLICIES, CALS, NOW)
    assert acked.after.clocks[RES].ladder_stopped_at == NOW


def test_an_escalation_is_acknowledged_only_for_a_clock_that_escalated() -> None:
    before = in_stage("assigned")
    for data, reason in [({}, "must be one of"), ({"clock": "nope"}, "must be one of"),
                         ({"clock": FR}, "has not escalated")]:
        with pytest.raises(InvalidEvent, match=reason) as refused:
            TABLE.decide(before, Event("acknowledge_escalation", "wang.fang", data), POLICIES,
                         CALS, NOW)
        assert refused.value.field == "data.clock"
