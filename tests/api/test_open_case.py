"""POST /cases: open a complaint, classify and route it, honour Idempotency-Key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.helpers import at, clock_named, complaint, error_locs, open_case
from tests.support import bearer, issue_key

COMPLAINTS_TEAM = {"li.wei", "zhang.min", "chen.jing"}
BILLING_TEAM = {"sun.hao", "zhou.xin"}


def test_open_answers_201_with_location_and_the_classified_assigned_case(client, clock):
    response = client.post("/cases", json=complaint(channel="phone", category="delivery"))
    assert response.status_code == 201
    case = response.json()
    assert response.headers["Location"] == f"/cases/{case['id']}"
    assert client.get(response.headers["Location"]).json()["id"] == case["id"]
    assert case["process"] == "complaint"
    assert case["stage"] == "assigned"
    assert case["priority"] == "ordinary"
    assert case["tier"] == "B"
    assert case["team"] == "complaints"
    assert case["assignee"] in COMPLAINTS_TEAM
    assert case["escalation_level"] == 0
    assert (case["channel"], case["category"]) == ("phone", "delivery")
    assert at(case["opened_at"]) == clock.now()
    assert case["customer"]["ref"] == "cust-1"
    assert case["closed_at"] is None
    assert {c["name"]: c["target"] for c in case["clocks"]} == {
        "first_response": "PT20M", "resolution": "P1D"}
    assert "acknowledge" in case["allowed_events"]


def test_the_opening_answer_is_the_case_as_read_back(client):
    # The answer is made from what the opening wrote, not read back: it must not differ.
    opened = client.post("/cases", json=complaint(channel="web", category="billing")).json()
    read = client.get(f"/cases/{opened['id']}").json()
    assert opened["clocks"] == read["clocks"] and opened["timeline"] == read["timeline"]
    assert opened == read


def test_injury_in_the_text_makes_the_complaint_urgent(client):
    case = open_case(client, subject="Child injury from a broken toy")
    assert case["priority"] == "urgent"
    assert clock_named(case, "first_response")["target"] == "PT10M"
    classify = next(e for e in case["timeline"] if e["type"] == "classify")
    assert "safety-or-legal" in classify["details"]["reason"]


def test_billing_category_routes_to_the_billing_team(client):
    case = open_case(client, category="billing")
    assert case["team"] == "billing"
    assert case["assignee"] in BILLING_TEAM


def test_vip_tier_raises_ordinary_to_urgent_and_halves_the_targets(client, clock):
    ordinary = open_case(client, customer={"ref": "cust-b", "tier": "B"})
    vip = open_case(client, customer={"ref": "cust-vip", "tier": "VIP"})
    assert ordinary["priority"] == "ordinary"
    assert (vip["priority"], vip["tier"]) == ("urgent", "VIP")
    # Urgent is PT10M / PT4H; VIP halves it.
    assert {c["name"]: c["target"] for c in vip["clocks"]} == {
        "first_response": "PT5M", "resolution": "PT2H"}
    first_response = clock_named(vip, "first_response")
    assert at(first_response["due_at"]) == clock.now() + timedelta(minutes=5)


def test_a_priority_from_the_caller_skips_classification(client):
    case = open_case(client, subject="injury at the store", priority="routine")
    assert case["priority"] == "routine"
    assert clock_named(case, "first_response")["target"] == "PT2H"
    classify = next(e for e in case["timeline"] if e["type"] == "classify")
    assert classify["details"]["reason"] == "set by the caller"


@pytest.mark.parametrize(("body", "loc"), [
    (complaint(priority="whenever"), ["body", "priority"]),
    ({"customer": {"tier": "B"}}, ["body", "subject"]),
    (complaint(subject=""), ["body", "subject"]),
    (complaint(subject="x" * 301), ["body", "subject"]),
    (complaint(customer={"tier": "Z"}), ["body", "customer", "tier"]),
    (complaint(customer={"tier": "vip"}), ["body", "customer", "tier"]),
    (complaint(colour="red"), ["body", "colour"]),
    (complaint(customer={"tier": "B", "shoe_size": 42}), ["body", "customer", "shoe_size"]),
    ({"subject": "no customer"}, ["body", "customer"]),
    (complaint(subject=123), ["body", "subject"]),
    (complaint(priority=1), ["body", "priority"]),
], ids=["unknown-priority", "missing-subject", "empty-subject", "long-subject", "bad-tier",
        "lowercase-tier", "extra-field", "extra-customer-field", "missing-customer",
        "subject-not-string", "priority-not-string"])
def test_bad_input_is_422_naming_the_field_and_opens_nothing(sqlite_client, body, loc):
    response = sqlite_client.post("/cases", json=body)
    assert response.status_code == 422
    assert loc in error_locs(response)
    assert sqlite_client.get("/cases").json()["items"] == []


def test_a_retried_request_with_the_same_idempotency_key_returns_the_same_case(client):
    headers = {"Idempotency-Key": "order-42-complaint"}
    first = client.post("/cases", json=complaint(), headers=headers)
    retry = client.post("/cases", json=complaint(), headers=headers)
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert [c["id"] for c in client.get("/cases").json()["items"]] == [first.json()["id"]]


def test_a_replay_answers_with_the_case_as_it_is_now(client):
    headers = {"Idempotency-Key": "k-1"}
    case = client.post("/cases", json=complaint(), headers=headers).json()
    client.post(f"/cases/{case['id']}/events", json={"type": "acknowledge"})
    retry = client.post("/cases", json=complaint(), headers=headers)
    assert (retry.status_code, retry.json()["stage"]) == (200, "in_progress")


def test_a_replay_shows_only_what_the_caller_may_read_now(client, runtime):
    # A billing member whose key covers complaints only: a billing case is not theirs
    # to read until it is assigned to them.
    agent = bearer(issue_key(runtime, "agent", name="zhou.xin", teams=["complaints"]))
    billing_lead = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    body = complaint(category="billing", customer={"ref": "cust-9", "phone": "13912345678"})
    headers = {**agent, "Idempotency-Key": "k-routed-away"}
    first = client.post("/cases", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["team"] == "billing"
    assert first.json()["assignee"] == "sun.hao"  # round robin's first
    case_id = first.json()["id"]
    assert client.get(f"/cases/{case_id}", headers=agent).status_code == 404
    noted = client.post(f"/cases/{case_id}/events", headers=billing_lead,
                        json={"type": "add_note", "note": "refund fraud suspected"})
    assert noted.status_code == 200

    retry = client.post("/cases", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == {"id": case_id, "process": "complaint", "readable": False}
    assert retry.headers["Location"] == f"/cases/{case_id}"
    assert "fraud" not in retry.text and "1391234" not in retry.text
    # Reassigned to the agent, the case is theirs to read again, and so is the replay.
    reassigned = client.post(f"/cases/{case_id}/events", headers=billing_lead,
                             json={"type": "reassign", "data": {"assignee": "zhou.xin"}})
    assert reassigned.status_code == 200
    again = client.post("/cases", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["assignee"] == "zhou.xin"
    assert any(e["details"].get("note") == "refund fraud suspected"
               for e in again.json()["timeline"])


def test_reusing_an_idempotency_key_with_a_different_body_is_409(client):
    headers = {"Idempotency-Key": "k-2"}
    first = client.post("/cases", json=complaint(), headers=headers)
    other = client.post("/cases", json=complaint(subject="something else"), headers=headers)
    assert first.status_code == 201
    assert other.status_code == 409
    assert other.json()["detail"]["error"] == "idempotency_key_reused"
    assert len(client.get("/cases").json()["items"]) == 1


def test_different_idempotency_keys_open_different_cases(client):
    a = client.post("/cases", json=complaint(), headers={"Idempotency-Key": "k-a"})
    b = client.post("/cases", json=complaint(), headers={"Idempotency-Key": "k-b"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_requests_without_a_key_are_never_deduplicated(client):
    a = client.post("/cases", json=complaint())
    b = client.post("/cases", json=complaint())
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_idempotency_key_that_is_empty_or_too_long_is_422_naming_the_header(client, key):
    response = client.post("/cases", json=complaint(), headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert error_locs(response) == [["header", "idempotency-key"]]
    assert client.get("/cases").json()["items"] == []


def test_the_docs_describe_the_idempotency_key_header(client):
    operation = client.get("/openapi.json").json()["paths"]["/cases"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "idempotency-key")
    assert header["in"] == "header" and header["schema"]["maxLength"] == 200


def test_an_empty_idempotency_key_twice_is_not_a_server_error(raw_client):
    headers = {"Idempotency-Key": ""}
    first = raw_client.post("/cases", json=complaint(), headers=headers)
    second = raw_client.post("/cases", json=complaint(), headers=headers)
    assert first.status_code in (201, 422)
    assert second.status_code in (201, 422)
