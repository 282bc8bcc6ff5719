"""Inputs at the API's edge that once stored what could not be read back, or answered 500:
each is refused with a 422 naming the field (or taken as harmless), and the service
keeps answering afterwards. Server errors come back as status codes here (`raw_client`).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import error_locs, open_case, post_event
from tests.api.test_crisis_api import confirmed
from tests.api.test_service_requests_api import book, request

JSON = {"content-type": "application/json"}
LONE_SURROGATE = b'"\\ud800"'  # valid JSON text, but no UTF-8 can carry it


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"k": value}
    return value


# 1. An empty customer ref ------------------------------------------------------------


def test_an_empty_customer_ref_is_no_ref_and_never_blocks_the_next_one(raw_client):
    for _ in range(3):
        answer = raw_client.post("/cases", json={"subject": "x", "customer": {"ref": ""}})
        assert answer.status_code == 201, answer.text
        assert answer.json()["customer"]["ref"] is None
    for _ in range(2):
        answer = raw_client.post("/service-requests",
                                 json=request(customer={"ref": ""}, slot=None))
        assert answer.status_code == 201, answer.text
        assert answer.json()["case"]["customer"]["ref"] is None


# 2 and 3. JSON that is stored must be readable back ----------------------------------


def test_event_data_nested_too_deep_is_refused_before_anything_is_stored(raw_client):
    case_id = open_case(raw_client)["id"]
    answer = post_event(raw_client, case_id, "add_note", note="n", data=nested(260))
    assert answer.status_code == 422, answer.text
    assert error_locs(answer)[0][:3] == ["body", "data", "k"]
    assert "nested" in answer.json()["detail"][0]["msg"]
    read = raw_client.get(f"/cases/{case_id}")
    assert read.status_code == 200
    assert [e["type"] for e in read.json()["timeline"]][-1] != "add_note"
    assert post_event(raw_client, case_id, "add_note", note="n").status_code == 200


def test_a_lone_surrogate_in_event_data_is_refused_and_the_case_stays_readable(raw_client):
    case_id = open_case(raw_client)["id"]
    body = b'{"type":"add_note","note":"n","data":{"k":' + LONE_SURROGATE + b"}}"
    answer = raw_client.post(f"/cases/{case_id}/events", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert error_locs(answer) == [["body", "data", "k"]]
    key = b'{"type":"add_note","note":"n","data":{' + LONE_SURROGATE + b':1}}'
    answer = raw_client.post(f"/cases/{case_id}/events", content=key, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert raw_client.get(f"/cases/{case_id}").status_code == 200
    assert post_event(raw_client, case_id, "add_note", note="n").status_code == 200


def test_a_lone_surrogate_in_a_finding_is_refused_and_the_backlog_stays_readable(raw_client):
    body = b'{"title":"t","team":"billing","figures":{"x":' + LONE_SURROGATE + b"}}"
    answer = raw_client.post("/findings", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert error_locs(answer) == [["body", "figures", "x"]]
    assert raw_client.get("/findings").status_code == 200
    assert raw_client.get("/findings").json()["items"] == []


def test_a_deeply_nested_survey_answer_is_422_not_a_server_error(raw_client):
    deep = b"[" * 8000 + b"]" * 8000
    answer = raw_client.post("/s/any-token", content=deep, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert error_locs(answer) == [["body"]]


# 5. NUL characters in query parameters -------------------------------------------------


@pytest.mark.parametrize(("path", "name"), [
    ("/cases", "team"), ("/follow-ups", "team"), ("/follow-ups", "assignee"),
    ("/service-requests", "team"), ("/service-requests", "assignee"),
    ("/pdca-cycles", "team"), ("/crises", "category"), ("/customers", "value"),
    ("/reports/runs", "review"), ("/reports/trends", "team")])
def test_a_nul_character_in_a_query_parameter_is_422_naming_it(raw_client, path, name):
    params = {"kind": "phone", "value": "13812345678"} if path == "/customers" else {}
    answer = raw_client.get(path, params={**params, name: "a\x00b"})
    assert answer.status_code == 422, answer.text
    assert error_locs(answer) == [["query", name]]


def test_a_nul_character_in_a_path_parameter_is_422(raw_client):
    answer = raw_client.get("/locations/a%00b/slots", params={"day": "2026-11-21"})
    assert answer.status_code == 422, answer.text
    assert error_locs(answer) == [["path", "location"]]


# 6. Event data of the wrong JSON type ----------------------------------------------------


@pytest.mark.parametrize("field", ["team", "location", "channel"])
@pytest.mark.parametrize("value", [["billing"], {"name": "billing"}])
def test_a_transfer_with_a_list_or_object_for_a_name_is_422_naming_it(raw_client, field,
                                                                        value):
    booked = book(raw_client)
    answer = post_event(raw_client, booked["id"], "transfer",
                        data={field: value, "reason": "closer to home"})
    assert answer.status_code == 422, answer.text
    assert error_locs(answer)[0] == ["body", "data", field]


@pytest.mark.parametrize("value", [["social_media"], {"kind": "press"}])
def test_a_notice_with_a_list_or_object_for_its_channel_is_422_naming_it(raw_client, value):
    crisis = confirmed(raw_client)
    answer = post_event(raw_client, crisis["id"], "draft_notice",
                        data={"channel": value, "summary": "We are on it."})
    assert answer.status_code == 422, answer.text
    assert error_locs(answer)[0] == ["body", "data", "channel"]


# 7. Slots at the edge of the calendar ------------------------------------------------------

EDGE_SLOTS = ["0001-01-01T00:00:00+00:00", "0001-01-01T10:00:00+08:00",
              "9999-12-31T23:59:59+00:00", "9999-12-31T10:00:00-08:00"]


@pytest.mark.parametrize("slot", EDGE_SLOTS)
def test_a_slot_at_the_edge_of_the_calendar_is_422_naming_it(raw_client, slot):
    answer = raw_client.post("/service-requests", json=request(slot=slot))
    assert answer.status_code == 422, answer.text
    assert error_locs(answer)[0] == ["body", "slot"]
    unslotted = book(raw_client, slot=None)
    answer = post_event(raw_client, unslotted["id"], "accept", data={"slot": slot})
    assert answer.status_code == 422, answer.text
    assert error_locs(answer)[0] == ["body", "data", "slot"]
