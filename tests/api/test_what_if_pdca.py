"""A PDCA plan's predicted effect from a what-if run, and the check beside it."""

from __future__ import annotations

from datetime import timedelta

from tests.api.helpers import open_case, post_event
from tests.api.test_what_if_api import PERIOD, _complaint_yaml
from tests.conftest import sweep

PLAN = {"problem": "Billing complaints miss their first response",
        "kpi": "complaint_on_time_rate", "target": 0.9,
        "scope": {"team": "billing", "category": "billing"}}


def test_a_plan_predicts_with_a_what_if_and_the_check_shows_it_beside_the_measure(
        client, runtime, clock):
    late = [open_case(client, priority="ordinary", category="billing")["id"]
            for _ in range(2)]
    open_case(client, priority="ordinary", category="delivery")  # outside the scope
    clock.advance(timedelta(minutes=25))
    sweep(runtime)
    for case_id in late:
        post_event(client, case_id, "acknowledge")
    cycle = client.post("/pdca-cycles", json=PLAN).json()
    assert cycle["baseline"]["value"] == 0.0 and cycle["prediction"] is None

    predicted = client.post(f"/pdca-cycles/{cycle['id']}/prediction", json={
        **PERIOD, "policies": {"complaint.yaml": _complaint_yaml("PT30M")}})
    assert predicted.status_code == 200, predicted.text
    prediction = predicted.json()["prediction"]
    # First responses: both met at 30 minutes; resolutions still undecided.
    assert (prediction["value"], prediction["numerator"], prediction["denominator"]) == (
        1.0, 2, 2)
    assert prediction["recorded_value"] == 0.0 and prediction["cases"] == 2
    assert prediction["requested_by"] == "wang.fang"

    assert post_event(client, cycle["id"], "start_pilot").status_code == 200
    answered = open_case(client, priority="ordinary", category="billing")["id"]
    clock.advance(timedelta(minutes=10))
    post_event(client, answered, "acknowledge")
    post_event(client, answered, "resolve")
    clock.advance(timedelta(days=14))
    sweep(runtime)
    checked = client.get(f"/pdca-cycles/{cycle['id']}").json()
    assert checked["stage"] == "acting" and checked["measured"]["value"] == 1.0
    entry = next(e for e in checked["case"]["timeline"] if e["type"] == "check")
    assert (entry["details"]["predicted"], entry["details"]["measured"]) == (1.0, 1.0)


def test_a_prediction_is_refused_for_a_kpi_a_replay_cannot_give_or_a_closed_cycle(client):
    resolution = client.post("/pdca-cycles", json={**PLAN, "kpi": "resolution_rate"}).json()
    refused = client.post(f"/pdca-cycles/{resolution['id']}/prediction",
                          json={**PERIOD, "policies": {}})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["path", "cycle_id"]
    cycle = client.post("/pdca-cycles", json=PLAN).json()
    assert post_event(client, cycle["id"], "abandon").status_code == 200
    closed = client.post(f"/pdca-cycles/{cycle['id']}/prediction",
                         json={**PERIOD, "policies": {}})
    assert closed.status_code == 409
    bad = client.post(f"/pdca-cycles/{cycle['id']}/prediction",
                      json={**PERIOD, "policies": {"complaint.yaml": "complaint: ["}})
    assert bad.status_code == 422  # the candidate is checked before the cycle's stage
    assert bad.json()["detail"][0]["loc"] == ["body", "policies", "complaint.yaml"]
