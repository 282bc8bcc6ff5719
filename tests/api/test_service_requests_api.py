"""Service requests over HTTP: book, refusals with the nearest free slots, events,
locations and slots, and one customer's cases across processes and channels."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import post_event
from tests.support import bearer, issue_key

SAT_15 = "2026-11-21T15:00:00+08:00"
SAT_15_UTC = "2026-11-21T07:00:00Z"  # as answers give it


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"customer": {"name": "Lin", "phone": "13812345678"},
                            "location": "xuhui-store", "channel": "web",
                            "service": "repair", "slot": SAT_15}
    body.update(overrides)
    return body


def book(client: TestClient, **overrides: Any) -> dict[str, Any]:
    answer = client.post("/service-requests", json=request(**overrides))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_booking_is_held_accepted_and_served_through_the_case_events(client):
    booked = book(client)
    assert booked["stage"] == "requested" and booked["booking"]["seq"] == 1
    assert booked["case"]["process"] == "service_request"
    assert {c["name"] for c in booked["case"]["clocks"]} == {"confirmation"}
    for event in ("accept", "check_in", "start_service", "complete"):
        assert post_event(client, booked["id"], event).status_code == 200, event
    done = client.get(f"/service-requests/{booked['id']}").json()
    assert (done["stage"], done["outcome"]) == ("completed", "completed")
    assert done["followup"] is not None
    assert client.get(f"/follow-ups/{done['followup']}").status_code == 200
    listed = client.get("/service-requests", params={"stage": "completed"}).json()
    assert [item["id"] for item in listed["items"]] == [booked["id"]]


def test_a_full_slot_answers_409_with_the_nearest_free_ones(client):
    book(client)
    book(client, customer={"ref": "other"})
    full = client.post("/service-requests", json=request(customer={"ref": "third"}))
    assert full.status_code == 409
    detail = full.json()["detail"]
    assert detail["error"] == "unavailable" and detail["loc"] == ["body", "slot"]
    assert "is full" in detail["message"]
    # 14:30, 15:30 and 16:00 in Shanghai, in UTC as every moment in an answer
    assert detail["nearest_free_slots"] == ["2026-11-21T06:30:00Z", "2026-11-21T07:30:00Z",
                                            "2026-11-21T08:00:00Z"]
    slots = client.get("/locations/xuhui-store/slots", params={"day": "2026-11-21"}).json()
    at_15 = next(s for s in slots if s["starts_at"] == SAT_15_UTC)
    assert (at_15["booked"], at_15["free"], len(slots)) == (2, 0, 22)


def test_a_closed_slot_and_wrong_fields_answer_422_naming_the_field(client):
    closed = client.post("/service-requests", json=request(slot="2026-11-21T22:00:00+08:00"))
    assert closed.status_code == 422
    error = closed.json()["detail"][0]
    assert error["loc"] == ["body", "slot"] and "closed then" in error["msg"]
    assert len(error["nearest_free_slots"]) == 3
    for field, value in (("location", "moon-base"), ("channel", "pigeon"),
                         ("service", "haircut")):
        wrong = client.post("/service-requests", json=request(**{field: value}))
        assert wrong.status_code == 422, field
        assert wrong.json()["detail"][0]["loc"] == ["body", field]
    naive = client.post("/service-requests", json=request(slot="2026-11-21T15:00:00"))
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "slot"]


def test_a_reschedule_into_a_full_slot_is_refused_and_changes_nothing(client):
    mine = book(client, slot="2026-11-21T16:00:00+08:00")
    book(client, customer={"ref": "a"})
    book(client, customer={"ref": "b"})
    post_event(client, mine["id"], "accept")
    refused = post_event(client, mine["id"], "reschedule", data={"slot": SAT_15})
    assert refused.status_code == 409
    assert refused.json()["detail"]["loc"] == ["body", "data", "slot"]
    still = client.get(f"/service-requests/{mine['id']}").json()
    assert still["booking"]["slot"] == "2026-11-21T08:00:00Z"  # 16:00 in Shanghai
    bad = post_event(client, mine["id"], "reschedule", data={"slot": "tomorrow"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "data", "slot"]


def test_transfers_are_listed_with_reason_and_time_held(client):
    booked = book(client, slot=None)
    moved = post_event(client, booked["id"], "transfer",
                       data={"team": "billing", "channel": "phone", "reason": "refund"})
    assert moved.status_code == 200, moved.text
    read = client.get(f"/service-requests/{booked['id']}").json()
    assert read["case"]["team"] == "billing" and read["case"]["channel"] == "phone"
    assert read["transfers"][0]["reason"] == "refund"
    no_reason = post_event(client, booked["id"], "transfer", data={"team": "complaints"})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["loc"] == ["body", "data", "reason"]


def test_a_transfer_out_of_the_clerk_s_scope_answers_success_with_what_they_may_see(
        client, runtime):
    booked = book(client, slot=None)
    clerk = bearer(issue_key(runtime, "agent", name="zhao.lei", teams=["complaints"]))
    moved = client.post(f"/cases/{booked['id']}/events", headers=clerk, json={
        "type": "transfer", "data": {"team": "billing", "reason": "billing question"}})
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert set(answer) == {"id", "process", "readable", "stage", "team", "event"}
    assert (answer["id"], answer["stage"], answer["team"], answer["readable"]) == (
        booked["id"], "requested", "billing", False)
    assert (answer["event"]["type"], answer["event"]["actor"]) == ("transfer", "zhao.lei")
    assert answer["event"]["details"]["reason"] == "billing question"
    assert client.get(f"/cases/{booked['id']}", headers=clerk).status_code == 404
    assert client.get(f"/service-requests/{booked['id']}").json()["case"]["team"] == "billing"


def test_locations_are_listed(client):
    locations = client.get("/locations").json()
    assert {loc["key"]: (loc["team"], loc["capacity"]) for loc in locations} == {
        "xuhui-store": ("complaints", 2), "pudong-centre": ("billing", 4)}
    assert client.get("/locations/nowhere/slots", params={"day": "2026-11-21"}
                      ).status_code == 404
    # Sunday: the service centre is closed.
    assert client.get("/locations/pudong-centre/slots", params={"day": "2026-11-22"}
                      ).json() == []


def test_one_customer_s_cases_across_processes_and_channels(client, runtime):
    complaint = client.post("/cases", json={
        "subject": "broken screen", "channel": "phone",
        "customer": {"name": "Lin", "phone": "138 1234 5678"}}).json()
    booked = book(client, channel="wecom", customer={"wecom": "lin-wx",
                                                     "phone": "+8613812345678"})
    customer_id = complaint["customer"]["id"]
    assert booked["case"]["customer"]["id"] == customer_id
    found = client.get("/customers", params={"kind": "wecom", "value": "lin-wx"}).json()
    assert found["id"] == customer_id
    assert found["channels"] == ["phone", "wecom"]
    assert {c["process"] for c in found["cases"]} == {"complaint", "service_request"}
    assert {i["kind"] for i in found["identities"]} == {"phone", "wecom"}

    billing_only = bearer(issue_key(runtime, "agent", name="sun.hao", teams=["billing"]))
    hidden = client.get(f"/customers/{customer_id}/cases", headers=billing_only)
    assert hidden.status_code == 404
    post_event(client, booked["id"], "transfer", data={"team": "billing", "reason": "refund"})
    seen = client.get(f"/customers/{customer_id}/cases", headers=billing_only).json()
    assert [c["id"] for c in seen["cases"]] == [booked["id"]]
    manager = bearer(issue_key(runtime, "manager"))
    masked = client.get(f"/customers/{customer_id}/cases", headers=manager).json()
    assert {i["value"] for i in masked["identities"]} == {"138****5678", "lin-wx"}
    assert client.get("/customers", params={"kind": "phone", "value": "100"}
                      ).status_code == 404
    first = client.get("/customers", headers=manager,
                       params={"kind": "wecom", "value": "lin-wx", "limit": 1}).json()
    rest = client.get("/customers", headers=manager, params={
        "kind": "wecom", "value": "lin-wx", "before_id": first["next_cursor"]}).json()
    assert [c["id"] for c in first["cases"] + rest["cases"]] == [booked["id"],
                                                                  complaint["id"]]


def test_a_replay_of_a_request_gone_to_another_team_says_only_that_it_exists(client,
                                                                               runtime):
    agent = bearer(issue_key(runtime, "agent", teams=["complaints"]))
    billing_lead = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    body = request(location="pudong-centre", slot=None,
                   customer={"ref": "cust-9", "email": "wu@example.com"})
    headers = {**agent, "Idempotency-Key": "booking-pudong"}
    first = client.post("/service-requests", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["case"]["team"] == "billing"
    request_id = first.json()["id"]
    assert client.get(f"/service-requests/{request_id}", headers=agent).status_code == 404
    assert post_event(client, request_id, "add_note", note="asked for a discount",
                      ).status_code == 200
    assert client.get(f"/service-requests/{request_id}", headers=billing_lead
                      ).status_code == 200

    retry = client.post("/service-requests", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == {"id": request_id, "process": "service_request",
                            "readable": False}
    assert retry.headers["Location"] == f"/service-requests/{request_id}"


def test_an_idempotency_key_replays_the_request_it_opened_for_its_caller_only(
        client, runtime):
    key = {"Idempotency-Key": "booking-7"}
    first = client.post("/service-requests", json=request(), headers=key)
    assert first.status_code == 201
    assert first.headers["Location"] == f"/service-requests/{first.json()['id']}"
    again = client.post("/service-requests", json=request(), headers=key)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    slots = client.get("/locations/xuhui-store/slots", params={"day": "2026-11-21"}).json()
    assert next(s for s in slots if s["starts_at"] == SAT_15_UTC)["booked"] == 1  # one seat
    other_body = client.post("/service-requests", json=request(service="returns"),
                             headers=key)
    assert other_body.status_code == 409
    assert other_body.json()["detail"]["error"] == "idempotency_key_reused"
    # The same key from someone else is theirs: a request of its own.
    agent = {**bearer(issue_key(runtime, "agent", name="li.wei", teams=["complaints"])),
             **key}
    theirs = client.post("/service-requests", json=request(), headers=agent)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # A complaint's key is not a service request's.
    complaint = client.post("/cases", headers={"Idempotency-Key": "complaint-1"}, json={
        "subject": "late", "customer": {"ref": "c-1"}})
    assert complaint.status_code == 201
    crossed = client.post("/service-requests", json=request(),
                          headers={"Idempotency-Key": "complaint-1"})
    assert crossed.status_code == 409


def test_slots_at_the_calendar_s_edge_answer_422_naming_the_field(client):
    for slot in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        edge = client.post("/service-requests", json=request(slot=slot))
        assert edge.status_code == 422, slot
        assert edge.json()["detail"][0]["loc"] == ["body", "slot"]
    booked = book(client, slot=None)
    for slot in ("0001-01-01T00:00:00+14:00", 12, None, ["x"]):
        edge = post_event(client, booked["id"], "accept", data={"slot": slot})
        assert edge.status_code in (409, 422), (slot, edge.text)


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
ANY = st.none() | st.booleans() | st.integers() | TEXT | st.lists(TEXT, max_size=2)
SLOTS = st.sampled_from([SAT_15, "2026-11-21T15:00:00", "2026-11-21", "x",
                         "0001-01-01T00:00:00+14:00", "2026-11-21T15:00:00+23:59"]) | ANY
CUSTOMERS = st.fixed_dictionaries({}, optional={
    k: TEXT | ANY for k in ("ref", "name", "tier", "phone", "email", "wecom", "wechat")})
BODIES = st.fixed_dictionaries({"customer": CUSTOMERS | ANY}, optional={
    "location": st.sampled_from(["xuhui-store", "pudong-centre"]) | TEXT,
    "channel": st.sampled_from(["web", "store"]) | TEXT,
    "service": st.just("repair") | TEXT, "slot": SLOTS, "description": TEXT | ANY})
EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["accept", "reschedule", "transfer", "cancel", "check_in",
                              "start_service", "complete", "remind", "no_show"])},
    optional={"data": st.dictionaries(
        st.sampled_from(["slot", "team", "channel", "location", "reason"]) | TEXT,
        SLOTS | st.sampled_from(["billing", "pudong-centre", "phone", "why"]), max_size=4)})
GENERATED = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


@GENERATED
@given(body=BODIES)
def test_generated_bookings_are_never_a_server_error(raw_client, body):
    answer = raw_client.post("/service-requests", json=body)
    assert answer.status_code in (201, 409, 422), (body, answer.text)


@GENERATED
@given(events=st.lists(EVENTS, max_size=4))
def test_generated_events_on_a_request_are_never_a_server_error(raw_client, events):
    booked = raw_client.post("/service-requests", json=request(slot=None))
    assert booked.status_code == 201
    for event in events:
        answer = raw_client.post(f"/cases/{booked.json()['id']}/events", json=event)
        assert answer.status_code in (200, 409, 422), (event, answer.text)
