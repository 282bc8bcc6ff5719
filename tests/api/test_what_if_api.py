"""POST /reports/what-if: candidate policies as file contents, scope, and refusals."""

from __future__ import annotations

from datetime import timedelta

import yaml

import api.whatif
from core.whatif import ReplayWorkers
from tests.api.helpers import open_case, post_event
from tests.conftest import sweep
from tests.support import SHIPPED_POLICIES, bearer, issue_key

PERIOD = {"from": "2026-11-20", "to": "2026-11-20"}


def _complaint_yaml(ordinary_first_response: str) -> str:
    data = yaml.safe_load((SHIPPED_POLICIES / "complaint.yaml").read_text())
    data["complaint"]["clocks"]["first_response"]["targets"]["ordinary"] = \
        ordinary_first_response
    return yaml.safe_dump(data, allow_unicode=True)


def _two_late_answers(client, clock, runtime) -> list[int]:  # type: ignore[no-untyped-def]
    """Two ordinary complaints, one billing, warned and breached (the sweeper ran), each
    answered after 25 minutes."""
    ids = []
    for category in ("delivery", "billing"):
        case = open_case(client, priority="ordinary", category=category)
        ids.append(case["id"])
    clock.advance(timedelta(minutes=25))
    sweep(runtime)
    for case_id in ids:
        assert post_event(client, case_id, "acknowledge").status_code == 200
    clock.advance(timedelta(minutes=5))
    return ids


def test_a_supervisor_sees_what_thirty_minutes_would_have_changed(client, clock, runtime):
    ids = _two_late_answers(client, clock, runtime)
    answer = client.post("/reports/what-if", json={
        **PERIOD, "policies": {"complaint.yaml": _complaint_yaml("PT30M")}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recorded"]["on_time"]["first_response"]["met"] == 0
    assert body["candidate"]["on_time"]["first_response"]["met"] == 2
    assert body["recorded"]["breaches"] == 2 and body["candidate"]["breaches"] == 0
    assert body["recorded"]["rungs_by_level"] == {"0": 2, "1": 2}
    assert body["candidate"]["rungs_by_level"] == {"0": 2}
    assert body["recorded"]["rungs_by_person"]["wang.fang"] == 2
    assert "wang.fang" not in body["candidate"]["rungs_by_person"]
    assert body["changed_cases"] == 2
    # Said plainly: only complaints were replayed, the other processes' policies unused.
    assert body["replayed"] == ["complaint"]
    assert {"crisis", "followup", "service_request"} <= set(body["not_replayed"])
    assert (body["period_start"], body["period_end"], body["timezone"]) == (
        "2026-11-19T16:00:00Z", "2026-11-20T16:00:00Z", "Asia/Shanghai")
    assert [c["case_id"] for c in body["changes"]] == ids
    assert body["changes"][0]["differences"]["clocks.first_response"] == ["missed", "met"]
    # Nothing was written: the cases read as they did.
    case = client.get(f"/cases/{ids[0]}").json()
    assert case["escalation_level"] == 1


def test_a_team_supervisor_replays_only_their_team(client, clock, runtime):
    _two_late_answers(client, clock, runtime)
    billing = bearer(issue_key(runtime, "supervisor", name="wang.fang", teams=["billing"]))
    answer = client.post("/reports/what-if", headers=billing, json={
        **PERIOD, "policies": {"complaint.yaml": _complaint_yaml("PT30M")}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["teams"] == ["billing"]
    assert answer.json()["recorded"]["cases"] == 1
    outside = client.post("/reports/what-if", headers=billing,
                          json={**PERIOD, "policies": {}, "teams": ["complaints"]})
    assert outside.status_code == 422
    assert outside.json()["detail"][0]["loc"] == ["body", "teams"]


def test_agents_may_not_ask(client, runtime):
    agent = bearer(issue_key(runtime, "agent"))
    answer = client.post("/reports/what-if", headers=agent, json={**PERIOD, "policies": {}})
    assert answer.status_code == 403


def test_a_bad_candidate_is_refused_naming_the_file_and_the_field(sqlite_client):
    bad_duration = _complaint_yaml("twenty minutes")
    answer = sqlite_client.post("/reports/what-if", json={
        **PERIOD, "policies": {"complaint.yaml": bad_duration}})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["body", "policies", "complaint.yaml"]
    assert "complaint.clocks.first_response.targets.ordinary" in detail["msg"]
    for policies, where in [({"complaint.yaml": "complaint: [unclosed"}, "complaint.yaml"),
                            ({"teams.yaml": "teams: {}\npeople: {}\nextra: 1"}, "teams.yaml"),
                            ({"nonsense.yaml": "a: 1"}, "nonsense.yaml")]:
        answer = sqlite_client.post("/reports/what-if", json={**PERIOD, "policies": policies})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "policies", where]


def test_bad_periods_and_fields_are_refused_by_name(sqlite_client):
    cases = [
        ({"from": "2026-11-20", "to": "2026-11-19", "policies": {}}, ["body", "to"]),
        ({"from": "2026-11-20", "to": "2026-11-20", "policies": {}, "timezone": "Mars/Base"},
         ["body", "timezone"]),
        ({"from": "2026-11-20", "to": "2026-11-20", "policies": {}, "teams": ["nobody"]},
         ["body", "teams"]),
        ({"from": "someday", "to": "2026-11-20", "policies": {}}, ["body", "from"]),
        ({"from": "2026-11-20", "to": "2026-11-20", "policies": {"complaint.yaml": 5}},
         ["body", "policies", "complaint.yaml"]),
        ({"from": "2026-11-20", "to": "2026-11-20"}, ["body", "policies"]),
    ]
    for body, loc in cases:
        answer = sqlite_client.post("/reports/what-if", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["detail"][0]["loc"] == loc, body


def test_beyond_the_replays_that_may_wait_a_request_is_told_to_come_back(sqlite_client,
                                                                         monkeypatch):
    # Room for none: every replay is refused, as when one runs and four wait.
    monkeypatch.setattr(api.whatif, "REPLAYS", ReplayWorkers(processes=1, waiting=-1))
    refused = sqlite_client.post("/reports/what-if", json={**PERIOD, "policies": {}})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "30"
    assert "try again later" in refused.json()["detail"]
