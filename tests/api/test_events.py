"""POST /cases/{id}/events: transitions, 409 with the allowed events, 422 for bad data."""

from __future__ import annotations

from datetime import timedelta

from tests.api.helpers import clock_named, error_locs, open_case, post_event
from tests.conftest import sweep
from tests.support import bearer, issue_key

# Events an assigned complaint takes, whatever else the table adds.
WORKING = {"acknowledge", "add_note", "change_priority", "reassign", "resolve", "withdraw"}


def test_acknowledge_moves_an_assigned_case_to_in_progress(client):
    case = open_case(client)
    assert set(case["allowed_events"]) >= WORKING
    assert not {"confirm", "reject", "auto_close"} & set(case["allowed_events"])
    response = post_event(client, case["id"], "acknowledge")
    assert response.status_code == 200
    after = response.json()
    assert after["stage"] == "in_progress"
    assert clock_named(after, "first_response")["state"] == "stopped"
    assert "acknowledge" not in after["allowed_events"]
    assert after["timeline"][-1]["type"] == "acknowledge"
    assert client.get(f"/cases/{case['id']}").json()["stage"] == "in_progress"


def test_an_illegal_event_is_409_with_the_allowed_events(client):
    case = open_case(client)
    response = post_event(client, case["id"], "confirm")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["allowed_events"] == case["allowed_events"]
    assert (detail["event"], detail["stage"]) == ("confirm", "assigned")
    after = client.get(f"/cases/{case['id']}").json()
    assert after["stage"] == "assigned"
    assert len(after["timeline"]) == len(case["timeline"])


def test_a_closed_case_refuses_every_event_with_an_empty_allowed_list(client):
    case_id = open_case(client)["id"]
    closed = post_event(client, case_id, "withdraw").json()
    assert (closed["stage"], closed["allowed_events"]) == ("closed", [])
    assert closed["closed_at"] is not None
    response = post_event(client, case_id, "add_note", note="too late")
    assert response.status_code == 409
    assert response.json()["detail"]["allowed_events"] == []


def test_the_whole_complaint_lifecycle_through_the_api(client):
    case_id = open_case(client)["id"]
    stages = []
    for event in ("acknowledge", "wait_on_customer", "customer_replied", "resolve", "reject",
                  "resolve", "confirm"):
        response = post_event(client, case_id, event)
        assert response.status_code == 200, (event, response.text)
        stages.append(response.json()["stage"])
    assert stages == ["in_progress", "waiting_on_customer", "in_progress", "resolved",
                      "in_progress", "resolved", "closed"]


def test_an_unknown_event_type_is_422_naming_type(client):
    case = open_case(client)
    response = post_event(client, case["id"], "teleport")
    assert response.status_code == 422
    assert error_locs(response) == [["body", "type"]]


def resolved_case(client) -> dict:  # type: ignore[no-untyped-def]
    case_id = open_case(client)["id"]
    for event in ("acknowledge", "resolve"):  # auto_close is only ever due on a resolved case
        assert post_event(client, case_id, event).status_code == 200
    return client.get(f"/cases/{case_id}").json()


def test_a_system_only_event_from_a_client_is_refused(client, runtime):
    case = resolved_case(client)
    for event in ("auto_close", "classify", "assign"):
        for headers in ({}, bearer(issue_key(runtime, "agent"))):
            response = client.post(f"/cases/{case['id']}/events", json={"type": event},
                                   headers=headers)
            assert response.status_code in (409, 422), (event, response.status_code)
            if response.status_code == 409:
                allowed = response.json()["detail"]["allowed_events"]
                assert set(allowed) <= set(case["allowed_events"])  # an agent's are fewer
                assert headers or allowed == case["allowed_events"]
            else:
                assert error_locs(response) == [["body", "type"]]
    after = client.get(f"/cases/{case['id']}").json()
    assert (after["stage"], after["closed_at"]) == ("resolved", None)
    assert len(after["timeline"]) == len(case["timeline"])
    assert not {"auto_close", "classify", "assign"} & set(after["allowed_events"])


def test_a_client_cannot_pass_itself_off_as_the_system(client):
    case = resolved_case(client)
    response = client.post(f"/cases/{case['id']}/events",
                           json={"type": "auto_close", "actor": "system", "by_system": True})
    assert response.status_code == 422
    assert client.get(f"/cases/{case['id']}").json()["stage"] == "resolved"


def test_reassign_without_an_assignee_is_422_naming_data_assignee(client):
    case_id = open_case(client)["id"]
    for data in ({}, {"assignee": ""}, {"assignee": "   "}, {"assignee": 7}, {"assignee": None},
                 {"who": "li.wei"}):
        response = post_event(client, case_id, "reassign", data=data)
        assert response.status_code == 422, data
        assert error_locs(response) == [["body", "data", "assignee"]], data


def test_reassign_changes_the_assignee_and_records_who_had_it(client):
    case = open_case(client)
    target = "li.wei" if case["assignee"] != "li.wei" else "zhang.min"
    response = post_event(client, case["id"], "reassign", data={"assignee": target})
    assert response.status_code == 200
    after = response.json()
    assert after["assignee"] == target
    assert after["stage"] == "assigned"
    assert after["timeline"][-1]["details"]["reassigned_from"] == case["assignee"]


