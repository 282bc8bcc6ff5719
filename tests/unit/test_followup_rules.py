"""Satisfaction follow-up rules without a database: timers, facts, answers, calls."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.access import AccessRole, NotPermitted
from domain.followup import rules as followup
from domain.policy import PolicySet, Tier
from domain.process import (
    CaseSnapshot,
    CustomerContact,
    Decision,
    Event,
    InvalidEvent,
    Transition,
    TransitionTable,
)
from domain.satisfaction import choose_channel, is_low
from tests.unit.builders import POLICIES, calendars, case, sh

CALS = calendars()
CLOSED = sh(2026, 11, 20, 12, 0)
FACTS = {"opted_out": False, "contacts": ["email", "phone"], "preferred": None,
         "last_surveyed_at": None}


def opened(tier: Tier = Tier.B, at=CLOSED, assignee: str = "li.wei") -> CaseSnapshot:
    source = case(stage="closed", tier=tier, assignee=assignee, category="delivery",
                  channel="phone")
    return followup.open_followup(case_id=8, source=source, closed_by="confirm",
                                  policies=POLICIES, now=at).after


def fire(snapshot: CaseSnapshot, name: str, now, policies: PolicySet = POLICIES,
         **facts: Any) -> Decision | None:
    return followup.on_timer(snapshot, name, policies, CALS, now, {**FACTS, **facts})


def sent(tier: Tier = Tier.B) -> CaseSnapshot:
    decision = fire(opened(tier), "send_survey", sh(2026, 11, 21, 12, 0))
    assert decision is not None
    return decision.after


def calling(tier: Tier = Tier.B) -> CaseSnapshot:
    decision = fire(sent(tier), "open_call", sh(2026, 11, 26, 12, 0))
    assert decision is not None and decision.after.stage == "calling"
    return decision.after


def call(snapshot: CaseSnapshot, **data: Any) -> Decision:
    return followup.TABLE.decide(snapshot, Event("record_call", "li.wei", data), POLICIES, CALS,
                                 sh(2026, 11, 26, 15, 0))


def timers(snapshot: CaseSnapshot) -> dict[str, Any]:
    return {t.key: t.fire_at for t in followup.process_timers(snapshot, POLICIES)}


def test_confirmed_and_auto_closed_complaints_are_followed_up_withdrawn_ones_not() -> None:
    assert followup.follows("complaint", "confirm", POLICIES)
    assert followup.follows("complaint", "auto_close", POLICIES)
    assert not followup.follows("complaint", "withdraw", POLICIES)
    assert not followup.follows("pdca", "standardise", POLICIES)


def test_the_survey_is_due_a_day_after_closure_and_never_at_night() -> None:
    day = opened()
    assert (day.stage, day.team, day.tier, day.category, day.channel) == (
        "scheduled", "complaints", Tier.B, "delivery", "phone")
    assert (day.data["source_case"], day.data["agent"]) == (7, "li.wei")
    assert timers(day) == {"8:send_survey:0": sh(2026, 11, 21, 12, 0)}
    night = opened(at=sh(2026, 11, 20, 22, 0))
    assert timers(night) == {"8:send_survey:0": sh(2026, 11, 22, 9, 0)}


def test_sending_sets_the_link_s_expiry_the_reminder_and_the_call() -> None:
    after = sent()
    assert (after.stage, after.data["channel"]) == ("surveyed", "email")
    # P14D: to the end of 5 December, the day its messages name.
    expires = datetime.fromisoformat(after.data["expires_at"])
    assert expires == sh(2026, 12, 6, 0, 0)
    assert followup.last_day(expires, POLICIES.followup) == date(2026, 12, 5)
    assert timers(after) == {"8:reminder:0": sh(2026, 11, 23, 12, 0),
                             "8:open_call": sh(2026, 11, 26, 12, 0)}


@pytest.mark.parametrize(("facts", "reason"), [
    ({"opted_out": True}, "opted_out"),
    ({"contacts": []}, "no_contact"),
    ({"last_surveyed_at": sh(2026, 11, 1, 9, 0).isoformat()}, "surveyed_recently"),
])
def test_no_survey_when_the_customer_should_not_get_one(facts, reason) -> None:
    decision = fire(opened(), "send_survey", sh(2026, 11, 21, 12, 0), **facts)
    assert decision is not None
    assert (decision.after.stage, decision.after.data["outcome"]) == ("closed", reason)
    assert timers(decision.after) == {}


def test_a_survey_more_than_once_per_period_ago_does_not_hold_the_next_back() -> None:
    last = (sh(2026, 11, 21, 12, 0) - timedelta(days=30)).isoformat()
    decision = fire(opened(), "send_survey", sh(2026, 11, 21, 12, 0), last_surveyed_at=last)
    assert decision is not None and decision.after.stage == "surveyed"


def test_a_send_timer_that_fires_late_into_the_night_waits_for_the_morning() -> None:
    decision = fire(opened(), "send_survey", sh(2026, 11, 21, 23, 30))
    assert decision is not None
    after = decision.after
    assert after.stage == "scheduled" and decision.timeline[0].type == "postpone"
    assert timers(after) == {"8:send_survey:1": sh(2026, 11, 22, 9, 0)}  # a new key


def test_the_channel_is_the_preferred_contact_when_a_template_serves_it() -> None:
    both = ["email", "phone"]
    assert choose_channel(both, "phone", POLICIES) == "phone"
    assert choose_channel(both, None, POLICIES) == "email"
    assert choose_channel(["phone"], "email", POLICIES) == "phone"
    assert choose_channel([], None, POLICIES) is None
    sms_only = POLICIES.model_copy(update={"greetings": POLICIES.greetings.model_copy(
        update={"customer_channels": {"phone": "json://sms/{phone}"}})})
    assert choose_channel(both, "email", sms_only) == "phone"
    assert choose_channel(["email"], None, sms_only) is None


def test_the_reminder_goes_once_without_an_answer_and_not_after_an_opt_out() -> None:
    reminded = fire(sent(), "reminder", sh(2026, 11, 23, 12, 0))
    assert reminded is not None and reminded.after.stage == "reminded"
    assert timers(reminded.after) == {"8:open_call": sh(2026, 11, 26, 12, 0)}
    opted = fire(sent(), "reminder", sh(2026, 11, 23, 12, 0), opted_out=True)
    assert opted is not None and opted.after.data["outcome"] == "opted_out"
    assert fire(reminded.after, "reminder", sh(2026, 11, 23, 12, 1)) is None  # stale


def test_the_call_task_goes_to_the_agent_and_is_due_in_one_working_day() -> None:
    task = calling()
    assert task.assignee == "li.wei"
    clock = task.clocks[followup.CALL]
    assert (clock.calendar, clock.target) == ("cn-working-hours", timedelta(hours=8))
    # Thu 12:00 (lunch until 13:00) + 5 h that afternoon + 3 h on Friday morning.
    assert clock.due_at(CALS["cn-working-hours"]) == sh(2026, 11, 27, 12, 0)
    stranger = opened(assignee="somebody.gone")
    moved = fire(fire(stranger, "send_survey", sh(2026, 11, 21, 12, 0)).after, "open_call",
                 sh(2026, 11, 26, 12, 0))
    assert moved is not None and moved.after.assignee == "wang.fang"  # the supervisor


def test_the_assignee_is_told_whom_to_call_and_by_when_in_the_team_s_time() -> None:
    lin = CustomerContact(name="Lin", phone="13812345678", email="lin@example.com")
    task = fire(sent(), "open_call", sh(2026, 11, 26, 12, 0), customer=lin)
    assert task is not None
    [notice] = task.notices
    assert (notice.recipient, notice.role, notice.key) == ("li.wei", "assignee",
                                                           "8:call_opened:li.wei")
    assert notice.subject == ("[回访 #8] 回访电话任务：请于 2026-11-27 12:00 (UTC+08:00) 前致电 / "
                              "[followup #8] return-visit call task: call by "
                              "2026-11-27 12:00 (UTC+08:00)")
    zh, en = notice.body.split("\n\n")
    assert zh.startswith("您有一项回访电话任务：投诉 #7 的回访 #8（客户未答复调查）。")
    assert en == (
        "A return-visit call task is yours: follow-up #8 of complaint #7 (no answer to the "
        "survey). Call the customer by 2026-11-27 12:00 (UTC+08:00) and record each attempt "
        "(record_call, at most 3); the follow-up shows the number: "
        "http://127.0.0.1:8000/follow-ups/8\n"
        "Customer: Lin (tier B, phone 138****5678, e-mail l***@example.com).")


def test_with_no_phone_the_survey_stays_open_until_its_link_expires_then_closes() -> None:
    expires = sh(2026, 12, 6, 0, 0)
    waiting = fire(sent(), "open_call", sh(2026, 11, 26, 12, 0), contacts=["email"])
    assert waiting is not None and waiting.timeline[0].type == "no_call"
    assert (waiting.after.stage, waiting.notices) == ("surveyed", ())
    assert waiting.after.data["no_call"] == "no_phone"
    assert timers(waiting.after) == {"8:reminder:0": sh(2026, 11, 23, 12, 0),
                                     "8:link_expiry": expires}
    closed = fire(waiting.after, "link_expiry", expires, contacts=["email"])
    assert closed is not None
    assert (closed.after.stage, closed.after.data["outcome"]) == ("closed", "no_phone")
    # Fired after the link expired (the service was down), it closes at once.
    late = fire(sent(), "open_call", expires, contacts=["email"])
    assert late is not None and late.after.data["outcome"] == "no_phone"
    # A tier always called, with no phone: an answer closes it, before or after.
    answered = followup.answer(sent(Tier.A), scores={"csat": 4, "nps": 9}, comment=None,
                               opt_out=False, policies=POLICIES, calendars=CALS,
                               now=sh(2026, 11, 22, 10, 0)).after
    done = fire(answered, "open_call", sh(2026, 11, 26, 12, 0), contacts=["email"])
    assert done is not None and done.after.data["outcome"] == "answered"
    no_call = fire(sent(Tier.A), "open_call", sh(2026, 11, 26, 12, 0), contacts=["email"])
    assert no_call is not None
    later = followup.answer(no_call.after, scores={"csat": 4, "nps": 9}, comment=None,
                            opt_out=False, policies=POLICIES, calendars=CALS,
                            now=sh(2026, 11, 27, 10, 0))
    assert later.after.stage == "answered"


def test_no_reminder_goes_with_a_link_that_has_expired() -> None:
    # The service was down past the link's end: the reminder is obsolete.
    assert fire(sent(), "reminder", sh(2026, 12, 6, 0, 0)) is None
    assert fire(sent(), "reminder", sh(2026, 12, 5, 23, 59)) is not None  # night: postponed


def test_an_answer_closes_the_follow_up_but_a_tier_a_customer_is_still_called() -> None:
    scores = {"csat": 4, "nps": 9, "speed": 5}
    b = followup.answer(sent(), scores=scores, comment=" fine ", opt_out=False,
                        policies=POLICIES, calendars=CALS, now=sh(2026, 11, 22, 10, 0))
    assert (b.after.stage, b.after.data["outcome"]) == ("answered", "answered")
    assert b.after.data["answer"] == {"csat": 4, "nps": 9, "speed": 5, "comment": "fine",
                                      "via": "link", "at": sh(2026, 11, 22, 10, 0).isoformat(),
                                      "by": "customer"}
    a = followup.answer(sent(Tier.A), scores=scores, comment=None, opt_out=False,
                        policies=POLICIES, calendars=CALS, now=sh(2026, 11, 22, 10, 0))
    assert a.after.stage == "surveyed" and "outcome" not in a.after.data
    assert timers(a.after) == {"8:open_call": sh(2026, 11, 26, 12, 0)}  # no reminder
    task = fire(a.after, "open_call", sh(2026, 11, 26, 12, 0))
    assert task is not None and task.timeline[0].details["reason"] == "always_call_tier"
    done = call(task.after, reached=True, notes="thanked them")
    assert (done.after.stage, done.after.data["answer"]["via"]) == ("answered", "link")


@pytest.mark.parametrize(("scores", "field"), [
    ({"csat": 6, "nps": 9}, "csat"), ({"csat": 4, "nps": -1}, "nps"),
    ({"csat": True, "nps": 9}, "csat"), ({"csat": 4}, "nps"), ({"csat": 4, "nps": 9.5}, "nps"),
    ({"csat": 4, "nps": 9, "speed": 0}, "speed"),
])
def test_a_wrong_score_names_its_field(scores, field) -> None:
    with pytest.raises(InvalidEvent) as refused:
        followup.answer(sent(), scores=scores, comment=None, opt_out=False, policies=POLICIES,
                        calendars=CALS, now=sh(2026, 11, 22, 10, 0))
    assert refused.value.field == field


@pytest.mark.parametrize(("scores", "low"), [
    ({"csat": 2, "nps": 10}, True), ({"csat": 3, "nps": 7}, False),
    ({"csat": 5, "nps": 6}, True), ({"csat": 3}, False), ({"nps": 0}, True),
])
def test_low_means_csat_at_most_2_or_nps_at_most_6(scores, low) -> None:
    assert is_low(scores, POLICIES) is low


def test_calls_are_bounded_and_each_attempt_is_kept() -> None:
    task = calling()
    first = call(task, reached=False)
    second = call(first.after, reached=False)
    third = call(second.after, reached=False)
    assert [first.after.stage, second.after.stage, third.after.stage] == [
        "calling", "calling", "closed"]
    assert third.after.data["outcome"] == "unreached"
    assert [a["reached"] for a in third.after.data["attempts"]] == [False] * 3
    assert third.timeline[0].details["attempt"] == 3
    assert third.after.clocks[followup.CALL].state.value == "stopped"
    scored = call(first.after, reached=True, csat=2, nps=5, notes="courier was rude")
    assert (scored.after.stage, scored.timeline[0].details["low_score"]) == ("answered", True)
    assert scored.after.data["answer"]["comment"] == "courier was rude"
    silent = call(task, reached=True)
    assert (silent.after.stage, silent.after.data["outcome"]) == ("closed", "reached")


@pytest.mark.parametrize(("data", "field"), [
    ({}, "data.reached"), ({"reached": "yes"}, "data.reached"),
    ({"reached": False, "csat": 3}, "data.reached"), ({"reached": True, "csat": 9}, "data.csat"),
    ({"reached": True, "mood": "ok"}, "data"), ({"reached": True, "notes": "x" * 2001},
                                                "data.notes"),
    ({"reached": False, "opt_out": True}, "data.reached"),
])
def test_a_call_record_that_makes_no_sense_names_its_field(data, field) -> None:
    with pytest.raises(InvalidEvent) as refused:
        call(calling(), **data)
    assert refused.value.field == field


def test_agents_and_supervisors_record_calls_managers_do_not() -> None:
    followup.TABLE.authorize("record_call", AccessRole.agent)
    with pytest.raises(NotPermitted):
        followup.TABLE.authorize("record_call", AccessRole.manager)
    assert followup.TABLE.allowed_events("calling", role=AccessRole.agent) == [
        "add_note", "record_call"]
    assert "acknowledge_escalation" in followup.TABLE.allowed_events(
        "calling", role=AccessRole.supervisor)
    assert followup.TABLE.allowed_events("surveyed", role=AccessRole.agent) == ["add_note"]


def test_a_hook_may_only_choose_a_declared_stage() -> None:
    def wander(snapshot, event, policies, cals, now):
        return replace(snapshot, stage="b"), {}

    with pytest.raises(ValueError, match="targets need a hook"):
        TransitionTable(("a", "b"), frozenset({"b"}), (
            Transition("go", frozenset({"a"}), targets=frozenset({"b"})),))
    table = TransitionTable(("a", "b", "c"), frozenset({"c"}), (
        Transition("go", frozenset({"a"}), hook=wander, targets=frozenset({"a", "c"})),))
    with pytest.raises(AssertionError, match="undeclared stage 'b'"):
        table.decide(replace(case(), stage="a"), Event("go", "x"), POLICIES, CALS,
                     sh(2026, 11, 20, 10, 0))
