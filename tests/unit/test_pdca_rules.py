"""PDCA rules without a database: plans, verdicts, timers."""

from datetime import timedelta

import pytest

from domain.access import ActorKind
from domain.pdca import rules as pdca
from domain.process import Event, InvalidEvent
from tests.unit.builders import POLICIES, calendars, sh

NOW = sh(2026, 11, 20, 10, 0)
CALS = calendars()


@pytest.mark.parametrize(("kpi", "target", "value", "expected"), [
    ("complaint_on_time_rate", 0.95, 0.95, "met"),
    ("complaint_on_time_rate", 0.95, 0.949, "not_met"),
    ("reopen_rate", 0.05, 0.05, "met"),  # lower is better
    ("reopen_rate", 0.05, 0.06, "not_met"),
    ("escalation_rate_l1", 0.1, None, "inconclusive"),
])
def test_the_verdict_follows_the_kpi_s_direction(kpi, target, value, expected):
    assert pdca.verdict(kpi, target, value) == expected


def test_a_plan_is_stored_checked_with_the_default_pilot():
    plan = pdca.check_plan({"problem": " late answers ", "kpi": "resolution_rate",
                            "target": 1, "scope": {"team": "billing"}}, POLICIES)
    assert plan == {"problem": "late answers", "kpi": "resolution_rate", "target": 1.0,
                    "scope": {"team": "billing"}, "pilot_period": "P14D"}


@pytest.mark.parametrize(("change", "field"), [
    ({"problem": "  "}, "problem"), ({"kpi": "csat"}, "kpi"), ({"target": True}, "target"),
    ({"target": -0.1}, "target"), ({"scope": {"region": "north"}}, "scope"),
    ({"scope": {"team": ""}}, "scope"), ({"scope": {"team": "x"}}, "scope.team"),
    ({"pilot_period": "P2Y"}, "pilot_period"), ({"pilot_period": 14}, "pilot_period"),
])
def test_a_plan_that_cannot_be_measured_names_its_field(change, field):
    plan = {"problem": "p", "kpi": "resolution_rate", "target": 0.9, **change}
    with pytest.raises(InvalidEvent) as caught:
        pdca.check_plan(plan, POLICIES)
    assert caught.value.field == field


def test_only_a_running_pilot_has_a_timer_at_its_end():
    decision = pdca.open_cycle(
        case_id=5, plan={"problem": "p", "kpi": "resolution_rate", "target": 0.9},
        baseline={}, team="billing", owner="wang.fang", links={}, parent=None, actor="w",
        actor_kind=ActorKind.person, policies=POLICIES, now=NOW)
    planning = decision.after
    assert pdca.process_timers(planning, POLICIES) == []
    doing = pdca.TABLE.decide(planning, Event("start_pilot", "w"), POLICIES, CALS,
                              NOW).after
    [timer] = pdca.process_timers(doing, POLICIES)
    assert (timer.key, timer.fire_at) == ("5:pilot_end", NOW + timedelta(days=14))
    assert pdca.on_timer(doing, "pilot_end", POLICIES, CALS, NOW, facts=None) is None
