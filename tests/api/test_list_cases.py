"""GET /cases: filters, SLA state filters, opened-between, keyset pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.helpers import error_locs, open_case, post_event
from tests.conftest import sweep


def ids(client, **params) -> list[int]:  # type: ignore[no-untyped-def]
    response = client.get("/cases", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def assorted(client) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Four complaints: ordinary, urgent, billing, and one acknowledged routine one."""
    cases = {
        "ordinary": open_case(client),
        "urgent": open_case(client, subject="injury from the heater"),
        "billing": open_case(client, category="billing"),
        "routine": open_case(client, priority="routine"),
    }
    cases["routine"] = post_event(client, cases["routine"]["id"], "acknowledge").json()
    return cases


def test_an_empty_store_lists_nothing(client):
    assert client.get("/cases").json() == {"items": [], "total": 0, "next_cursor": None,
                                           "next_offset": None, "next_page": None}


def test_items_are_summaries_newest_first(client, assorted):
    body = client.get("/cases").json()
    assert [i["id"] for i in body["items"]] == sorted(
        (c["id"] for c in assorted.values()), reverse=True)
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert {"id", "process", "stage", "priority", "tier", "team", "assignee",
            "escalation_level", "opened_at"} <= item.keys()
    assert "timeline" not in item and "clocks" not in item


def test_filter_by_process_stage_priority_and_team(client, assorted):
    every = sorted((c["id"] for c in assorted.values()), reverse=True)
    assert ids(client, process="complaint") == every
    assert ids(client, process="crisis") == []
    assert ids(client, stage="in_progress") == [assorted["routine"]["id"]]
    assert ids(client, stage="assigned") == [i for i in every if i != assorted["routine"]["id"]]
    assert ids(client, priority="urgent") == [assorted["urgent"]["id"]]
    assert ids(client, priority="routine") == [assorted["routine"]["id"]]
    assert ids(client, team="billing") == [assorted["billing"]["id"]]
    assert ids(client, priority="ordinary", team="complaints") == [assorted["ordinary"]["id"]]
    assert ids(client, stage="closed") == []


def test_filter_by_assignee(client, assorted):
    for case in assorted.values():
        expected = sorted((c["id"] for c in assorted.values()
                           if c["assignee"] == case["assignee"]), reverse=True)
        assert ids(client, assignee=case["assignee"]) == expected
    assert ids(client, assignee="nobody") == []


def test_filter_by_breached_and_at_risk(client, runtime, clock):
    late = open_case(client)["id"]  # first response due at +20m, warned at +15m
    clock.advance(timedelta(minutes=12))
    fresh = open_case(client)["id"]  # due at +32m, warned at +27m
    assert ids(client, breached=True) == []
    assert ids(client, breached=False) == [fresh, late]
    clock.advance(timedelta(minutes=9))  # +21m
    assert ids(client, breached=True) == [late]  # past due, even before the sweeper runs
    assert ids(client, breached=False) == [fresh]
    assert ids(client, at_risk=True) == []
    sweep(runtime)
    assert ids(client, breached=True) == [late]
    clock.advance(timedelta(minutes=7))  # +28m: fresh is past its warning, not yet due
    assert ids(client, at_risk=True) == [fresh]
    assert ids(client, at_risk=False) == [late]
    assert ids(client, at_risk=True, breached=False) == [fresh]


def test_a_clock_stopped_late_still_counts_as_breached(client, runtime, clock):
    case_id = open_case(client)["id"]
    clock.advance(timedelta(minutes=30))
    sweep(runtime)
    assert post_event(client, case_id, "acknowledge").status_code == 200
    assert ids(client, breached=True) == [case_id]


def test_filter_by_opened_between(client, clock):
    opened = []
    for _ in range(3):  # 10:00, 11:00, 12:00 in Shanghai
        opened.append(open_case(client)["id"])
        clock.advance(timedelta(hours=1))
    ten, eleven, twelve = opened
    assert ids(client, opened_from="2026-11-20T11:00:00+08:00") == [twelve, eleven]
    assert ids(client, opened_to="2026-11-20T11:00:00+08:00") == [ten]
    assert ids(client, opened_from="2026-11-20T10:30:00+08:00",
               opened_to="2026-11-20T11:30:00+08:00") == [eleven]
    # The same instant in another zone selects the same cases.
    assert ids(client, opened_from="2026-11-20T03:00:00Z") == [twelve, eleven]
    assert ids(client, opened_from="2026-11-20T12:00:01+08:00") == []


@pytest.mark.parametrize("name", ["opened_from", "opened_to"])
def test_a_naive_datetime_is_422_naming_the_parameter(sqlite_client, name):
    response = sqlite_client.get("/cases", params={name: "2026-11-20T11:00:00"})
    assert response.status_code == 422
    assert error_locs(response) == [["query", name]]
    assert "timezone" in response.json()["detail"][0]["msg"]


def test_pages_walk_every_case_once(client):
    opened = [open_case(client)["id"] for _ in range(7)]
    seen: list[int] = []
    sizes = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"before_id": cursor} if cursor else {})
        page = client.get("/cases", params=params).json()
        sizes.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]
    assert sizes == [3, 3, 1]
    assert seen == sorted(opened, reverse=True)
    assert len(set(seen)) == len(seen)


def test_a_page_that_exactly_fills_the_limit_has_no_cursor(client):
    for _ in range(2):
        open_case(client)
    assert client.get("/cases", params={"limit": 2}).json()["next_cursor"] is None


def test_pages_follow_the_filter(client):
    urgent = []
    for n in range(6):
        case = open_case(client, priority="urgent" if n % 2 else "routine")
        if n % 2:
            urgent.append(case["id"])
    first = client.get("/cases", params={"priority": "urgent", "limit": 2}).json()
    assert [i["id"] for i in first["items"]] == sorted(urgent, reverse=True)[:2]
    rest = client.get("/cases", params={"priority": "urgent", "limit": 2,
                                        "before_id": first["next_cursor"]}).json()
    assert [i["id"] for i in rest["items"]] == sorted(urgent, reverse=True)[2:]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(("params", "loc"), [
    ({"limit": 0}, ["query", "limit"]),
    ({"limit": 500}, ["query", "limit"]),
    ({"limit": 201}, ["query", "limit"]),
    ({"limit": -1}, ["query", "limit"]),
    ({"limit": "ten"}, ["query", "limit"]),
    ({"before_id": 0}, ["query", "before_id"]),
    ({"before_id": "x"}, ["query", "before_id"]),
    ({"breached": "maybe"}, ["query", "breached"]),
    ({"at_risk": "2"}, ["query", "at_risk"]),
    ({"opened_from": "yesterday"}, ["query", "opened_from"]),
])
def test_bad_query_parameters_are_422_naming_them(sqlite_client, params, loc):
    response = sqlite_client.get("/cases", params=params)
    assert response.status_code == 422
    assert loc in error_locs(response)


def test_limit_bounds_are_inclusive(sqlite_client):
    for limit in (1, 200):
        assert sqlite_client.get("/cases", params={"limit": limit}).status_code == 200
