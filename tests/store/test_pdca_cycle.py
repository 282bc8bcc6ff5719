"""A PDCA cycle in time travel: baseline, pilot, automatic check, act, and late stages.

The cycle targets the complaint on-time rate of billing complaints (category `billing`,
routed to team `billing`). Ordinary complaints: first response PT20M, resolution
PT24H, both on the 24x7 calendar, so every figure below is plain arithmetic.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from core.cases import CustomerInput, OpenCase, open_case, post_event
from core.queries import get_case
from core.runtime import Runtime
from domain.access import AccessRole, ActorKind, Identity
from domain.policy import Tier
from domain.process import Event, IllegalTransition
from engine.clock import FrozenClock
from processes.pdca.cycles import CycleRequest, open_cycle
from tests.conftest import sweep
from tests.store.helpers import escalations, load, send, timeline

PLAN = {"problem": "Billing complaints wait too long for an answer",
        "kpi": "complaint_on_time_rate", "target": 0.95, "scope": {"category": "billing"},
        "pilot_period": "P14D"}


def billing_complaint(rt: Runtime, ref: str) -> int:
    request = OpenCase(subject="charged twice", description="", category="billing",
                       priority="ordinary",
                       customer=CustomerInput(ref=ref, name="Lin", tier=Tier.B, phone=None,
                                              email=None))
    with Session(rt.engine, expire_on_commit=False) as session:
        case, _ = open_case(session, request=request, actor="li.wei", policies=rt.policies,
                            calendars=rt.calendars, now=rt.clock.now())
        assert case.id is not None
        return case.id


def answered_in_time(rt: Runtime, clock: FrozenClock, ref: str, *, resolve: bool) -> int:
    """A complaint acknowledged after 5 minutes, and resolved an hour later if asked."""
    case_id = billing_complaint(rt, ref)
    clock.advance(timedelta(minutes=5))
    send(rt, case_id, "acknowledge")
    if resolve:
        clock.advance(timedelta(hours=1))
        send(rt, case_id, "resolve")
    return case_id


def plan_cycle(rt: Runtime) -> int:
    with Session(rt.engine, expire_on_commit=False) as session:
        case = open_cycle(session, request=CycleRequest(plan=PLAN, links={"cases": [1]}),
                          actor="wang.fang", actor_kind=ActorKind.person, policies=rt.policies,
                          calendars=rt.calendars, now=rt.clock.now())
        session.commit()
        assert case.id is not None
        return case.id


@pytest.fixture
def rt(make_runtime) -> Runtime:  # type: ignore[no-untyped-def]
    return make_runtime()


def test_a_cycle_that_misses_its_target_is_revised_into_a_linked_follow_up(rt, clock):
    start = clock.now()
    clock.set(start - timedelta(days=10))
    answered_in_time(rt, clock, "a", resolve=True)   # both clocks met
    billing_complaint(rt, "b")                       # both clocks missed by planning time
    clock.set(start)
    cycle_id = plan_cycle(rt)
    cycle = load(rt, cycle_id)
    # Baseline over the 28 days before planning: 2 clocks met of 4 decided = 0.5.
    assert cycle.data["baseline"]["value"] == 0.5
    assert (cycle.data["baseline"]["numerator"], cycle.data["baseline"]["denominator"]) == (2, 4)
    assert (cycle.stage, cycle.team, cycle.assignee) == ("planning", "billing", "wang.fang")

    clock.advance(timedelta(hours=1))
    send(rt, cycle_id, "start_pilot", actor="wang.fang")
    pilot_end = clock.now() + timedelta(days=14)
    answered_in_time(rt, clock, "c", resolve=True)    # met, met
    answered_in_time(rt, clock, "d", resolve=False)   # met, then resolution missed at 24 h
    clock.set(pilot_end - timedelta(seconds=1))
    sweep(rt)
    assert load(rt, cycle_id).stage == "doing"       # not a second early
    clock.set(pilot_end)
    sweep(rt)

    checked = load(rt, cycle_id)
    # Pilot: 3 clocks met of 4 decided = 0.75, below 0.95.
    assert checked.stage == "acting"
    assert (checked.data["measured"]["value"], checked.data["verdict"]) == (0.75, "not_met")
    check = [e for e in timeline(rt, cycle_id) if e.type == "check"]
    assert len(check) == 1 and check[0].actor_kind == "system"
    assert check[0].details["baseline"] == 0.5 and check[0].details["verdict"] == "not_met"

    with pytest.raises(Exception, match="revise the plan"):
        send(rt, cycle_id, "standardise", actor="wang.fang")
    send(rt, cycle_id, "revise", actor="wang.fang")
    revised = load(rt, cycle_id)
    follow_up = load(rt, revised.data["follow_up_cycle"])
    assert (revised.stage, revised.data["outcome"]) == ("closed", "revised")
    assert follow_up.stage == "planning" and follow_up.data["parent_cycle"] == cycle_id
    assert follow_up.data["baseline"]["value"] == 0.75  # what the pilot reached
    assert follow_up.data["links"] == {"cases": [1]}
    assert [e.type for e in timeline(rt, cycle_id)][-2:] == ["revise", "follow_up_opened"]
    sweep(rt)  # nothing fires twice
    assert len([e for e in timeline(rt, cycle_id) if e.type == "check"]) == 1


def test_a_not_met_cycle_offers_only_the_events_that_can_succeed(rt, clock):
    cycle_id = plan_cycle(rt)
    send(rt, cycle_id, "start_pilot", actor="wang.fang")
    billing_complaint(rt, "g")  # never answered: the pilot misses its target
    clock.advance(timedelta(days=14))
    sweep(rt)
    assert load(rt, cycle_id).data["verdict"] == "not_met"
    supervisor = Identity("wang.fang", ActorKind.person, AccessRole.supervisor,
                          frozenset({"billing"}))
    with Session(rt.engine) as session:
        view = get_case(session, cycle_id, rt, clock.now(), supervisor)
    assert view is not None and "standardise" not in view.allowed_events
    assert {"revise", "abandon"} <= set(view.allowed_events)
    # Sent anyway, it is refused as illegal now (409), with the same allowed events.
    with Session(rt.engine) as session, pytest.raises(IllegalTransition) as refused:
        post_event(session, case_id=cycle_id, event=Event("standardise", "wang.fang"),
                   policies=rt.policies, calendars=rt.calendars, now=clock.now(),
                   identity=supervisor)
    assert refused.value.allowed == view.allowed_events
    assert "revise the plan" in str(refused.value.reason)


def test_a_cycle_that_meets_its_target_is_standardised(rt, clock):
    cycle_id = plan_cycle(rt)
    send(rt, cycle_id, "start_pilot", actor="wang.fang")
    ends = clock.now() + timedelta(days=14)
    for ref in ("e", "f"):
        answered_in_time(rt, clock, ref, resolve=True)
    clock.set(ends)
    sweep(rt)
    assert load(rt, cycle_id).data["verdict"] == "met"  # 4 of 4
    send(rt, cycle_id, "standardise", actor="wang.fang")
    done = load(rt, cycle_id)
    assert (done.stage, done.data["outcome"]) == ("closed", "standardised")
    assert "follow_up_cycle" not in done.data


def test_a_pilot_without_complaints_is_inconclusive(rt, clock):
    cycle_id = plan_cycle(rt)
    send(rt, cycle_id, "start_pilot", actor="wang.fang")
    clock.advance(timedelta(days=14))
    sweep(rt)
    checked = load(rt, cycle_id)
    assert checked.data["verdict"] == "inconclusive"
    assert checked.data["measured"]["denominator"] == 0


def test_a_plan_left_too_long_escalates_like_an_sla(rt, clock, make_runtime):
    # Plan within PT40H of working hours (09-12, 13-18 on weekdays), opened Fri 10:00:
    # Fri 7 h + Mon-Fri 40 h + Mon 30 Nov 09:00-10:00 1 h = 48 h = 120% ten days later.
    cycle_id = plan_cycle(rt)
    clock.advance(timedelta(days=10))
    sweep(rt)
    assert escalations(rt, cycle_id) == [("plan", "warning"), ("plan", "overdue")]
    assert load(rt, cycle_id).escalation_level == 1
    send(rt, cycle_id, "start_pilot", actor="wang.fang")  # the plan clock stops
    clock.advance(timedelta(days=3))
    sweep(rt)
    assert escalations(rt, cycle_id) == [("plan", "warning"), ("plan", "overdue")]
