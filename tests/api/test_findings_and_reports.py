"""The improvement backlog, review reports, trends and the manual trigger, through the API.

`client` calls as supervisor wang.fang of every team; other callers pass their keys.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from engine.models import Customer
from processes.reviews.runs import run_due_review
from tests.api.helpers import complaint, open_case, post_event
from tests.support import bearer, issue_key, shanghai


def _weekly_with_a_late_answer(client, clock, runtime) -> dict:  # type: ignore[no-untyped-def]
    """Week of 16 Nov: one complaint answered after 30 minutes; the review runs on the 23rd."""
    clock.set(shanghai(2026, 11, 18, 10, 0))
    case = open_case(client, priority="ordinary", category="delivery")
    clock.advance(timedelta(minutes=30))
    post_event(client, case["id"], "acknowledge")
    clock.set(shanghai(2026, 11, 23, 9, 0))
    run = run_due_review(runtime, "weekly-complaint-review").run
    assert run is not None and run.status == "succeeded"
    return {"case": case, "run_id": run.id, "finding_id": run.result["findings"][0]}


def test_a_manager_dismisses_a_review_finding_with_a_reason(client, clock, runtime):
    seeded = _weekly_with_a_late_answer(client, clock, runtime)
    finding_id = seeded["finding_id"]
    manager = bearer(issue_key(runtime, "manager"))
    opened = client.get(f"/findings/{finding_id}", headers=manager).json()
    assert (opened["status"], opened["source"], opened["review_run_id"], opened["case_ids"]) \
        == ("open", "review", seeded["run_id"], [seeded["case"]["id"]])
    blank = client.post(f"/findings/{finding_id}/dismiss", json={"reason": "   "},
                        headers=manager)
    assert blank.status_code == 422
    clock.advance(timedelta(hours=1))
    dismissed = client.post(f"/findings/{finding_id}/dismiss", headers=manager,
                            json={"reason": " one late answer, the agent was new "})
    assert dismissed.status_code == 200, dismissed.text
    body = dismissed.json()
    assert (body["status"], body["dismissed_by"], body["dismiss_reason"]) == (
        "dismissed", "liu.yang", "one late answer, the agent was new")
    assert body["dismissed_at"].startswith("2026-11-23T02:00:00")  # 10:00 in Shanghai
    again = client.post(f"/findings/{finding_id}/dismiss", json={"reason": "twice"},
                        headers=manager)
    assert again.status_code == 409
    assert again.json()["detail"]["error"] == "finding_not_open"
    assert [f["id"] for f in client.get("/findings", params={"status": "open"},
                                                headers=manager).json()[
        "items"]] == []
    assert [f["id"] for f in client.get("/findings", params={"status": "dismissed"},
                                                headers=manager).json()[
        "items"]] == [finding_id]
    assert client.post("/findings/999999/dismiss", json={"reason": "x"}).status_code == 404


def test_a_review_finding_for_the_whole_service_reaches_every_supervisor(
        client, clock, runtime):
    seeded = _weekly_with_a_late_answer(client, clock, runtime)
    finding_id = seeded["finding_id"]
    # wang.fang supervises both teams; gao.yan billing only.
    listed = client.get("/findings").json()["items"]
    assert [f["id"] for f in listed] == [finding_id]
    assert set(listed[0]["figures"]["by_team"]) == {"billing", "complaints"}
    only_billing = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    seen = client.get(f"/findings/{finding_id}", headers=only_billing)
    assert seen.status_code == 200, seen.text
    assert set(seen.json()["figures"]["by_team"]) == {"billing"}  # not the other team's
    # A supervisor of two teams says which one the cycle is for; one of one team needn't.
    unscoped = client.post(f"/findings/{finding_id}/promote", json={})
    assert unscoped.status_code == 422 and unscoped.json()["detail"][0]["loc"] == [
        "body", "scope", "team"]
    promoted = client.post(f"/findings/{finding_id}/promote", headers=only_billing, json={})
    assert promoted.status_code == 201, promoted.text
    assert promoted.json()["plan"]["scope"] == {"team": "billing"}
    assert promoted.json()["links"]["findings"] == [finding_id]


def test_a_supervisor_adds_a_finding_by_hand_for_one_of_their_teams(client, runtime):
    case_ids = [open_case(client, category="billing")["id"] for _ in range(2)]
    added = client.post("/findings", json={
        "title": "Refund callers repeat their story", "team": "billing",
        "kpi": "reopen_rate", "figures": {"calls": 12}, "case_ids": case_ids})
    assert added.status_code == 201, added.text
    body = added.json()
    assert added.headers["location"] == f"/findings/{body['id']}"
    assert (body["source"], body["status"], body["team"], body["created_by"],
            body["pdca_cycle_id"]) == ("manual", "open", "billing", "wang.fang", None)
    only_billing = bearer(issue_key(runtime, "supervisor", name="gao.yan",
                                    teams=["complaints"]))
    refused = client.post("/findings", json={"title": "x", "team": "billing"},
                          headers=only_billing)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
        "body", "team"]
    assert client.post("/findings", json={"title": "x", "kpi": "happiness"}).status_code == 422
    # Without a team, a finding is about the whole service: every supervisor's to act on.
    service_wide = client.post("/findings", json={"title": "Hold music too loud"})
    assert service_wide.status_code == 201 and service_wide.json()["team"] is None
    service_wide = service_wide.json()
    manager = bearer(issue_key(runtime, "manager"))
    assert [f["id"] for f in client.get("/findings", headers=only_billing).json()["items"]] \
        == [service_wide["id"]]
    assert client.get(f"/findings/{body['id']}", headers=only_billing).status_code == 404
    manual = client.get("/findings", params={"source": "manual"}, headers=manager).json()
    assert {f["id"] for f in manual["items"]} == {body["id"], service_wide["id"]}


def test_a_finding_refers_only_to_cases_its_author_may_read(client, runtime):
    billing_only = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    own = open_case(client, category="billing")["id"]
    others = open_case(client, category="delivery")
    assert others["team"] != "billing"
    for case_id in (others["id"], 999_999):
        # Another team's case and one that does not exist are refused alike.
        refused = client.post("/findings", headers=billing_only, json={
            "title": "Refunds slow", "team": "billing", "case_ids": [own, case_id]})
        assert refused.status_code == 422
        assert refused.json()["detail"] == [{
            "loc": ["body", "case_ids"], "type": "value_error",
            "msg": f"no case you may read has the id {case_id}"}]
    assert client.get("/findings", headers=billing_only).json()["items"] == []
    added = client.post("/findings", headers=billing_only, json={
        "title": "Refunds slow", "team": "billing", "case_ids": [own]})
    assert added.status_code == 201 and added.json()["case_ids"] == [own]


def test_runs_and_latest_report_with_each_readers_share(client, clock, runtime):
    seeded = _weekly_with_a_late_answer(client, clock, runtime)
    listing = client.get("/reports/runs", params={"review": "weekly-complaint-review"}).json()
    assert [r["id"] for r in listing["items"]] == [seeded["run_id"]]
    assert "result" not in listing["items"][0]
    latest = client.get("/reports/reviews/weekly-complaint-review/latest").json()
    assert latest["id"] == seeded["run_id"] and latest["status"] == "succeeded"
    manager = bearer(issue_key(runtime, "manager"))
    whole = client.get(f"/reports/runs/{seeded['run_id']}", headers=manager).json()["result"]
    assert {"summary", "tables", "teams", "recurrence"} <= set(whole)
    assert set(whole["teams"]) == {"billing", "complaints"}
    # A billing supervisor sees billing's section only: overall figures mix every team.
    billing = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    scoped = client.get(f"/reports/runs/{seeded['run_id']}", headers=billing).json()["result"]
    assert set(scoped["teams"]) == {"billing"} and scoped["scope"] == ["billing"]
    assert scoped["tables"] == {} and scoped["summary"] == []
    assert client.get("/reports/reviews/no-such-review/latest").status_code == 404
    assert client.get("/reports/reviews/daily-sla-digest/latest").status_code == 404
    assert client.get("/reports/runs/424242").status_code == 404


def test_the_registry_is_listed_with_each_reviews_next_slot(client, clock):
    clock.set(shanghai(2026, 11, 20, 10, 0))
    reviews = {r["name"]: r for r in client.get("/reports/reviews").json()}
    assert len(reviews) == 6
    digest = reviews["daily-sla-digest"]
    assert (digest["cron"], digest["timezone"], digest["period"], digest["covers"]) == (
        "0 9 * * *", "Asia/Shanghai", "day", "previous")
    assert digest["next_slot"] == "2026-11-21T01:00:00Z"  # 09:00 in Shanghai
    assert reviews["daily-greetings"]["catch_up_within"] == "PT12H"


def test_the_scheduler_triggers_a_review_once_per_period(client, clock, runtime):
    scheduler = bearer(issue_key(runtime, "scheduler", kind="integration"))
    clock.set(shanghai(2026, 11, 20, 10, 0))
    first = client.post("/reviews/daily-sla-digest/runs", headers=scheduler)
    assert first.status_code == 201, first.text
    run = first.json()["run"]
    assert first.json()["created"] is True and "result" not in run
    assert (run["trigger"], run["status"], run["period_start"]) == (
        "manual", "succeeded", "2026-11-18T16:00:00Z")
    assert first.headers["location"] == f"/reports/runs/{run['id']}"
    again = client.post("/reviews/daily-sla-digest/runs", headers=scheduler)
    assert again.status_code == 200 and again.json()["run"]["id"] == run["id"]
    assert again.json()["created"] is False
    assert client.post("/reviews/yearly-party/runs", headers=scheduler).status_code == 404


def test_trends_as_json_and_as_an_svg_chart(client, clock):
    for day, late in ((18, False), (19, True), (19, False)):
        clock.set(shanghai(2026, 11, day, 10, 0))
        case = open_case(client, priority="ordinary")
        clock.advance(timedelta(minutes=30 if late else 5))
        post_event(client, case["id"], "resolve")
    clock.set(shanghai(2026, 11, 20, 12, 0))
    trend = client.get("/reports/trends", params={"bucket": "day", "count": 3}).json()
    assert trend["teams"] == ["billing", "complaints"]  # wang.fang's teams
    # Days in Shanghai (the trend's timezone), each from 16:00 UTC the day before.
    assert [(p["start"], p["opened"], p["on_time"]["numerator"],
             p["on_time"]["denominator"]) for p in trend["points"]] == [
        ("2026-11-17T16:00:00Z", 1, 2, 2), ("2026-11-18T16:00:00Z", 2, 3, 4),
        ("2026-11-19T16:00:00Z", 0, 0, 0)]
    assert trend["points"][1]["on_time"]["value"] == 0.75
    assert trend["points"][2]["on_time"]["value"] is None
    # Counted in complaints: the late one of the 19th missed one clock of two.
    assert [(p["complaints_on_time"]["numerator"], p["complaints_on_time"]["denominator"])
            for p in trend["points"]] == [(1, 1), (1, 2), (0, 0)]
    assert trend["points"][1]["complaints_on_time"]["value"] == 0.5
    chart = client.get("/reports/trends.svg", params={"bucket": "day", "count": 3})
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    svg = chart.text
    assert svg.startswith("<svg") and svg.count('class="volume"') == 3
    assert svg.count('class="on-time"') == 1 and 'class="target"' in svg
    assert "2026-11-19: 2 opened, 1 of 2 decided on time" in svg
    weekly = client.get("/reports/trends", params={"bucket": "week", "count": 2}).json()
    assert [p["opened"] for p in weekly["points"]] == [0, 3]
    monthly = client.get("/reports/trends", params={"bucket": "month", "count": 2}).json()
    assert monthly["bucket"] == "month"
    assert [(p["start"], p["opened"]) for p in monthly["points"]] == [
        ("2026-09-30T16:00:00Z", 0), ("2026-10-31T16:00:00Z", 3)]
    assert monthly["points"][1]["complaints_on_time"] == {
        "value": 2 / 3, "numerator": 2, "denominator": 3, "target": 0.95}
    month_chart = client.get("/reports/trends.svg", params={"bucket": "month", "count": 2})
    assert month_chart.status_code == 200 and ">2026-11<" in month_chart.text
    unknown = client.get("/reports/trends", params={"bucket": "year"})
    assert unknown.status_code == 422 and "month" in unknown.json()["detail"][0]["msg"]
    bad = client.get("/reports/trends", params={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert client.get("/reports/trends", params={"team": "nobody"}).status_code == 404


def test_a_supervisor_asking_for_another_teams_trend_finds_nothing(client, runtime):
    billing = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    answer = client.get("/reports/trends", params={"team": "complaints"}, headers=billing)
    assert answer.status_code == 404
    mine = client.get("/reports/trends", params={"team": "billing", "count": 2},
                      headers=billing)
    assert mine.status_code == 200 and mine.json()["teams"] == ["billing"]


def test_a_customer_can_give_a_birthday_and_consent_when_a_case_opens(client, runtime):
    customer = {"ref": "cust-77", "name": "Lin", "tier": "B", "phone": "13812345678",
                "birthday": "1990-11-20", "greetings_consent": True}
    assert client.post("/cases", json=complaint(customer=customer)).status_code == 201
    # A later case that says nothing about consent leaves it as it was.
    later = {"ref": "cust-77", "tier": "B"}
    assert client.post("/cases", json=complaint(customer=later)).status_code == 201
    with Session(runtime.engine) as session:
        stored = session.exec(select(Customer).where(Customer.external_ref == "cust-77")).one()
    assert (stored.birthday, stored.greetings_consent) == (date(1990, 11, 20), True)
    bad = client.post("/cases", json=complaint(customer={**customer, "birthday": "20/11"}))
    assert bad.status_code == 422
