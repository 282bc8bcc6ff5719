"""Satisfaction follow-up in time travel, on SQLite and PostgreSQL.

Complaints are ordinary, tier B unless noted, confirmed on Friday 20 November 2026 at
12:00 Shanghai time (quiet hours 21:00-09:00). The survey goes 24 hours later (Sat
12:00), the reminder two days after it (Mon 12:00), the call task five days after it
(Thu 26, 12:00), due within 8 working hours (Thu 13:00-18:00, Fri 09:00-12:00), its
warning at 75% (Fri 10:00). Customers' e-mail and SMS go to the local receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from core.runtime import Runtime
from processes.followup.surveys import AlreadyAnswered, LinkExpired, answer_survey
from tests.conftest import sweep
from tests.store.followup_helpers import (
    answer_of,
    customer,
    followup_of,
    followup_runtime,
    live_timers,
    load,
    open_for,
    satisfaction_findings,
    settle,
    survey_of,
    token_in,
)
from tests.store.helpers import send, timeline
from tests.support import WebhookReceiver, shanghai


@pytest.fixture
def rt(database, clock, tmp_path, receiver) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    made = followup_runtime(database, clock, tmp_path / "policies", receiver)
    yield made
    made.engine.dispose()


def closed_at_noon(rt: Runtime, clock, **customer_fields) -> int:  # type: ignore[no-untyped-def]
    clock.set(shanghai(2026, 11, 20, 11, 0))
    case_id = open_for(rt, **customer_fields)
    clock.set(shanghai(2026, 11, 20, 12, 0))
    settle(rt, case_id)
    return case_id


def to_customers(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    return [(r.path, r.body["title"]) for r in receiver.all()
            if r.path.startswith(("/email/", "/sms/"))]


def answer_link(rt: Runtime, token: str, **answer: object) -> None:
    with Session(rt.engine, expire_on_commit=False) as session:
        answer_survey(session, token, answer, runtime=rt, now=rt.clock.now())


def test_a_closed_complaint_gets_survey_reminder_call_task_and_a_recorded_call(
        rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock)
    follow = followup_of(rt, complaint_id)
    assert (follow.process, follow.stage, follow.team, follow.customer_id) == (
        "followup", "scheduled", "complaints", load(rt, complaint_id).customer_id)
    assert "followup_opened" in [e.type for e in timeline(rt, complaint_id)]
    agent = load(rt, complaint_id).assignee

    clock.set(shanghai(2026, 11, 21, 11, 59, 59))
    sweep(rt)
    assert to_customers(receiver) == [] and followup_of(rt, complaint_id).stage == "scheduled"
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    assert to_customers(receiver) == [("/email/lin@example.com", "您对我们的服务满意吗？")]
    survey = survey_of(rt, follow.id)
    assert survey is not None and survey.sent_via == "email" and survey.agent == agent
    assert survey.expires_at == shanghai(2026, 12, 6, 0, 0)  # P14D, to the day's end
    link = token_in(receiver.all()[-1].body["message"])

    clock.set(shanghai(2026, 11, 23, 12, 0))
    sweep(rt)
    assert to_customers(receiver)[-1] == ("/email/lin@example.com", "提醒：您对我们的服务满意吗？")
    assert token_in(receiver.all()[-1].body["message"]) == link  # the same link again
    assert followup_of(rt, complaint_id).stage == "reminded"

    clock.set(shanghai(2026, 11, 26, 12, 0))
    sweep(rt)
    task = followup_of(rt, complaint_id)
    assert (task.stage, task.assignee) == ("calling", agent)
    # The agent hears of the task when it opens, not at the warning hours later.
    [told] = receiver.for_person(agent or "")
    assert told.body["title"].endswith(f" / [followup #{task.id}] return-visit call task: "
                                       "call by 2026-11-27 12:00 (UTC+08:00)")
    assert told.headers["Idempotency-Key"] == f"{task.id}:call_opened:{agent}"
    assert f"follow-up #{task.id} of complaint #{complaint_id}" in told.body["message"]
    assert "Customer: Lin (tier B, phone 138****5678" in told.body["message"]
    clock.set(shanghai(2026, 11, 27, 10, 0))  # 75% of 8 working hours
    sweep(rt)
    assert [r.body["title"] for r in receiver.for_person(agent or "")][1:] == [
        f"[回访 #{task.id}] 预警：回访电话已达 75%，截止 2026-11-27 12:00 (UTC+08:00)："
        f"Follow-up of #{complaint_id}: parcel arrived broken / [followup #{task.id}] warning: "
        f"call at 75%, due 2026-11-27 12:00 (UTC+08:00): Follow-up of #{complaint_id}: parcel "
        "arrived broken"]

    clock.set(shanghai(2026, 11, 27, 10, 30))
    send(rt, task.id, "record_call", actor=agent or "", reached=False)
    assert followup_of(rt, complaint_id).stage == "calling"
    clock.set(shanghai(2026, 11, 27, 11, 0))
    send(rt, task.id, "record_call", actor=agent or "", reached=True, csat=4, nps=9, speed=4,
         attitude=5, resolution=4, notes="happy with the refund")
    done = followup_of(rt, complaint_id)
    assert (done.stage, done.data["outcome"], len(done.data["attempts"])) == (
        "answered", "answered", 2)
    answer = answer_of(rt, survey.id or 0)
    assert answer is not None
    assert (answer.via, answer.csat, answer.nps, answer.recorded_by) == ("call", 4, 9, agent)
    assert satisfaction_findings(rt) == [] and "recovery_case" not in done.data
    # The call spent the link; nothing is left to fire, now or later.
    with pytest.raises(AlreadyAnswered):
        answer_link(rt, link, csat=5, nps=10)
    assert live_timers(rt, task.id) == []
    clock.set(shanghai(2026, 12, 10, 12, 0))
    before = len(receiver.all())
    sweep(rt)
    assert len(receiver.all()) == before


def test_a_low_score_opens_a_recovery_complaint_and_a_backlog_finding(rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock)
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    link = token_in(receiver.all()[-1].body["message"])
    clock.set(shanghai(2026, 11, 21, 15, 0))
    answer_link(rt, link, csat=1, nps=3, attitude=2, comment="nobody called me back")

    follow = followup_of(rt, complaint_id)
    assert (follow.stage, follow.data["answer"]["via"]) == ("answered", "link")
    recovery = load(rt, follow.data["recovery_case"])
    source = load(rt, complaint_id)
    assert (recovery.process, recovery.priority, recovery.team, recovery.customer_id) == (
        "complaint", "recovery", source.team, source.customer_id)
    # It was given no contact: its team knows the customer through the complaint.
    assert recovery.data == {"recovery_of": complaint_id, "followup": follow.id,
                             "contact_given": []}
    assert "nobody called me back" in recovery.description
    # Its team reads it in Simplified Chinese first, English beside, no code names.
    assert recovery.subject.startswith("服务补救：") and " / Service recovery: " in recovery.subject
    zh, en = recovery.description.split("\n\n")
    assert zh.startswith(f"工单 #{complaint_id} 之后满意度低："
                         "CSAT 1、NPS 3、态度 2（经由调查链接）")
    assert en.startswith(f"Low satisfaction after case #{complaint_id}: CSAT 1, NPS 3, "
                         "attitude 2 (via the survey link)")
    [finding] = satisfaction_findings(rt)
    assert (finding.team, finding.case_ids, finding.status) == (
        source.team, [complaint_id, recovery.id], "open")
    assert finding.figures["csat"] == 1 and finding.figures["nps"] == 3
    assert finding.id == follow.data["finding"]
    # For the team's staff: Simplified Chinese first, English beside, no code names.
    c = complaint_id
    assert finding.title == (f"工单 #{c} 之后满意度低：CSAT 1、NPS 3、态度 2 / "
                             f"Low satisfaction after case #{c}: CSAT 1, NPS 3, attitude 2")
    zh, en, said = finding.description.split("\n")
    assert zh.startswith(f"客户通过调查链接为工单 #{c}（") and "评分 CSAT 1、NPS 3、态度 2" in zh
    assert en.endswith(f"CSAT 1, NPS 3, attitude 2 via the survey link. Recovery case "
                       f"#{recovery.id} is open.")
    assert said == "客户留言：nobody called me back / They said: nobody called me back"
    assert {"recovery_opened", "followup_opened"} <= {e.type for e in timeline(rt, complaint_id)}
    # The recovery case answers within 4 hours: its warning comes at 3 (75%).
    clock.set(shanghai(2026, 11, 21, 18, 0))
    sweep(rt)
    assert [(e.details["clock"], e.details["step"]) for e in timeline(rt, recovery.id or 0)
            if e.type == "sla_warning"] == [("first_response", "warning")]
    # Answered: no reminder on Monday, no call on Thursday.
    assert live_timers(rt, follow.id or 0) == []
    clock.set(shanghai(2026, 11, 26, 12, 0))
    sweep(rt)
    assert [t for _, t in to_customers(receiver)] == ["您对我们的服务满意吗？"]


def test_a_recovery_case_goes_to_someone_other_than_the_agent_rated_low(rt, clock, receiver):
    clock.set(shanghai(2026, 11, 20, 11, 0))
    rated = open_for(rt)
    for n in (1, 2):  # one complaint each for the two others: the rated agent has fewest
        open_for(rt, ref=f"other-{n}", email=f"other{n}@example.com", phone=f"1390000000{n}")
    agent = load(rt, rated).assignee
    clock.set(shanghai(2026, 11, 20, 12, 0))
    settle(rt, rated)
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    [survey] = [r for r in receiver.all() if r.path == "/email/lin@example.com"]
    answer_link(rt, token_in(survey.body["message"]), csat=1, nps=2)
    recovery = load(rt, followup_of(rt, rated).data["recovery_case"])
    assert recovery.assignee in {"li.wei", "zhang.min", "chen.jing"} - {agent}


def test_with_no_phone_the_link_answers_until_the_day_its_message_promised(
        rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock, phone=None)
    agent = load(rt, complaint_id).assignee
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    message = receiver.all()[-1].body["message"]
    assert "（2026-12-05 前有效）" in message
    # The day the call task would open: no call (no phone), and no closing either.
    clock.set(shanghai(2026, 11, 26, 12, 0))
    sweep(rt)
    follow = followup_of(rt, complaint_id)
    assert (follow.stage, follow.data["no_call"], follow.assignee) == (
        "reminded", "no_phone", None)
    assert receiver.for_person(agent or "") == []
    clock.set(shanghai(2026, 12, 5, 23, 0))  # late on the promised day
    sweep(rt)
    answer_link(rt, token_in(message), csat=4, nps=9)
    assert followup_of(rt, complaint_id).data["outcome"] == "answered"


def test_with_no_phone_and_no_answer_the_follow_up_closes_when_its_link_expires(
        rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock, phone=None)
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    link = token_in(receiver.all()[-1].body["message"])
    for moment in (shanghai(2026, 11, 23, 12, 0), shanghai(2026, 11, 26, 12, 0),
                   shanghai(2026, 12, 5, 23, 59, 59)):  # reminder, no call, last second
        clock.set(moment)
        sweep(rt)
    assert followup_of(rt, complaint_id).stage == "reminded"
    clock.set(shanghai(2026, 12, 6, 0, 0))
    sweep(rt)
    follow = followup_of(rt, complaint_id)
    assert (follow.stage, follow.data["outcome"]) == ("closed", "no_phone")
    assert live_timers(rt, follow.id or 0) == []
    with pytest.raises(LinkExpired):
        answer_link(rt, link, csat=4, nps=9)


def test_after_downtime_a_reminder_goes_only_with_a_link_that_still_answers(
        rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock, phone=None)
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    # Down from Saturday until the next Friday: reminder and call task are due together.
    clock.set(shanghai(2026, 11, 27, 10, 0))
    sweep(rt)
    assert to_customers(receiver)[-1] == ("/email/lin@example.com", "提醒：您对我们的服务满意吗？")
    answer_link(rt, token_in(receiver.all()[-1].body["message"]), csat=5, nps=10)
    assert followup_of(rt, complaint_id).data["outcome"] == "answered"


def test_after_downtime_past_the_link_s_end_no_reminder_goes(rt, clock, receiver):
    complaint_id = closed_at_noon(rt, clock, phone=None)
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    clock.set(shanghai(2026, 12, 7, 10, 0))  # reminder, call and the link's end all due
    sweep(rt)
    assert to_customers(receiver) == [("/email/lin@example.com", "您对我们的服务满意吗？")]
    follow = followup_of(rt, complaint_id)
    assert (follow.stage, follow.data["outcome"]) == ("closed", "no_phone")


def test_a_survey_due_at_22_00_is_delivered_at_09_00(rt, clock, receiver):
    clock.set(shanghai(2026, 11, 20, 21, 30))
    complaint_id = open_for(rt)
    clock.set(shanghai(2026, 11, 20, 22, 0))
    settle(rt, complaint_id)
    send_at = datetime.fromisoformat(followup_of(rt, complaint_id).data["send_at"])
    assert send_at == shanghai(2026, 11, 22, 9, 0)  # due Saturday 22:00, in quiet hours
    for moment in (shanghai(2026, 11, 21, 22, 0), shanghai(2026, 11, 22, 8, 59, 59)):
        clock.set(moment)
        sweep(rt)
        assert to_customers(receiver) == []
    clock.set(shanghai(2026, 11, 22, 9, 0))
    sweep(rt)
    assert to_customers(receiver) == [("/email/lin@example.com", "您对我们的服务满意吗？")]
    assert survey_of(rt, followup_of(rt, complaint_id).id or 0).issued_at == shanghai(
        2026, 11, 22, 9, 0)


def test_a_survey_due_while_the_service_was_down_waits_for_the_morning(rt, clock, receiver):
    clock.set(shanghai(2026, 11, 20, 19, 0))
    complaint_id = open_for(rt)
    clock.set(shanghai(2026, 11, 20, 20, 0))
    settle(rt, complaint_id)  # due Saturday 20:00; the service is down until 23:30
    clock.set(shanghai(2026, 11, 21, 23, 30))
    sweep(rt)
    follow = followup_of(rt, complaint_id)
    assert follow.stage == "scheduled" and to_customers(receiver) == []
    assert [e.type for e in timeline(rt, follow.id or 0)][-1] == "postpone"
    clock.set(shanghai(2026, 11, 22, 9, 0))
    sweep(rt)
    sweep(rt)
    assert to_customers(receiver) == [("/email/lin@example.com", "您对我们的服务满意吗？")]


def test_opted_out_unreachable_and_recently_surveyed_customers_get_no_survey(
        rt, clock, receiver):
    opted = closed_at_noon(rt, clock, ref="ma", name="Ma", opt_out=True)
    silent = closed_at_noon(rt, clock, ref="qian", name="Qian", email=None, phone=None)
    first = closed_at_noon(rt, clock, ref="hu", name="Hu", email="hu@example.com")
    second = closed_at_noon(rt, clock, ref="hu", name="Hu", email="hu@example.com")
    withdrawn = open_for(rt, ref="zhou", email="zhou@example.com")
    send(rt, withdrawn, "withdraw")
    assert "followup" not in load(rt, withdrawn).data  # withdrawn: no survey
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    outcomes = {name: (followup_of(rt, case_id).stage, followup_of(rt, case_id).data.get(
        "outcome")) for name, case_id in (("opted", opted), ("silent", silent),
                                          ("first", first), ("second", second))}
    assert outcomes == {"opted": ("closed", "opted_out"), "silent": ("closed", "no_contact"),
                        "first": ("surveyed", None),
                        "second": ("closed", "surveyed_recently")}
    assert to_customers(receiver) == [("/email/hu@example.com", "您对我们的服务满意吗？")]


def test_the_preferred_channel_is_used_and_an_opt_out_on_the_form_is_kept(
        rt, clock, receiver):
    closed_at_noon(rt, clock, preferred="phone")
    clock.set(shanghai(2026, 11, 21, 12, 0))
    sweep(rt)
    assert to_customers(receiver) == [("/sms/13812345678", "您对我们的服务满意吗？")]
    answer_link(rt, token_in(receiver.all()[-1].body["message"]), csat=4, nps=8,
                opt_out=True)
    assert customer(rt, "lin").survey_opt_out is True
    again = closed_at_noon(rt, clock)  # a later complaint: no survey for them any more
    clock.set(shanghai(2026, 11, 21, 12, 0) + timedelta(days=40))
    sweep(rt)
    assert followup_of(rt, again).data["outcome"] == "opted_out"
    assert len(to_customers(receiver)) == 1


def test_an_auto_closed_complaint_is_followed_up_and_tier_a_is_called_after_answering(
        rt, clock, receiver):
    clock.set(shanghai(2026, 11, 20, 11, 0))
    complaint_id = open_for(rt, tier="A")
    send(rt, complaint_id, "acknowledge")
    send(rt, complaint_id, "resolve")
    clock.set(shanghai(2026, 11, 23, 11, 0))  # P3D without a word: auto-close
    sweep(rt)
    follow = followup_of(rt, complaint_id)
    assert follow.data["closed_by"] == "auto_close"
    clock.set(shanghai(2026, 11, 24, 11, 0))
    sweep(rt)
    answer_link(rt, token_in(receiver.all()[-1].body["message"]), csat=5, nps=10)
    assert followup_of(rt, complaint_id).stage == "surveyed"  # the call still comes
    clock.set(shanghai(2026, 11, 29, 11, 0))
    sweep(rt)
    task = followup_of(rt, complaint_id)
    assert task.stage == "calling"
    send(rt, task.id or 0, "record_call", actor="li.wei", reached=True, notes="thanked")
    assert followup_of(rt, complaint_id).stage == "answered"
    assert [t for _, t in to_customers(receiver)] == ["您对我们的服务满意吗？"]  # no reminder
