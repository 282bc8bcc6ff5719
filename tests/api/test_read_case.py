"""GET /cases/{id}: clocks with due time, remaining business time, pause, breach, timeline."""

from __future__ import annotations

from datetime import timedelta

from tests.api.helpers import at, clock_named, open_case, post_event
from tests.conftest import sweep
from tests.support import bearer, issue_key


def test_an_unknown_case_is_404(client):
    response = client.get("/cases/4242")
    assert response.status_code == 404
    assert "4242" in response.json()["detail"]


def test_a_negative_id_is_422_naming_the_id(client):
    response = client.get("/cases/-1")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "case_id"]


def test_a_non_integer_id_is_422(sqlite_client):
    response = sqlite_client.get("/cases/abc")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "case_id"]


def test_a_fresh_case_shows_every_clock_running_with_its_due_time(client, clock):
    opened = open_case(client)
    case = client.get(f"/cases/{opened['id']}").json()
    now = clock.now()
    first = clock_named(case, "first_response")
    assert first["state"] == "running"
    assert first["calendar"] == "24x7"
    assert at(first["started_at"]) == now
    assert at(first["due_at"]) == now + timedelta(minutes=20)
    assert first["remaining"] == "PT20M"
    assert first["remaining_seconds"] == 20 * 60
    assert (first["paused"], first["breached"], first["breached_at"], first["met"]) == (
        False, False, None, None)
    assert first["next_escalation"]["name"] == "warning"
    assert first["next_escalation"]["level"] == 0
    assert first["next_escalation"]["at_percent"] == 75
    assert at(first["next_escalation"]["fire_at"]) == now + timedelta(minutes=15)
    resolution = clock_named(case, "resolution")
    assert at(resolution["due_at"]) == now + timedelta(hours=24)
    assert resolution["remaining"] == "P1D"


def test_remaining_time_counts_down_as_the_clock_moves(client, clock):
    case_id = open_case(client)["id"]
    clock.advance(timedelta(minutes=5))
    first = clock_named(client.get(f"/cases/{case_id}").json(), "first_response")
    assert first["remaining"] == "PT15M"
    assert first["remaining_seconds"] == 15 * 60
    assert first["breached"] is False


def test_a_clock_is_paused_while_the_case_waits_on_the_customer(client, clock):
    case_id = open_case(client)["id"]
    post_event(client, case_id, "acknowledge")
    clock.advance(timedelta(hours=1))
    response = post_event(client, case_id, "wait_on_customer")
    assert response.status_code == 200
    clock.advance(timedelta(hours=30))  # longer than the target: a paused clock never breaches
    case = client.get(f"/cases/{case_id}").json()
    assert case["stage"] == "waiting_on_customer"
    resolution = clock_named(case, "resolution")
    assert resolution["state"] == "paused"
    assert resolution["paused"] is True
    assert resolution["due_at"] is None
    assert resolution["remaining"] == "PT23H"
    assert resolution["breached"] is False
    assert resolution["next_escalation"]["name"] == "warning"
    assert resolution["next_escalation"]["fire_at"] is None


def test_the_due_time_moves_by_the_pause_when_the_customer_replies(client, clock):
    case_id = open_case(client)["id"]
    opened_at = clock.now()
    post_event(client, case_id, "acknowledge")
    post_event(client, case_id, "wait_on_customer")
    clock.advance(timedelta(hours=3))
    case = post_event(client, case_id, "customer_replied").json()
    resolution = clock_named(case, "resolution")
    assert resolution["paused"] is False
    assert at(resolution["due_at"]) == opened_at + timedelta(hours=27)


