"""PDCA cycles over HTTP: plan one, read it, run it through the generic events endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.helpers import error_locs, open_case
from tests.conftest import sweep
from tests.support import bearer, issue_key

PLAN = {"problem": "First responses on billing complaints are late at lunchtime",
        "kpi": "complaint_on_time_rate", "target": 0.95,
        "scope": {"team": "billing", "category": "billing"}}


def test_a_supervisor_plans_a_cycle_and_runs_it_to_the_check(client, runtime, clock):
    case_id = open_case(client, category="delivery")["id"]  # outside the KPI's scope
    created = client.post("/pdca-cycles", json={**PLAN, "links": {"cases": [case_id]}})
    assert created.status_code == 201, created.text
    cycle = created.json()
    assert cycle["stage"] == "planning"
    assert cycle["plan"] == {**PLAN, "pilot_period": "P14D"}
    assert cycle["baseline"]["denominator"] == 0 and cycle["baseline"]["value"] is None
    assert cycle["links"] == {"cases": [case_id], "findings": [], "review_runs": []}
    case = cycle["case"]
    assert (case["process"], case["team"], case["assignee"]) == ("pdca", "billing",
                                                                 "wang.fang")
    assert case["customer"] is None and case["tier"] is None
    assert [c["name"] for c in case["clocks"]] == ["plan"]
    assert set(case["allowed_events"]) == {"update_plan", "start_pilot", "abandon",
                                           "add_note", "acknowledge_escalation"}

    started = client.post(f"/cases/{cycle['id']}/events", json={"type": "start_pilot"})
    assert started.status_code == 200
    clock.advance(timedelta(days=14))
    sweep(runtime)
    checked = client.get(f"/pdca-cycles/{cycle['id']}").json()
    assert (checked["stage"], checked["verdict"]) == ("acting", "inconclusive")
    assert checked["pilot_to"] is not None and checked["measured"]["denominator"] == 0
    listed = client.get("/pdca-cycles", params={"stage": "acting"}).json()
    assert [c["id"] for c in listed["items"]] == [cycle["id"]]


def test_an_update_changes_the_plan_while_planning_only(client):
    cycle = client.post("/pdca-cycles", json=PLAN).json()
    updated = client.post(f"/cases/{cycle['id']}/events",
                          json={"type": "update_plan", "data": {"target": 0.9}})
    assert updated.status_code == 200
    assert client.get(f"/pdca-cycles/{cycle['id']}").json()["plan"]["target"] == 0.9
    bad = client.post(f"/cases/{cycle['id']}/events",
                      json={"type": "update_plan", "data": {"target": 2}})
    assert (bad.status_code, error_locs(bad)) == (422, [["body", "data", "target"]])
    # The baseline measured this KPI over this scope: changing them is a new cycle.
    for change in ({"kpi": "reopen_rate"}, {"scope": {"team": "complaints"}}):
        fixed = client.post(f"/cases/{cycle['id']}/events",
                            json={"type": "update_plan", "data": change})
        assert (fixed.status_code, error_locs(fixed)) == (422, [["body", "data"]])


@pytest.mark.parametrize(("change", "loc"), [
    ({"kpi": "happiness"}, ["body", "kpi"]),
    ({"target": 1.5}, ["body", "target"]),
    ({"problem": ""}, ["body", "problem"]),
    ({"scope": {"team": "nowhere"}}, ["body", "scope", "team"]),
    ({"scope": {"colour": "red"}}, ["body", "scope", "colour"]),
    ({"pilot_period": "two weeks"}, ["body", "pilot_period"]),
    ({"pilot_period": "PT1H"}, ["body", "pilot_period"]),
    ({"team": "nowhere"}, ["body", "team"]),
    ({"scope": {"category": "billing"}}, ["body", "scope", "team"]),
])
def test_a_plan_that_cannot_work_is_422_naming_the_field(client, change, loc):
    response = client.post("/pdca-cycles", json={**PLAN, **change})
    assert response.status_code == 422
    assert loc in error_locs(response)
    assert client.get("/pdca-cycles").json()["items"] == []


def test_only_supervisors_managers_and_directors_run_cycles(client, runtime):
    agent = bearer(issue_key(runtime, "agent"))
    assert client.post("/pdca-cycles", json=PLAN, headers=agent).status_code == 403
    cycle = client.post("/pdca-cycles", json=PLAN).json()
    refused = client.post(f"/cases/{cycle['id']}/events", json={"type": "start_pilot"},
                          headers=agent)
    assert refused.status_code == 403
    manager = bearer(issue_key(runtime, "manager"))
    assert client.post("/pdca-cycles", json=PLAN, headers=manager).status_code == 201
    a_complaint_id = client.post("/cases", json={"subject": "x", "customer": {}}).json()["id"]
    assert client.get(f"/pdca-cycles/{a_complaint_id}").status_code == 404


def test_a_finding_promoted_to_a_cycle_is_linked_both_ways(client):
    case_id = client.post("/cases", json={"subject": "late", "customer": {}}).json()["id"]
    finding = client.post("/findings", json={
        "title": "First responses late on Mondays", "kpi": "complaint_on_time_rate",
        "team": "complaints", "case_ids": [case_id]}).json()
    promoted = client.post(f"/findings/{finding['id']}/promote", json={})
    assert promoted.status_code == 201, promoted.text
    cycle = promoted.json()
    assert cycle["plan"]["problem"] == "First responses late on Mondays"
    assert (cycle["plan"]["kpi"], cycle["plan"]["target"]) == ("complaint_on_time_rate", 0.95)
    assert cycle["plan"]["scope"] == {"team": "complaints"}
    assert cycle["links"] == {"findings": [finding["id"]], "cases": [case_id],
                              "review_runs": []}
    after = client.get(f"/findings/{finding['id']}").json()
    assert (after["status"], after["pdca_cycle_id"]) == ("promoted", cycle["id"])
    again = client.post(f"/findings/{finding['id']}/promote", json={})
    assert again.status_code == 409 and "only an open finding" in again.text
    assert client.post(f"/findings/{finding['id']}/dismiss",
                       json={"reason": "done"}).status_code == 409


def test_a_finding_without_a_targetable_kpi_needs_one_to_be_promoted(client):
    finding = client.post("/findings", json={"title": "Rude replies", "team": "billing"}).json()
    refused = client.post(f"/findings/{finding['id']}/promote", json={})
    assert (refused.status_code, error_locs(refused)) == (422, [["body", "kpi"]])
    no_target = client.post(f"/findings/{finding['id']}/promote",
                            json={"kpi": "reopen_rate"})
    assert (no_target.status_code, error_locs(no_target)) == (422, [["body", "target"]])
    ok = client.post(f"/findings/{finding['id']}/promote",
                     json={"kpi": "reopen_rate", "target": 0.05, "problem": "Reopened"})
    assert ok.status_code == 201 and ok.json()["plan"]["problem"] == "Reopened"


def test_a_supervisor_measures_only_their_own_teams(client, runtime):
    billing_only = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    for scope, loc in (({"team": "complaints"}, ["body", "scope", "team"]),
                       ({"category": "billing"}, ["body", "scope", "team"])):
        refused = client.post("/pdca-cycles", json={**PLAN, "scope": scope},
                              headers=billing_only)
        assert (refused.status_code, error_locs(refused)) == (422, [loc])
    other_team = client.post("/pdca-cycles", headers=billing_only,
                             json={**PLAN, "team": "complaints"})
    assert (other_team.status_code, error_locs(other_team)) == (422, [["body", "team"]])
    manager = bearer(issue_key(runtime, "manager"))
    service_wide = client.post("/pdca-cycles", headers=manager,
                               json={**PLAN, "scope": {"category": "billing"}})
    assert service_wide.status_code == 201


def test_a_cycle_links_only_cases_its_planner_may_read(client, runtime):
    billing_only = bearer(issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]))
    own = open_case(client, category="billing")["id"]
    others = open_case(client, category="delivery")
    assert others["team"] != "billing"
    answers = [client.post("/pdca-cycles", headers=billing_only,
                           json={**PLAN, "links": {"cases": [own, case_id]}})
               for case_id in (others["id"], 999_999)]
    for answer, case_id in zip(answers, (others["id"], 999_999), strict=True):
        # Another team's case and one that does not exist are refused alike.
        assert (answer.status_code, error_locs(answer)) == (422, [["body", "links", "cases"]])
        assert answer.json()["detail"][0]["msg"] == f"no case you may read has the id {case_id}"
    assert client.get("/pdca-cycles", headers=billing_only).json()["items"] == []
    linked = client.post("/pdca-cycles", headers=billing_only,
                         json={**PLAN, "links": {"cases": [own]}})
    assert linked.status_code == 201 and linked.json()["links"]["cases"] == [own]
    manager = bearer(issue_key(runtime, "manager"))
    every_team = client.post("/pdca-cycles", headers=manager,
                             json={**PLAN, "links": {"cases": [own, others["id"]]}})
    assert every_team.status_code == 201
