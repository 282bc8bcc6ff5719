"""The pure what-if replay: a complaint's events under the shipped and candidate policies."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.policy import Tier
from domain.whatif.history import RecordedCase, RecordedEvent
from domain.whatif.outcome import Outcome, Rung, Verdict
from domain.whatif.replay import replay
from domain.whatif.report import Comparison, compare, figures
from tests.unit.builders import (
    POLICIES,
    calendars,
    hours,
    minutes,
    mixed_policies,
    policies_with,
    sh,
)

OPENED = sh(2026, 11, 20, 10, 0)
NOBODY = Outcome(stage="", assignee=None, escalation_level=0, clocks={}, breached_at={},
                 rungs=())
ORDINARY_30M = {"first_response": {"calendar": "24x7", "targets": {
    "urgent": "PT10M", "ordinary": "PT30M", "routine": "PT2H", "recovery": "PT4H"}}}


def recorded(*events: tuple[datetime, str, dict[str, Any]], priority: str = "ordinary",
             requested: bool = False, text: str = "parcel late") -> RecordedCase:
    return RecordedCase(
        id=1, team="complaints", tier=Tier.B, priority=priority, requested=requested,
        assignee="li.wei", opened_at=OPENED, opened_by="agent:test", channel=None,
        category=None, text=text, outcome=NOBODY,
        events=tuple(RecordedEvent(type=t, actor=str(d.pop("actor", "li.wei")), at=at,
                                   data=d) for at, t, d in events))


def test_an_answer_at_25_minutes_breaches_under_20_and_not_under_30():
    case = recorded((OPENED + minutes(25), "acknowledge", {}),
                    (OPENED + hours(2), "resolve", {}), (OPENED + hours(3), "confirm", {}))
    now = OPENED + hours(5)
    shipped = replay(case, POLICIES, calendars(), until=now)
    assert shipped.stage == "closed"
    assert shipped.clocks == {"first_response": Verdict.missed, "resolution": Verdict.met}
    assert [r.step for r in shipped.rungs] == ["breach", "warning"]  # sorted by clock, step
    assert shipped.escalation_level == 1
    longer = policies_with(clocks=ORDINARY_30M)
    candidate = replay(case, longer, calendars(longer), until=now)
    assert candidate.clocks["first_response"] is Verdict.met
    assert candidate.rungs == (Rung("first_response", "warning", 0, ("li.wei",)),)
    assert candidate.escalation_level == 0


def test_an_acknowledged_escalation_that_never_happens_is_skipped():
    case = recorded((OPENED + minutes(20), "acknowledge_escalation",
                     {"clock": "first_response", "actor": "wang.fang"}),
                    (OPENED + minutes(26), "acknowledge", {}))
    now = OPENED + hours(1)
    assert replay(case, POLICIES, calendars(), until=now).skipped == ()
    longer = policies_with(clocks=ORDINARY_30M)
    assert replay(case, longer, calendars(longer), until=now).skipped == (
        "acknowledge_escalation",)


def test_a_silent_case_climbs_the_ladder_up_to_the_moment_of_replay():
    case = recorded()
    assert [r.level for r in replay(case, POLICIES, calendars(),
                                    until=OPENED + minutes(29)).rungs] == [1, 0]
    outcome = replay(case, POLICIES, calendars(), until=OPENED + minutes(40))
    assert sorted(r.level for r in outcome.rungs if r.clock == "first_response") == [0, 1, 2, 3]
    assert {p for r in outcome.rungs for p in r.notified} >= {"li.wei", "wang.fang",
                                                             "liu.yang", "zhao.lei"}


def test_a_later_warning_fires_later_and_a_pause_holds_it():
    case = recorded((OPENED + minutes(5), "acknowledge", {}),
                    (OPENED + hours(1), "wait_on_customer", {}),
                    (OPENED + hours(30), "customer_replied", {}))
    shipped = replay(case, POLICIES, calendars(), until=OPENED + hours(31))
    assert shipped.clocks["resolution"] is Verdict.undecided  # 2 of 24 hours used
    assert not [r for r in shipped.rungs if r.clock == "resolution"]


def test_auto_close_follows_the_candidate_silence():
    case = recorded((OPENED + minutes(5), "acknowledge", {}),
                    (OPENED + hours(1), "resolve", {}),
                    (OPENED + hours(50), "reject", {"actor": "customer"}))
    assert replay(case, POLICIES, calendars(), until=OPENED + hours(60)).stage == "in_progress"
    quick = policies_with(auto_close_after="P1D")
    outcome = replay(case, quick, calendars(quick), until=OPENED + hours(60))
    assert outcome.stage == "closed"
    assert outcome.skipped == ("reject",)


def test_classification_rules_of_the_candidate_apply_unless_the_caller_chose():
    rules = [{"name": "late", "priority": "urgent", "keywords_any": ["late"]}]
    strict = policies_with(classification=rules)
    at = OPENED + minutes(12)  # ordinary: warned at 15 minutes; urgent: breached at 10
    chosen = recorded(requested=True)
    assert replay(chosen, strict, calendars(strict), until=at).escalation_level == 0
    assert replay(recorded(), strict, calendars(strict), until=at).escalation_level == 1


def test_a_priority_the_candidate_lacks_makes_the_case_unreplayable():
    case = recorded(priority="recovery", requested=True)  # a service-recovery case
    clocks = {name: {"calendar": "24x7", "targets": {
        p: t for p, t in POLICIES.complaint.clocks[name].targets.items() if p != "recovery"}}
        for name in ("first_response", "resolution")}
    fewer = policies_with(priorities=["urgent", "ordinary", "routine"], clocks=clocks)
    outcome = replay(case, fewer, calendars(fewer), until=OPENED + hours(1))
    assert outcome.unreplayable is not None and "recovery" in outcome.unreplayable
    assert figures([outcome]).unreplayable == 1


def test_replay_is_deterministic_and_compare_lists_only_changes():
    case = recorded((OPENED + minutes(25), "acknowledge", {}))
    now = OPENED + hours(1)
    first = replay(case, POLICIES, calendars(), until=now)
    assert replay(case, POLICIES, calendars(), until=now) == first
    longer = policies_with(clocks=ORDINARY_30M)
    report = compare({1: first, 2: first},
                     {1: replay(case, longer, calendars(longer), until=now), 2: first})
    assert [c.case_id for c in report.changes] == [1]
    assert report.changes[0].differences["clocks.first_response"] == [Verdict.missed,
                                                                      Verdict.met]
    assert report.recorded.breaches == 2 and report.candidate.breaches == 1
    assert report.recorded.on_time["first_response"].rate == 0.0
    assert report.candidate.on_time["first_response"].rate == 0.5


def test_resolution_on_working_hours_meets_what_a_weekend_breached():
    friday_evening = sh(2026, 11, 20, 17, 50)
    case = replace(recorded((sh(2026, 11, 20, 17, 55), "acknowledge", {}),
                            (sh(2026, 11, 23, 10, 0), "resolve", {})), opened_at=friday_evening)
    now = sh(2026, 11, 23, 11, 0)
    assert replay(case, POLICIES, calendars(), until=now).clocks["resolution"] \
        is Verdict.missed
    working = mixed_policies()
    outcome = replay(case, working, calendars(working), until=now)
    assert outcome.clocks["resolution"] is Verdict.met
    assert not [r for r in outcome.rungs if r.clock == "resolution"]


def test_comparisons_of_two_shares_merged_equal_the_comparison_of_all():
    now = OPENED + hours(6)
    longer = policies_with(clocks=ORDINARY_30M)
    cases = [replace(recorded((OPENED + minutes(m), "acknowledge", {}),
                              (OPENED + hours(4), "resolve", {})), id=m) for m in range(5, 60, 6)]
    recorded_outcomes = {c.id: replay(c, POLICIES, calendars(), until=now) for c in cases}
    candidate = {c.id: replay(c, longer, calendars(longer), until=now) for c in cases}
    whole = compare(recorded_outcomes, candidate)
    # Counted in two shares, the later one first, as processes may finish.
    later, earlier = Comparison(), Comparison()
    for case in cases:
        share = earlier if case.id < 30 else later
        share.add(case.id, recorded_outcomes[case.id], candidate[case.id])
    later.merge(earlier)
    assert later.report() == whole
    assert whole.changes and [c.case_id for c in whole.changes] == sorted(
        c.case_id for c in whole.changes)
    assert whole.recorded.cases == len(cases)