def test_a_clock_resumed_overdue_shows_a_due_time_as_far_back_as_it_is_overdue(
        client, clock, runtime):
    case_id = open_case(client, priority="urgent")["id"]  # resolution PT4H
    post_event(client, case_id, "acknowledge")
    clock.advance(timedelta(hours=4, seconds=6))
    post_event(client, case_id, "wait_on_customer")  # 6 s after the due time
    clock.advance(timedelta(minutes=5))
    resumed_at = clock.now()
    case = post_event(client, case_id, "customer_replied").json()
    resolution = clock_named(case, "resolution")
    assert resolution["remaining_seconds"] == -6
    assert at(resolution["due_at"]) == resumed_at - timedelta(seconds=6)
    # The rungs it passed fire at once, and their messages name that due time.
    sweep(runtime)
    breach = [e for e in client.get(f"/cases/{case_id}").json()["timeline"]
              if e["type"] == "escalated"][0]
    assert at(breach["details"]["due_at"]) == resumed_at - timedelta(seconds=6)


def test_an_acknowledged_case_shows_its_first_response_clock_stopped_and_met(client, clock):
    case_id = open_case(client)["id"]
    clock.advance(timedelta(minutes=7))
    post_event(client, case_id, "acknowledge")
    first = clock_named(client.get(f"/cases/{case_id}").json(), "first_response")
    assert first["state"] == "stopped"
    assert (first["met"], first["breached"], first["paused"]) == (True, False, False)
    assert first["due_at"] is None
    assert first["remaining"] == "PT13M"
    assert first["next_escalation"] is None


def test_a_clock_past_its_target_shows_breached_before_the_sweeper_runs(client, clock):
    case_id = open_case(client)["id"]
    clock.advance(timedelta(minutes=21))
    first = clock_named(client.get(f"/cases/{case_id}").json(), "first_response")
    assert first["breached"] is True
    assert first["remaining"] == "-PT1M"
    assert first["remaining_seconds"] == -60


def test_after_the_sweep_a_breached_clock_shows_when_and_the_next_rung(client, runtime, clock):
    case_id = open_case(client)["id"]
    opened_at = clock.now()
    clock.advance(timedelta(minutes=25))
    sweep(runtime)
    case = client.get(f"/cases/{case_id}").json()
    assert case["escalation_level"] == 1
    first = clock_named(case, "first_response")
    assert first["breached"] is True
    assert at(first["breached_at"]) == opened_at + timedelta(minutes=20)
    assert first["remaining"] == "-PT5M"
    assert first["remaining_seconds"] == -5 * 60
    assert first["next_escalation"]["name"] == "manager"
    assert first["next_escalation"]["level"] == 2
    assert at(first["next_escalation"]["fire_at"]) == opened_at + timedelta(minutes=30)
    resolution = clock_named(case, "resolution")
    assert resolution["breached"] is False
    assert resolution["next_escalation"]["name"] == "warning"
    steps = [(e["type"], e["details"].get("step")) for e in case["timeline"]
             if e["type"] in ("sla_warning", "escalated")]
    assert steps == [("sla_warning", "warning"), ("escalated", "breach")]


def test_the_timeline_names_who_acted_from_their_credentials(client, runtime):
    web_form = bearer(issue_key(runtime, "agent", name="web-form", kind="integration"))
    opened = client.post("/cases", json={"subject": "late delivery", "customer": {}},
                         headers=web_form).json()
    post_event(client, opened["id"], "acknowledge", note="called back")
    client.post(f"/cases/{opened['id']}/events", json={"type": "add_note", "note": "again"},
                headers=bearer(issue_key(runtime, "manager")))
    timeline = client.get(f"/cases/{opened['id']}").json()["timeline"]
    assert [(e["type"], e["actor"], e["actor_kind"]) for e in timeline] == [
        ("opened", "web-form", "integration"), ("classify", "system", "system"),
        ("assign", "system", "system"), ("acknowledge", "wang.fang", "person"),
        ("add_note", "liu.yang", "person")]
    assert timeline[2]["details"]["assignee"] == opened["assignee"]
    assert timeline[3]["details"]["note"] == "called back"
    assert timeline[3]["details"]["stage_to"] == "in_progress"
    assert [e["id"] for e in timeline] == sorted(e["id"] for e in timeline)
