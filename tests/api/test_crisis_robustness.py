"""Never a 500 for a crisis: generated events on crises in every open stage, and generated
link requests.

The raw client calls as a supervisor of every team; a manager's key approves notices.
Each example picks an open stage and finds (or walks a fresh crisis to) a crisis in it.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.crisis import rules as crisis
from tests.api.test_robustness import GENERATED, JSON_VALUES, TEXT
from tests.support import bearer, issue_key

EVENTS = ["confirm", "dismiss", "override_severity", "assemble_team", "post_update",
          "draft_notice", "approve_notice", "publish_notice", "resolve",
          "start_compensation", "skip_compensation", "compensation_done", "complete_review",
          "add_note", "acknowledge_escalation"]
FIELDS = ["likelihood", "impact", "severity", "reason", "lead", "members", "summary",
          "channel", "notice", "subject", "body", "kind", "value", "description",
          "what_happened", "root_cause", "actions", "pdca", "clock"]
PLAUSIBLE = (JSON_VALUES | st.sampled_from(
    ["likely", "severe", "S1", "S5", "website", "fax", "coupon", "wang.fang", "update_1", 1,
     0, -1, 2**40, 1.5, ["li.wei"], [], {"kpi": "reopen_rate", "target": 0.1}]))
CRISIS_EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENTS)},
    optional={"data": st.dictionaries(st.sampled_from(FIELDS) | TEXT, PLAUSIBLE, max_size=5),
              "note": TEXT})
LINKS = st.fixed_dictionaries({}, optional={
    "case_ids": st.lists(st.integers(-5, 2**31 + 5), max_size=4) | JSON_VALUES,
    "category": TEXT | st.none(),
    "opened_from": st.sampled_from(["2026-11-20T09:00:00+08:00", "2026-11-20T09:00:00",
                                    "1-01-01T00:00:00+14:00", "yesterday"]) | JSON_VALUES,
    "opened_to": st.sampled_from(["2026-11-20T11:00:00+08:00", "9999-12-31T23:59:59-14:00"])
    | JSON_VALUES})


WALK = [("confirm", {"likelihood": "likely", "impact": "severe"}),
        ("draft_notice", {"channel": "website", "summary": "Delays."}),
        ("assemble_team", {"lead": "wang.fang", "members": ["li.wei"]}),
        ("resolve", {"summary": "done"}),
        ("skip_compensation", {"reason": "no customer harmed"})]
# How many steps of the walk reach each open stage.
STEPS = {"candidate": 0, "confirmed": 2, "responding": 3, "resolved": 4, "reviewing": 5}
STAGES = list(STEPS)


def _crisis_in(client, stage: str) -> int:  # type: ignore[no-untyped-def]
    """A crisis in `stage`: the newest one if it is there still, else a fresh one walked
    there."""
    for found in client.get("/crises", params={"limit": 20}).json()["items"]:
        if found["stage"] == stage:
            return found["id"]
    made = client.post("/crises", json={"title": "Depot fire", "category": "delivery"})
    assert made.status_code == 201, made.text
    crisis_id = made.json()["id"]
    for kind, data in WALK[:STEPS[stage]]:
        done = client.post(f"/cases/{crisis_id}/events", json={"type": kind, "data": data})
        assert done.status_code == 200, done.text
    return crisis_id


@GENERATED
@given(draw=st.data(), stage=st.sampled_from(STAGES), as_manager=st.booleans())
def test_generated_crisis_events_are_never_a_server_error(raw_client, runtime, draw, stage,
                                                          as_manager):
    # Mostly events the stage takes, so the hooks see the generated data.
    allowed = crisis.TABLE.allowed_events(stage, include_system=True)
    body = draw.draw(CRISIS_EVENTS | st.fixed_dictionaries(
        {"type": st.sampled_from(allowed), "data": st.dictionaries(
            st.sampled_from(FIELDS), PLAUSIBLE, max_size=5)}), label="body")
    crisis_id = _crisis_in(raw_client, stage)
    headers = bearer(issue_key(runtime, "manager")) if as_manager else None
    response = raw_client.post(f"/cases/{crisis_id}/events", json=body, headers=headers)
    assert response.status_code in (200, 403, 409, 422), (body, response.text[:300])


@GENERATED
@given(body=LINKS | JSON_VALUES)
def test_generated_link_requests_are_never_a_server_error(raw_client, body):
    crisis_id = _crisis_in(raw_client, "confirmed")
    response = raw_client.post(f"/crises/{crisis_id}/links", json=body)
    assert response.status_code in (200, 422), (body, response.text[:300])