def test_reassign_to_someone_outside_the_team_is_422_saying_who_may_be_assigned(client):
    case = open_case(client)
    for person in ("nobody.at.all", "sun.hao"):  # unknown; a member of team billing
        response = post_event(client, case["id"], "reassign", data={"assignee": person})
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "data", "assignee"]
        assert error["msg"] == (
            f"{person!r} is not a member of team 'complaints' nor above it; who may be "
            "assigned: ['li.wei', 'zhang.min', 'chen.jing', 'wang.fang', 'liu.yang', "
            "'zhao.lei']")
    assert client.get(f"/cases/{case['id']}").json()["assignee"] == case["assignee"]


def test_change_priority_to_an_unknown_priority_is_422(client):
    case_id = open_case(client)["id"]
    for data in ({"priority": "asap"}, {}, {"priority": None}, {"priority": ["urgent"]},
                 {"priority": 1}):
        response = post_event(client, case_id, "change_priority", data=data)
        assert response.status_code == 422, data
        assert error_locs(response) == [["body", "data", "priority"]], data
    assert client.get(f"/cases/{case_id}").json()["priority"] == "ordinary"


def test_change_priority_retargets_the_clocks(client):
    case_id = open_case(client)["id"]
    response = post_event(client, case_id, "change_priority", data={"priority": "urgent"})
    assert response.status_code == 200
    after = response.json()
    assert after["priority"] == "urgent"
    assert clock_named(after, "first_response")["target"] == "PT10M"
    assert clock_named(after, "resolution")["target"] == "PT4H"


def test_an_event_on_an_unknown_case_is_404(client):
    response = post_event(client, 4242, "acknowledge")
    assert response.status_code == 404
    assert "4242" in response.json()["detail"]


def test_a_malformed_event_body_is_422_naming_the_field(sqlite_client):
    case_id = open_case(sqlite_client)["id"]
    for body, loc in [
        ({}, ["body", "type"]),
        ({"type": ""}, ["body", "type"]),
        ({"type": 5}, ["body", "type"]),
        ({"type": "x" * 41}, ["body", "type"]),
        ({"type": "add_note", "data": []}, ["body", "data"]),
        ({"type": "add_note", "data": "x"}, ["body", "data"]),
        ({"type": "add_note", "note": "x" * 5001}, ["body", "note"]),
        ({"type": "add_note", "actor": "someone"}, ["body", "actor"]),
    ]:
        response = sqlite_client.post(f"/cases/{case_id}/events", json=body)
        assert response.status_code == 422, body
        assert loc in error_locs(response), body
    assert len(sqlite_client.get(f"/cases/{case_id}").json()["timeline"]) == 3


def test_a_note_is_kept_on_the_timeline_without_changing_the_stage(client):
    case_id = open_case(client)["id"]
    response = post_event(client, case_id, "add_note", note="customer called twice",
                          data={"call_id": "c-9"})
    assert response.status_code == 200
    entry = response.json()["timeline"][-1]
    assert entry["type"] == "add_note"
    assert entry["details"]["note"] == "customer called twice"
    assert entry["details"]["call_id"] == "c-9"
    assert response.json()["stage"] == "assigned"


def test_acknowledging_an_escalation_ends_that_clocks_ladder(client, runtime, clock):
    case_id = open_case(client)["id"]
    early = post_event(client, case_id, "acknowledge_escalation", data={"clock": "resolution"})
    assert early.status_code == 422  # nothing has escalated yet
    assert error_locs(early) == [["body", "data", "clock"]]
    for data in ({}, {"clock": "lunch"}, {"clock": ["resolution"]}):
        response = post_event(client, case_id, "acknowledge_escalation", data=data)
        assert response.status_code == 422, data
        assert error_locs(response) == [["body", "data", "clock"]], data
    clock.advance(timedelta(minutes=21))
    sweep(runtime)
    assert clock_named(client.get(f"/cases/{case_id}").json(),
                       "first_response")["next_escalation"]["name"] == "manager"
    response = post_event(client, case_id, "acknowledge_escalation",
                          data={"clock": "first_response"}, note="on it")
    assert response.status_code == 200
    first = clock_named(response.json(), "first_response")
    assert first["next_escalation"] is None
    assert first["breached"] is True
    clock.advance(timedelta(hours=1))  # past 150% and 200%: no further rung fires
    sweep(runtime)
    case = client.get(f"/cases/{case_id}").json()
    assert case["escalation_level"] == 1
    assert [e["details"].get("step") for e in case["timeline"] if e["type"] == "escalated"] == [
        "breach"]


def test_an_actor_named_in_chinese_is_kept_intact(client, runtime):
    case = open_case(client)
    key = issue_key(runtime, "supervisor", name="王芳")
    response = client.post(f"/cases/{case['id']}/events", json={"type": "acknowledge"},
                           headers=bearer(key))
    assert response.status_code == 200
    assert response.json()["timeline"][-1]["actor"] == "王芳"
