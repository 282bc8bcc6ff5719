"""The supervisors' worklists through the API: SLA rows, sort=due, totals, facets,
validated filters, the overview and the workload, each within the caller's scope."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from tests.api.helpers import open_case, post_event
from tests.support import bearer, issue_key


@pytest.fixture
def three(client, clock):  # type: ignore[no-untyped-def]
    """An ordinary complaint (due 10:20), a routine one (12:00), and at 10:25 an urgent
    one (10:35) and a billing one; the ordinary one is then 5 minutes overdue."""
    cases = {"ordinary": open_case(client), "routine": open_case(client, priority="routine")}
    clock.advance(timedelta(minutes=25))
    cases["urgent"] = open_case(client, subject="injury from the heater")
    cases["billing"] = open_case(client, category="billing", priority="routine")
    return {name: case["id"] for name, case in cases.items()}


def test_rows_carry_the_sla_summary_and_the_total(client, three):
    body = client.get("/cases", params={"limit": 2}).json()
    assert body["total"] == 4 and len(body["items"]) == 2
    assert body["next_cursor"] is not None and body["next_offset"] is None
    billing = body["items"][0]  # newest first
    assert billing["sla"]["clock"] == "first_response"
    assert billing["sla"]["time_left"] == "PT2H" and billing["sla"]["overdue_by"] is None
    rung = billing["sla"]["next_rung"]
    assert rung["name"] == "warning" and rung["notify"] == ["assignee"]
    assert rung["reaches"] == [billing["assignee"]]


def test_sort_due_puts_what_breaches_next_first(client, three):
    body = client.get("/cases", params={"sort": "due"}).json()
    assert [i["id"] for i in body["items"]] == [
        three["ordinary"], three["urgent"], three["routine"], three["billing"]]
    top = body["items"][0]["sla"]
    assert top["breached"] and top["overdue_by"] == "PT5M" and top["time_left"] is None
    assert body["total"] == 4 and body["next_offset"] is None
    page = client.get("/cases", params={"sort": "due", "limit": 1, "offset": 1}).json()
    assert [i["id"] for i in page["items"]] == [three["urgent"]]
    assert page["next_offset"] == 2


def test_paging_options_belong_to_their_sort(client, three):
    answer = client.get("/cases", params={"sort": "due", "before_id": 3})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
        "query", "before_id"]
    answer = client.get("/cases", params={"offset": 3})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
        "query", "offset"]


def _followed(client, params, headers=None) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids of every page, following `next_page` from the first page to the last."""
    ids, cursor = [], None
    for _ in range(20):
        answer = client.get("/cases", params=params | ({"cursor": cursor} if cursor else {}),
                            headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_page"]
        if cursor is None:
            return ids
    raise AssertionError("next_page never ran out")


@pytest.mark.parametrize("sort", ["due", "newest"])
def test_the_next_page_cursor_pages_through_every_case_once(client, three, sort):
    whole = [i["id"] for i in client.get("/cases", params={"sort": sort}).json()["items"]]
    assert len(whole) == 4
    assert _followed(client, {"sort": sort, "limit": 1}) == whole
    assert _followed(client, {"sort": sort, "limit": 3}) == whole


def test_the_queue_cursor_runs_on_into_the_paused_cases(client, three, clock):
    post_event(client, three["routine"], "acknowledge")
    post_event(client, three["routine"], "wait_on_customer")  # nothing due: last
    post_event(client, three["urgent"], "acknowledge")
    post_event(client, three["urgent"], "wait_on_customer")
    assert _followed(client, {"sort": "due", "limit": 1}) == [
        three["ordinary"], three["billing"], three["routine"], three["urgent"]]


def test_a_supervisor_s_cursor_never_reveals_another_team_s_case(client, runtime, three):
    billing_only = bearer(issue_key(runtime, "supervisor", name="sun.hao", teams=["billing"]))
    complaints_only = bearer(issue_key(runtime, "supervisor", teams=["complaints"]))
    assert _followed(client, {"sort": "due", "limit": 1}, billing_only) == [three["billing"]]
    assert _followed(client, {"sort": "due", "limit": 1}, complaints_only) == [
        three["ordinary"], three["urgent"], three["routine"]]
    # A manager's cursor (after the first case of all) pages the supervisor's own scope.
    manager = client.get("/cases", params={"sort": "due", "limit": 1}).json()["next_page"]
    page = client.get("/cases", params={"sort": "due", "cursor": manager},
                      headers=billing_only).json()
    assert [i["id"] for i in page["items"]] == [three["billing"]]
    newest = client.get("/cases", params={"limit": 1}).json()["next_page"]  # billing's
    page = client.get("/cases", params={"cursor": newest}, headers=billing_only).json()
    assert page["items"] == [] and page["next_page"] is None


def _made_up(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("params", "reason"), [
    ({"cursor": "not a cursor"}, "is not a cursor this service gave"),
    ({"sort": "due", "cursor": _made_up("due", "2026-11-20T02:00:00+00:00", 0)}, "is not a cursor"),
    ({"sort": "due", "cursor": _made_up("due", "2026-11-20T02:00:00", 3)}, "is not a cursor"),
    ({"sort": "due", "cursor": _made_up("due", "yesterday", 3)}, "is not a cursor"),
    ({"sort": "due", "cursor": _made_up("due", 1, 3)}, "is not a cursor"),
    ({"cursor": _made_up("newest", True)}, "is not a cursor"),
    ({"cursor": _made_up("newest", 3, 4)}, "is not a cursor"),
    ({"sort": "due", "cursor": _made_up("sideways", 3)}, "is not a cursor"),
    ({"cursor": _made_up({"due": 3})}, "is not a cursor"),
    ({"cursor": "x" * 201}, "at most 200 characters"),
    ({"cursor": _made_up("newest", 3), "sort": "due"}, "sort=newest; this one has sort=due"),
    ({"cursor": _made_up("due", "2026-11-20T02:00:00+00:00", 3)},
     "sort=due; this one has sort=newest"),
    ({"cursor": _made_up("newest", 3), "before_id": 3}, "leave out before_id"),
    ({"cursor": _made_up("due", "2026-11-20T02:00:00+00:00", 3), "sort": "due",
      "offset": 1}, "leave out offset"),
])
def test_a_cursor_the_service_did_not_give_answers_422_naming_it(sqlite_client, params,
                                                                  reason):
    answer = sqlite_client.get("/cases", params=params)
    assert answer.status_code == 422, answer.text
    problem = answer.json()["detail"][0]
    assert problem["loc"] == ["query", "cursor"] and reason in problem["msg"]


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("stage", "in_progess", "in_progress"),
    ("process", "complaints", "complaint"),
    ("priority", "urgentt", "urgent"),
    ("team", "billings", "billing"),
])
def test_an_unknown_filter_value_answers_422_with_the_values_allowed(
        sqlite_client, field, value, allowed):
    for path in ("/cases", "/cases/facets"):
        answer = sqlite_client.get(path, params={field: value})
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["query", field]
        assert repr(value) in error["msg"] and allowed in error["msg"]


