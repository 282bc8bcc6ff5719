"""Crisis rules without a database: severity, obligations, notices, review, timers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.access import AccessRole, ActorKind, NotPermitted
from domain.clocks import ClockState
from domain.crisis import rules as crisis
from domain.process import CaseSnapshot, Decision, Event, IllegalTransition, InvalidEvent
from domain.timers import BATCH, plan_escalation_timers
from tests.unit.builders import POLICIES, calendars, minutes, sh

NOW = sh(2026, 11, 20, 10, 0)
CALS = calendars()
POLICY = crisis.policy_of(POLICIES)


def candidate(spike: dict[str, Any] | None = None) -> Decision:
    return crisis.open_candidate(
        case_id=9, title="Depot fire", description="", category="delivery",
        team="complaints", actor="system" if spike else "wang.fang",
        actor_kind=ActorKind.system if spike else ActorKind.person, spike=spike,
        policies=POLICIES, now=NOW)


def step(case: CaseSnapshot, event: str, at=NOW, actor: str = "wang.fang",  # type: ignore[no-untyped-def]
         **data: Any) -> Decision:
    return crisis.TABLE.decide(case, Event(event, actor, data), POLICIES, CALS, at)


def confirmed(likelihood: str = "likely", impact: str = "severe", **extra: Any
              ) -> CaseSnapshot:
    return step(candidate().after, "confirm", likelihood=likelihood, impact=impact,
                **extra).after


def due(case: CaseSnapshot, clock: str):  # type: ignore[no-untyped-def]
    return case.clocks[clock].due_at(CALS[case.clocks[clock].calendar])


@pytest.mark.parametrize(("likelihood", "impact", "severity"), [
    ("likely", "severe", "S1"), ("possible", "severe", "S1"), ("possible", "major", "S2"),
    ("possible", "moderate", "S3"), ("unlikely", "minor", "S4"), ("certain", "minor", "S3"),
])
def test_severity_is_the_matrix_cell_of_likelihood_and_impact(likelihood, impact, severity):
    case = confirmed(likelihood, impact)
    assert (case.data["severity"], case.priority) == (severity, severity)


@pytest.mark.parametrize(("severity", "team", "notice", "update"), [
    ("S1", minutes(15), minutes(60), minutes(30)),
    ("S2", minutes(30), minutes(240), minutes(120)),
    ("S3", minutes(240), minutes(1440), timedelta(days=1)),
])
def test_each_severity_starts_its_obligations_at_confirmation(severity, team, notice, update):
    impact = {"S1": "severe", "S2": "major", "S3": "moderate"}[severity]
    case = confirmed("possible", impact)
    assert case.data["severity"] == severity
    assert (due(case, "team"), due(case, "first_notice"), due(case, "update_1")) == (
        NOW + team, NOW + notice, NOW + update)
    assert case.clocks["triage"].state is ClockState.stopped


def test_s4_owes_no_public_notice():
    case = confirmed("unlikely", "minor")
    assert "first_notice" not in case.clocks and {"team", "update_1"} <= set(case.clocks)


def test_a_severity_off_the_matrix_needs_a_reason_on_the_timeline():
    with pytest.raises(InvalidEvent) as caught:
        step(candidate().after, "confirm", likelihood="possible", impact="minor",
             severity="S2")
    assert caught.value.field == "data.reason"
    decision = step(candidate().after, "confirm", likelihood="possible", impact="minor",
                    severity="S2", reason="press coverage")
    assert decision.after.data["severity"] == "S2"
    assert decision.timeline[0].details["reason"] == "press coverage"
    assert decision.timeline[0].details["matrix_severity"] == "S4"
    assert decision.after.data["overrides"] == [
        {"from": "S4", "to": "S2", "reason": "press coverage", "by": "wang.fang",
         "at": NOW.isoformat()}]


def test_an_override_retargets_the_obligations_and_records_why():
    case = confirmed("unlikely", "minor")  # S4: team within P1D, no notice
    later = NOW + minutes(20)
    with pytest.raises(InvalidEvent, match="data.reason"):
        step(case, "override_severity", at=later, severity="S1")
    decision = step(case, "override_severity", at=later, severity="S1",
                    reason="a video went viral")
    after = decision.after
    assert (after.priority, after.data["overrides"][0]["from"]) == ("S1", "S4")
    assert decision.timeline[0].details == {"severity": "S1", "reason": "a video went viral",
                                            "from": "S4", "to": "S1",
                                            "stage_from": "confirmed", "stage_to": "confirmed"}
    # Measured from the confirmation: the team is 5 minutes late already.
    assert (due(after, "team"), due(after, "first_notice"), due(after, "update_1")) == (
        NOW + minutes(15), NOW + minutes(60), NOW + minutes(30))
    back = step(after, "override_severity", at=later, severity="S4", reason="contained")
    assert back.after.clocks["first_notice"].state is ClockState.stopped


def test_a_dismissal_needs_a_reason_and_is_final():
    with pytest.raises(InvalidEvent, match="data.reason"):
        step(candidate().after, "dismiss")
    gone = step(candidate().after, "dismiss", reason="one courier's route only").after
    assert gone.stage == "dismissed" and gone.data["dismissal"] == "one courier's route only"
    with pytest.raises(IllegalTransition):
        step(gone, "confirm", likelihood="likely", impact="severe")


def test_each_update_resets_the_next_due_time():
    case = confirmed()
    first = step(case, "post_update", at=NOW + minutes(20), summary="working on it").after
    assert first.clocks["update_1"].state is ClockState.stopped
    assert first.clocks["update_1"].met(CALS["24x7"]) is True
    assert due(first, "update_2") == NOW + minutes(50)
    ladder = crisis.ladder(POLICIES)
    keys = {t.key for t in plan_escalation_timers(first, ladder, CALS)}
    assert "9:update_2:0" in keys and not any(k.startswith("9:update_1") for k in keys)


def test_a_notice_is_drafted_from_its_template_approved_by_another_and_published():
    case = step(confirmed(), "assemble_team", lead="wang.fang", members=["li.wei"]).after
    drafted = step(case, "draft_notice", channel="website", summary="Deliveries are late.")
    notice = drafted.after.data["notices"][0]
    assert notice["subject"] == "服务公告：Depot fire"
    assert notice["body"] == ("Deliveries are late.\n我们将在 2026-11-20 10:30 (UTC+08:00) "
                              "前发布下一次更新。")
    assert [n.recipient for n in drafted.notices] == ["liu.yang"]  # the manager approves
    with pytest.raises(InvalidEvent, match="someone other"):
        step(drafted.after, "approve_notice", notice=1)
    approved = step(drafted.after, "approve_notice", actor="liu.yang", notice=1).after
    with pytest.raises(InvalidEvent, match="promises the next update by 2026-11-20 10:30"):
        step(approved, "publish_notice", at=NOW + minutes(30), notice=1)  # 10:30 has come
    published = step(approved, "publish_notice", at=NOW + minutes(29), notice=1)
    assert published.after.clocks["first_notice"].state is ClockState.stopped
    [sent] = published.notices
    assert (sent.recipient, sent.key) == ("channel:crisis:website", "crisis:9:notice:1")
    with pytest.raises(InvalidEvent, match="published, not approved"):
        step(published.after, "publish_notice", notice=1)


def test_an_internal_notice_does_not_meet_the_public_notice_obligation():
    case = confirmed()
    drafted = step(case, "draft_notice", channel="internal", summary="All hands.").after
    approved = step(drafted, "approve_notice", actor="liu.yang", notice=1).after
    published = step(approved, "publish_notice", notice=1).after
    assert published.clocks["first_notice"].state is ClockState.running


@pytest.mark.parametrize(("data", "field"), [
    ({"channel": "radio", "summary": "x"}, "data.channel"),
    ({"channel": "website"}, "data.summary"),
    ({"channel": "website", "summary": "  "}, "data.summary"),
])
def test_a_bad_draft_names_its_field(data, field):
    with pytest.raises(InvalidEvent) as caught:
        step(confirmed(), "draft_notice", **data)
    assert caught.value.field == field


def test_only_managers_and_directors_approve_notices():
    crisis.TABLE.authorize("approve_notice", AccessRole.manager)
    with pytest.raises(NotPermitted):
        crisis.TABLE.authorize("approve_notice", AccessRole.supervisor)
    with pytest.raises(NotPermitted):
        crisis.TABLE.authorize("confirm", AccessRole.agent)


def resolved() -> CaseSnapshot:
    case = step(confirmed(), "assemble_team", lead="wang.fang", members=["li.wei"]).after
    return step(case, "resolve", at=NOW + minutes(90), summary="done").after


def test_resolution_stops_the_obligations_and_starts_the_review_clock():
    case = resolved()
    running = {n for n, c in case.clocks.items() if c.state is ClockState.running}
    assert running == {"review"}
    # Fri 11:30 + 40 working hours (09-12, 13-18): the next Friday 11:30.
    assert due(case, "review") == sh(2026, 11, 27, 11, 30)


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "cash", "value": 10}, "data.kind"), ({"kind": "coupon", "value": 0},
                                                  "data.value"),
    ({"kind": "coupon", "value": 1001}, "data.value"), ({"kind": "coupon", "value": True},
                                                       "data.value"),
])
def test_compensation_is_a_kind_and_value_the_policy_allows(data, field):
    with pytest.raises(InvalidEvent) as caught:
        step(resolved(), "start_compensation", **data)
    assert caught.value.field == field


def test_the_compensation_batch_is_a_batch_timer_due_at_once_and_new_per_run():
    case = resolved()
    assert crisis.process_timers(case, POLICIES) == []
    running = step(case, "start_compensation", at=NOW + minutes(95), kind="points",
                   value=200).after
    [timer] = crisis.process_timers(running, POLICIES)
    assert (timer.key, timer.kind, timer.fire_at) == ("9:compensation:1", BATCH,
                                                      NOW + minutes(95))
    with pytest.raises(IllegalTransition):
        step(running, "compensation_done", customers=1, issued_now=1, total_value=200)


@pytest.mark.parametrize(("data", "field"), [
    ({"root_cause": "x", "actions": ["a"]}, "data.what_happened"),
    ({"what_happened": "x", "root_cause": "y", "actions": []}, "data.actions"),
    ({"what_happened": "x", "root_cause": "y", "actions": ["a"], "blame": "z"}, "data"),
    ({"what_happened": "x", "root_cause": "y", "actions": ["a"],
      "pdca": {"kpi": "csat", "target": 0.9}}, "data.pdca.kpi"),
])
def test_a_review_names_what_is_missing(data, field):
    reviewing = step(resolved(), "skip_compensation", reason="no customer impact").after
    with pytest.raises(InvalidEvent) as caught:
        step(reviewing, "complete_review", **data)
    assert caught.value.field == field


def test_a_completed_review_closes_the_crisis_with_its_plan():
    reviewing = step(resolved(), "skip_compensation", reason="no customer impact").after
    done = step(reviewing, "complete_review", what_happened="fire", root_cause="one depot",
                actions=["second depot"], pdca={"kpi": "complaint_on_time_rate",
                                                "target": 0.95})
    assert done.after.stage == "closed"
    assert done.after.data["review"]["pdca"]["problem"] == "one depot"
    assert all(c.state is ClockState.stopped for c in done.after.clocks.values())


def test_a_detected_candidate_tells_the_supervisor_and_manager_once():
    spike = {"count": 20, "window": "PT1H", "since": NOW.isoformat(), "complaints": [1]}
    decision = candidate(spike)
    assert decision.after.data["raised_by"] == "detected"
    assert sorted((n.recipient, n.key) for n in decision.notices) == [
        ("liu.yang", "crisis:9:candidate:liu.yang"), ("wang.fang", "crisis:9:candidate:wang.fang")]
    assert candidate().notices == ()  # a supervisor who raised one knows already
    assert due(decision.after, "triage") == NOW + minutes(30)


def test_a_missed_obligation_climbs_the_crisis_ladder():
    case = confirmed()
    ladder = crisis.ladder(POLICIES)
    timers = {t.name: t.fire_at for t in plan_escalation_timers(case, ladder, CALS)}
    assert timers == {"team": NOW + minutes(15 * 0.75), "first_notice": NOW + minutes(45),
                      "update_1": NOW + minutes(22.5)}
    fired = replace(case, clocks={**case.clocks, "team": replace(case.clocks["team"],
                                                                 steps_fired=1)})
    timers = {t.name: t.fire_at for t in plan_escalation_timers(fired, ladder, CALS)}
    assert timers["team"] == NOW + minutes(15)


def test_a_confirmation_tells_the_team_s_line_what_is_due_in_local_time():
    decision = step(candidate().after, "confirm", likelihood="likely", impact="severe")
    assert sorted(n.recipient for n in decision.notices) == ["liu.yang", "wang.fang",
                                                             "zhao.lei"]
    body = decision.notices[0].body
    zh, en = body.split("\n\n")
    assert zh.startswith("危机 #9 级别为 S1。截止：组建团队截止 2026-11-20 10:15 (UTC+08:00)、"
                         "首次公告截止 2026-11-20 11:00 (UTC+08:00)、"
                         "第 1 次状态更新截止 2026-11-20 10:30 (UTC+08:00)。")
    assert en == ("Crisis #9 is S1. Due: team by 2026-11-20 10:15 (UTC+08:00), "
                  "first notice by 2026-11-20 11:00 (UTC+08:00), "
                  "update 1 by 2026-11-20 10:30 (UTC+08:00).\n"
                  "Open the case: http://127.0.0.1:8000/crises/9")


def published_public_notice(case: CaseSnapshot) -> CaseSnapshot:
    drafted = step(case, "draft_notice", channel="website", summary="We know.").after
    approved = step(drafted, "approve_notice", actor="liu.yang", notice=1).after
    return step(approved, "publish_notice", notice=1).after


def test_a_public_notice_already_out_meets_the_notice_a_raised_severity_owes():
    case = published_public_notice(confirmed("unlikely", "minor"))  # S4: none owed
    raised = step(case, "override_severity", at=NOW + minutes(90), severity="S1",
                  reason="it spread").after
    assert "first_notice" not in raised.clocks  # no clock to breach at once


def test_a_notice_owed_again_after_a_round_trip_through_s4_runs_again():
    lowered = step(confirmed(), "override_severity", severity="S4", reason="contained").after
    assert lowered.clocks["first_notice"].state is ClockState.stopped
    raised = step(lowered, "override_severity", at=NOW + minutes(20), severity="S1",
                  reason="it flared up").after
    assert raised.clocks["first_notice"].state is ClockState.running
    assert due(raised, "first_notice") == NOW + minutes(60)  # from confirmation
