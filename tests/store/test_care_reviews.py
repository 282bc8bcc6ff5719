"""Care reviews and the plain ones, on SQLite and PostgreSQL: greetings, skill reminders,
the SLA digest, and a satisfaction review of a month without surveys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlmodel import Session

from core.runtime import Runtime
from domain.reviews.model import Trigger
from engine.models import Customer
from processes.reviews.runs import run_due_review
from tests.conftest import sweep
from tests.store.helpers import open_complaint, send
from tests.store.review_helpers import outbox, reviews_runtime, runs
from tests.support import WebhookReceiver, shanghai


@pytest.fixture
def care(database, clock, tmp_path, receiver) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    sms = f"json://127.0.0.1:{receiver.port}/sms/{{phone}}"  # a phone gateway, as a webhook
    rt = reviews_runtime(database, clock, tmp_path / "policies", receiver=receiver,
                         greetings={"customer_channels": {"phone": sms}})
    yield rt
    rt.engine.dispose()


def _customers(rt: Runtime) -> dict[str, int]:
    people = {
        "lin": Customer(name="Lin", phone="13812345678", birthday=date(1990, 11, 20),
                        greetings_consent=True),
        "no-consent": Customer(name="Ma", phone="13900000000", birthday=date(1985, 11, 20)),
        "no-contact": Customer(name="Qian", birthday=date(1970, 11, 20),
                               greetings_consent=True),
        "leap": Customer(name="Hu", phone="13700000000", birthday=date(2000, 2, 29),
                         greetings_consent=True),
    }
    with Session(rt.engine, expire_on_commit=False) as session:
        for customer in people.values():
            customer.created_at = rt.clock.now()
            session.add(customer)
        session.commit()
        return {key: c.id for key, c in people.items() if c.id is not None}


def _greet(rt: Runtime, clock, *day: int) -> dict:  # type: ignore[no-untyped-def]
    return _greeting_run(rt, clock, *day).result["greetings"]


def _greeting_run(rt: Runtime, clock, *day: int):  # type: ignore[no-untyped-def]
    clock.set(shanghai(*day, 8, 0))
    run = run_due_review(rt, "daily-greetings").run
    assert run is not None and run.status == "succeeded", run
    return run


def test_birthday_greetings_reach_consenting_customers_with_a_contact_only(
        care, clock, receiver: WebhookReceiver):
    ids = _customers(care)
    counts = _greet(care, clock, 2026, 11, 20)
    assert counts == {"date": "2026-11-20", "holiday_name": None, "birthday": 1, "holiday": 0,
                      "skipped_without_contact": 1}
    [message] = outbox(care, role="customer")
    assert (message.recipient, message.key) == (f"customer:{ids['lin']}",
                                                f"greeting:2026-11-20:{ids['lin']}")
    assert message.body == "Lin您好，祝您生日快乐！感谢您一直以来的支持。"
    sweep(care)
    [post] = receiver.all()
    assert post.path == "/sms/13812345678"  # the phone template of the greetings policy
    assert post.body["title"] == "服务团队祝您生日快乐"
    assert "[key" not in post.body["message"]  # customers get the message, not our keys
    # The same day again: no second run, no second greeting.
    clock.advance(timedelta(hours=2))
    assert not run_due_review(care, "daily-greetings", trigger=Trigger.manual).created
    assert len(outbox(care, role="customer")) == 1


def test_a_29_february_birthday_is_greeted_on_28_february_in_other_years(care, clock):
    ids = _customers(care)
    assert _greet(care, clock, 2027, 2, 28)["birthday"] == 1
    assert _greet(care, clock, 2028, 2, 28)["birthday"] == 0  # 2028 has its own 29th
    assert _greet(care, clock, 2028, 2, 29)["birthday"] == 1
    assert [m.recipient for m in outbox(care, role="customer")] == [f"customer:{ids['leap']}"] * 2


def test_holiday_greetings_on_the_first_day_of_a_public_holiday(care, clock):
    ids = _customers(care)
    run = _greeting_run(care, clock, 2026, 10, 1)
    national_day = run.result["greetings"]
    # The holiday named in each language; the day as each writes it.
    assert run.result["summary"] == [
        "2026年10月1日：已为国庆节排队 0 条生日祝福和 2 条节日祝福；"
        "1 位同意接收的客户没有联系方式。\n"
        "Oct 1, 2026: 0 birthday greetings and 2 holiday greetings queued for National Day; "
        "1 consenting customer has no contact."]
    assert national_day == {"date": "2026-10-01", "holiday_name": "国庆节",
                            "birthday": 0, "holiday": 2, "skipped_without_contact": 1}
    assert {m.recipient for m in outbox(care, role="customer")} == {
        f"customer:{ids['lin']}", f"customer:{ids['leap']}"}
    assert outbox(care, role="customer")[0].subject == "节日问候：国庆节"
    # Its second day, a make-up day off (调休) and an ordinary day greet nobody.
    for day in ((2026, 10, 2), (2026, 10, 7), (2026, 10, 12)):
        assert _greet(care, clock, *day)["holiday"] == 0
    assert len(outbox(care, role="customer")) == 2


def test_the_quarterly_reminder_reaches_each_teams_supervisor(care, clock, receiver):
    clock.set(shanghai(2027, 1, 1, 9, 0))
    run = run_due_review(care, "quarterly-skill-assessment-reminder").run
    assert run is not None and run.result["period"]["start"] == "2027-01-01T00:00:00+08:00"
    messages = outbox(care, role="supervisor")
    assert [(m.recipient, m.key) for m in messages] == [
        ("wang.fang", "review:quarterly-skill-assessment-reminder:2027-Q1:billing"),
        ("wang.fang", "review:quarterly-skill-assessment-reminder:2027-Q1:complaints")]
    assert "li.wei, zhang.min, chen.jing" in messages[1].body
    sweep(care)
    [digest] = receiver.for_person("wang.fang")  # both teams' reminders in one message
    assert digest.body["title"] == ("Caseflow：2 条通知需要您处理 / "
                                    "Caseflow: 2 notices need your attention")


def test_the_daily_digest_lists_yesterdays_breaches_and_todays_risk_per_team(care, clock):
    clock.set(shanghai(2026, 11, 19, 10, 0))
    breached = open_complaint(care, priority="ordinary", category="refund")  # billing
    clock.set(shanghai(2026, 11, 19, 10, 25))
    sweep(care)  # the first-response breach is recorded, at its due time 10:20
    send(care, breached, "acknowledge")
    clock.set(shanghai(2026, 11, 20, 8, 50))
    risky = open_complaint(care, priority="ordinary", category="delivery")  # complaints
    clock.set(shanghai(2026, 11, 20, 9, 6))  # 16 of 20 minutes: past the 75% warning
    run = run_due_review(care, "daily-sla-digest").run
    assert run is not None
    result = run.result
    # The billing case's resolution clock (24 h) passed its 75% warning at 04:00 today.
    assert result["tables"]["teams"] == [
        {"team": "billing", "breached_in_period": 1, "at_risk_now": 1, "overdue_now": 0},
        {"team": "complaints", "breached_in_period": 0, "at_risk_now": 1, "overdue_now": 0}]
    [breach] = result["tables"]["breaches"]
    assert (breach["case_id"], breach["clock"], breach["at"]) == (
        breached, "first_response", "2026-11-19T10:20:00+08:00")
    assert [(r["case_id"], r["clock"], r["at"]) for r in result["tables"]["at-risk"]] == [
        (risky, "first_response", "2026-11-20T09:10:00+08:00"),  # soonest due first
        (breached, "resolution", "2026-11-20T10:00:00+08:00")]
    assert result["teams"]["complaints"]["tables"]["breaches"] == []
    assert result["teams"]["billing"]["tables"]["breaches"][0]["case_id"] == breached


def test_a_month_without_surveys_says_so_and_invents_no_score(care, clock):
    clock.set(shanghai(2026, 12, 1, 9, 0))
    run = run_due_review(care, "monthly-satisfaction-review").run
    assert run is not None and run.status == "succeeded"
    assert run.result["survey_data"] is False
    assert run.result["summary"] == ["本周期内未发送满意度调查。\n"
                                     "No satisfaction surveys were sent in this period."]
    assert {row["kpi"]: row["value"] for row in run.result["tables"]["kpis"]} == {
        "survey_response_rate": None, "csat_average": None, "csat_satisfied_share": None,
        "nps": None, "speed_average": None, "attitude_average": None,
        "resolution_average": None}
    assert run.result["tables"]["by_team"] == []
    assert (run.result["period"]["start"], run.result["period"]["end"]) == (
        "2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00")


def test_the_quarterly_evaluation_maps_seed_001_indicators_to_kpis(care, clock):
    clock.set(shanghai(2026, 11, 18, 10, 0))
    case_id = open_complaint(care, priority="ordinary", category="delivery")
    clock.advance(timedelta(minutes=5))
    send(care, case_id, "resolve")
    clock.set(shanghai(2027, 1, 1, 9, 0))
    run = run_due_review(care, "quarterly-service-evaluation").run
    assert run is not None
    rows = {(r["indicator"].split(" (")[0], r["kpi"]): (r["value"], r["basis"])
            for r in run.result["tables"]["indicators"]}
    assert rows == {
        ("customer satisfaction", "csat_average"): (None, "n=0"),
        ("customer satisfaction", "csat_satisfied_share"): (None, "0/0"),
        ("customer satisfaction", "nps"): (None, "0 promoters, 0 passives, 0 detractors"),
        ("customer satisfaction", "survey_response_rate"): (None, "0/0"),
        ("response speed", "first_response_time_avg"): (300.0, "n=1"),
        ("response speed", "first_response_time_p90"): (300.0, "n=1"),
        ("response speed", "complaint_on_time_rate.first_response"): (1.0, "1/1"),
        ("resolution rate", "resolution_rate"): (1.0, "1/1"),
        ("process compliance", "complaint_on_time_rate"): (1.0, "2/2"),
        ("process compliance", "reopen_rate"): (0.0, "0/1"),
        ("process compliance", "escalation_rate_l1"): (0.0, "0/1"),
    }
    assert run.result["findings"] == [] and len(runs(care)) == 1