def test_a_stage_of_another_process_is_refused_with_the_process_s_stages(sqlite_client):
    answer = sqlite_client.get("/cases", params={"process": "complaint", "stage": "pilot"})
    assert answer.status_code == 422
    message = answer.json()["detail"][0]["msg"]
    assert "waiting_on_customer" in message and "pilot" not in message.split("allowed")[1]


def test_an_unknown_sort_answers_422_naming_the_orders(sqlite_client):
    answer = sqlite_client.get("/cases", params={"sort": "oldest"})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["query", "sort"] and "newest" in error["msg"] and "due" in error["msg"]


def test_facets_count_the_filtered_cases_without_paging(client, three):
    body = client.get("/cases/facets").json()
    assert body["total"] == 4
    assert {f["value"]: f["count"] for f in body["team"]} == {"complaints": 3, "billing": 1}
    assert {f["value"]: f["count"] for f in body["priority"]} == {
        "routine": 2, "ordinary": 1, "urgent": 1}
    assert client.get("/cases/facets", params={"team": "billing"}).json()["total"] == 1
    post_event(client, three["billing"], "withdraw")
    assert client.get("/cases/facets", params={"open": True}).json()["total"] == 3


def test_a_supervisor_of_one_team_sees_only_its_cases_and_people(client, runtime, three):
    billing_only = bearer(issue_key(runtime, "supervisor", name="sun.hao", teams=["billing"]))
    listed = client.get("/cases", params={"sort": "due"}, headers=billing_only).json()
    assert [i["id"] for i in listed["items"]] == [three["billing"]] and listed["total"] == 1
    facets = client.get("/cases/facets", headers=billing_only).json()
    assert facets["total"] == 1 and [f["value"] for f in facets["team"]] == ["billing"]
    overview = client.get("/reports/overview", headers=billing_only).json()
    assert [t["team"] for t in overview["teams"]] == ["billing"]
    members = set(runtime.policies.teams["billing"].members)
    people = client.get("/reports/workload", headers=billing_only).json()
    assert {p["assignee"] for p in people} <= members and sum(p["open"] for p in people) == 1
    other = client.get("/reports/workload", params={"team": "complaints"}, headers=billing_only)
    assert other.status_code == 404


def test_the_overview_counts_per_team_within_the_horizon(client, runtime, three, clock):
    manager = bearer(issue_key(runtime, "manager"))
    body = client.get("/reports/overview", params={"horizon": "PT15M"}, headers=manager).json()
    assert body["horizon"] == "PT15M"
    teams = {t["team"]: t for t in body["teams"]}
    assert set(teams) == set(runtime.policies.teams)
    complaints = teams["complaints"]
    # urgent is due at 10:35, within 15 minutes of 10:25; ordinary is past due.
    assert (complaints["open"], complaints["at_risk"], complaints["breached_today"]) == (3, 1, 1)
    assert complaints["on_time_today"] == {"value": 0.0, "on_time": 0, "decided": 1,
                                           "target": 0.95}
    wider = client.get("/reports/overview", params={"horizon": "PT3H"}, headers=manager).json()
    assert {t["team"]: t["at_risk"] for t in wider["teams"]}["complaints"] == 2


@pytest.mark.parametrize("horizon", ["1 hour", "PT0S", "P1M", "P8D"])
def test_a_bad_horizon_answers_422(sqlite_client, horizon):
    answer = sqlite_client.get("/reports/overview", params={"horizon": horizon})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "horizon"]


def test_the_workload_lists_the_most_pressed_first(client, three):
    people = client.get("/reports/workload", params={"team": "complaints"}).json()
    assert sum(p["open"] for p in people) == 3
    top = people[0]
    assert top["breached"] == 1 and top["oldest_case_id"] == three["ordinary"]
    assert client.get("/reports/workload", params={"team": "nope"}).status_code == 422


def test_agents_may_not_read_the_reports(client, runtime):
    agent = bearer(issue_key(runtime, "agent"))
    for path in ("/reports/overview", "/reports/workload"):
        assert client.get(path, headers=agent).status_code == 403
