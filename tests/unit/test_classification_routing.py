"""Classification by policy rules and tier, and routing to a team member."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.complaint.classification import Classification, classify
from domain.complaint.routing import MemberLoad, pick_assignee
from domain.policy import ComplaintPolicy, Tier
from tests.unit.builders import POLICIES, SHANGHAI, policies_with, sh

POLICY = POLICIES.complaint


def run(policy: ComplaintPolicy = POLICY, *, tier: Tier = Tier.B, channel: str | None = "phone",
        category: str | None = None, text: str = "the parcel is late",
        requested: str | None = None) -> Classification:
    return classify(policy, tier=tier, channel=channel, category=category, text=text,
                    requested=requested)


def test_the_callers_priority_wins_over_rules_and_tier() -> None:
    result = run(tier=Tier.VIP, channel="social_media", text="injury", requested="routine")
    assert result == Classification("routine", "set by the caller")


def test_an_unknown_requested_priority_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown priority 'critical'"):
        run(requested="critical")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"text": "The heater caught FIRE"}, ("urgent", "rule 'safety-or-legal'")),
    ({"text": "顧客在店裡受傷了"}, ("urgent", "rule 'safety-or-legal'")),
    ({"channel": "social_media"}, ("urgent", "rule 'media-exposure'")),
    ({"category": "enquiry"}, ("routine", "rule 'enquiry-like'")),
    ({"category": "billing"}, ("ordinary", "default priority")),
    ({"channel": None, "category": None, "text": ""}, ("ordinary", "default priority")),
])
def test_rules(kwargs: dict, expected: tuple[str, str]) -> None:
    assert run(**kwargs) == Classification(*expected)


def test_the_first_matching_rule_wins() -> None:
    result = run(channel="social_media", category="suggestion", text="my lawyer will call")
    assert result == Classification("urgent", "rule 'safety-or-legal'")
    assert run(channel="social_media", category="suggestion").reason == "rule 'media-exposure'"


def test_every_condition_of_a_rule_must_match() -> None:
    policy = policies_with(classification=[
        {"name": "vip-billing-by-phone", "priority": "urgent", "channels": ["phone"],
         "categories": ["billing"], "tiers": ["VIP", "A"]},
    ]).complaint
    assert run(policy, tier=Tier.A, category="billing").priority == "urgent"
    assert run(policy, tier=Tier.B, category="billing").priority == "ordinary"
    assert run(policy, tier=Tier.A, category="refund").priority == "ordinary"
    assert run(policy, tier=Tier.A, channel="email", category="billing").priority == "ordinary"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, ("urgent", "default priority, raised for tier VIP")),
    ({"category": "enquiry"}, ("ordinary", "rule 'enquiry-like', raised for tier VIP")),
    ({"text": "fire!"}, ("urgent", "rule 'safety-or-legal'")),  # already the top
])
def test_vip_raises_the_priority_one_step(kwargs: dict, expected: tuple[str, str]) -> None:
    assert run(tier=Tier.VIP, **kwargs) == Classification(*expected)


@pytest.mark.parametrize("tier", [Tier.A, Tier.B, Tier.C])
def test_other_shipped_tiers_do_not_raise(tier: Tier) -> None:
    assert run(tier=tier, category="enquiry").priority == "routine"


def test_a_raise_of_two_steps_stops_at_the_top() -> None:
    policy = policies_with(tiers={"C": {"target_factor": 1.0, "raise_priority": 2}}).complaint
    assert run(policy, tier=Tier.C, category="enquiry").priority == "urgent"
    assert run(policy, tier=Tier.C).priority == "urgent"


# --- routing ------------------------------------------------------------------------------

def member(person: str, open_cases: int = 0, last: datetime | None = None) -> MemberLoad:
    return MemberLoad(person=person, open_cases=open_cases, last_assigned_at=last)


def test_least_loaded_picks_the_fewest_open_cases() -> None:
    members = [member("li.wei", 3, sh(2026, 11, 1)), member("zhang.min", 1, sh(2026, 11, 20)),
               member("chen.jing", 2)]
    assert pick_assignee(members, "least_loaded") == "zhang.min"


def test_least_loaded_breaks_ties_by_waiting_time_then_name() -> None:
    waited = [member("li.wei", 1, sh(2026, 11, 20, 9)), member("zhang.min", 1, sh(2026, 11, 20, 8))]
    assert pick_assignee(waited, "least_loaded") == "zhang.min"
    never = [member("li.wei", 1, sh(2026, 11, 20, 9)), member("zhang.min", 1)]
    assert pick_assignee(never, "least_loaded") == "zhang.min"
    same = [member("zhang.min", 1), member("chen.jing", 1)]
    assert pick_assignee(same, "least_loaded") == "chen.jing"


def test_round_robin_picks_who_waited_longest_whatever_the_load() -> None:
    members = [member("sun.hao", 0, sh(2026, 11, 20, 10)),
               member("zhou.xin", 9, sh(2026, 11, 20, 9))]
    assert pick_assignee(members, "round_robin") == "zhou.xin"
    members.append(member("an.new", 0))
    assert pick_assignee(members, "round_robin") == "an.new"
    assert pick_assignee([member("zhou.xin"), member("sun.hao")], "round_robin") == "sun.hao"


def test_naive_and_aware_last_assignments_can_be_mixed() -> None:
    members = [member("sun.hao", 0, datetime(2026, 11, 20, 10)),
               member("zhou.xin", 0, sh(2026, 11, 20, 9))]
    assert pick_assignee(members, "round_robin") == "zhou.xin"


def test_a_person_to_avoid_gets_the_case_only_when_nobody_else_is_there() -> None:
    members = [member("li.wei", 0), member("zhang.min", 2), member("chen.jing", 1)]
    assert pick_assignee(members, "least_loaded", avoid="li.wei",
                         supervisor="wang.fang") == "chen.jing"
    alone = [member("li.wei")]
    assert pick_assignee(alone, "least_loaded", avoid="li.wei",
                         supervisor="wang.fang") == "wang.fang"
    assert pick_assignee(alone, "least_loaded", avoid="li.wei") == "li.wei"


def test_routing_refuses_an_empty_team_and_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        pick_assignee([], "least_loaded")
    with pytest.raises(ValueError, match="unknown routing strategy"):
        pick_assignee([member("li.wei")], "random")


def test_round_robin_compares_aware_times_by_instant() -> None:
    # 10:00 in Shanghai is 02:00 UTC, earlier than 03:00 UTC: sun.hao waited longest.
    members = [member("sun.hao", 0, datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)),
               member("zhou.xin", 0, datetime(2026, 11, 20, 3, tzinfo=UTC))]
    assert pick_assignee(members, "round_robin") == "sun.hao"
