"""GET /metrics on the real app: the series a storm of breaches moves, the outbox as the
store has it, route templates as labels, claims taken over, and who may read it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, col, func, select

from api.app import create_app
from core.runtime import Runtime
from engine.claims import claim_due
from engine.escalations import fire_timers
from engine.models import OutboxMessage, Timer
from engine.notifier import Delivery
from tests.api.helpers import open_case
from tests.conftest import sweep
from tests.support import bearer, issue_key

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    answer = client.get("/metrics", headers={"Authorization": "", **headers})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_storm_of_breaches_moves_the_case_rung_lateness_and_tick_series(client, runtime,
                                                                           clock):
    before = scrape(client)
    cases = [open_case(client, customer={"ref": f"storm-{n}", "name": "Lin", "tier": "B"})
             for n in range(12)]
    # Past the warning (15 min) and the breach (20 min) of every first-response clock.
    clock.advance(timedelta(minutes=21))
    assert sweep(runtime).timers == {"fired": 24}
    after = scrape(client)

    assert moved(before, after, "caseflow_cases_opened_total", process="complaint") == 12
    assert moved(before, after, "caseflow_escalation_rungs_fired_total",
                 process="complaint", level="0") == 12  # the warnings
    assert moved(before, after, "caseflow_escalation_rungs_fired_total",
                 process="complaint", level="1") == 12  # the breaches, to the supervisor
    lateness = "caseflow_escalation_rung_lateness_seconds"
    assert moved(before, after, f"{lateness}_count", process="complaint") == 24
    # Each warning fired 6 minutes late and each breach 1 minute late: the clock jumped.
    assert moved(before, after, f"{lateness}_sum", process="complaint") == pytest.approx(
        12 * 360 + 12 * 60)
    assert moved(before, after, f"{lateness}_bucket", process="complaint", le="300.0") == 12
    assert moved(before, after, "caseflow_sweeper_tick_duration_seconds_count") == 1
    # Every notification was delivered in the tick (to the log: no channel configured).
    assert moved(before, after, "caseflow_deliveries_delivered_total",
                 recipient_kind="staff") >= 12

    for event in ("resolve", "confirm"):
        answer = client.post(f"/cases/{cases[0]['id']}/events", json={"type": event})
        assert answer.status_code == 200, answer.text
    assert answer.json()["stage"] == "closed"
    assert moved(before, scrape(client), "caseflow_cases_closed_total",
                 process="complaint") == 1


def _outbox(rt: Runtime) -> dict[str, int]:
    with Session(rt.engine) as session:
        rows = session.exec(select(OutboxMessage.status, func.count())
                            .group_by(col(OutboxMessage.status))).all()
    return dict(rows)


def test_the_outbox_gauges_are_read_from_the_store_at_each_scrape(client, runtime, clock):
    assert value(scrape(client), "caseflow_outbox_oldest_undelivered_age_seconds") == 0
    for n in range(3):
        open_case(client, customer={"ref": f"outbox-{n}", "name": "Lin", "tier": "B"})
    clock.advance(timedelta(minutes=16))  # past the warnings only
    due = claim_due(runtime.engine, Timer, due_column="fire_at", now=runtime.clock.now(),
                    limit=100, instance=runtime.settings.instance_id, lease=runtime.lease)
    assert fire_timers(runtime, [row[0] for row in due]) == {"fired": 3}  # not delivered
    clock.advance(timedelta(minutes=5))
    samples = scrape(client)
    stored = _outbox(runtime)
    assert stored.get("pending", 0) >= 3
    for status in ("pending", "claimed", "dead"):
        assert value(samples, "caseflow_outbox_depth", status=status) == stored.get(status, 0)
    # The warnings were queued when they fired, 5 minutes ago on the service's clock.
    assert value(samples, "caseflow_outbox_oldest_undelivered_age_seconds") == 300
    assert value(samples, "caseflow_store_up") == 1

    class Down:
        def send(self, **_: object) -> Delivery:
            return Delivery(ok=False, channel="", error="receiver down")

    runtime.notifier = Down()  # type: ignore[assignment]
    runtime.settings.notify_max_attempts = 1  # the first failure is the last: dead
    before = scrape(client)
    sweep(runtime)
    after = scrape(client)
    dead = _outbox(runtime).get("dead", 0)
    assert dead >= 3 and value(after, "caseflow_outbox_depth", status="dead") == dead
    assert value(after, "caseflow_outbox_depth", status="pending") == 0
    assert value(after, "caseflow_outbox_oldest_undelivered_age_seconds") == 0
    for name in ("caseflow_deliveries_failed_total", "caseflow_deliveries_dead_lettered_total"):
        assert moved(before, after, name, recipient_kind="staff") == dead


def test_requests_are_labelled_by_route_template_never_by_path(client):
    case = open_case(client)
    for _ in range(3):
        assert client.get(f"/cases/{case['id']}").status_code == 200
    assert client.get("/cases/999999").status_code == 404
    assert client.get("/no/such/place/12345").status_code == 404
    samples = scrape(client)
    requests = {labels: count for (name, labels), count in samples.items()
                if name == "caseflow_http_requests_total"}
    routes = {dict(labels)["route"] for labels in requests}
    assert "/cases/{case_id}" in routes and "/cases" in routes
    assert "<unmatched>" in routes
    # A route template, never a path with an id in it (a template may hold a digit
    # elsewhere: /docs/oauth2-redirect, which another test in this process may ask for).
    assert not [route for route in routes
                if any(part.isdigit() for part in route.split("/"))], routes
    read = frozenset({"method": "GET", "route": "/cases/{case_id}", "status": "200"}.items())
    assert requests[read] >= 3
    assert value(samples, "caseflow_http_requests_total", method="GET",
                 route="/cases/{case_id}", status="404") >= 1
    assert value(samples, "caseflow_http_request_duration_seconds_count", method="GET",
                 route="/cases/{case_id}") >= 4


def test_a_dead_instances_expired_claims_are_counted_as_taken_over(client, runtime, clock):
    for n in range(2):
        open_case(client, customer={"ref": f"crash-{n}", "name": "Lin", "tier": "B"})
    clock.advance(timedelta(minutes=16))
    # Another instance claims the two warnings and dies before firing them.
    taken = claim_due(runtime.engine, Timer, due_column="fire_at", now=runtime.clock.now(),
                      limit=100, instance="dead-host-1", lease=runtime.lease)
    assert len(taken) == 2
    before = scrape(client)
    assert sweep(runtime).timers == {}  # their lease has not run out yet
    clock.advance(runtime.lease + timedelta(seconds=1))
    assert sweep(runtime).timers == {"fired": 2}
    after = scrape(client)
    assert moved(before, after, "caseflow_claims_taken_over_total", kind="timer") == 2


@pytest.fixture
def guarded(make_runtime) -> Iterator[tuple[TestClient, str]]:
    key = "metrics-key-0123456789abcdef"
    rt = make_runtime(metrics_key=key)
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(rt, "supervisor"))) as test_client:
        yield test_client, key


def test_with_a_metrics_key_only_its_bearer_may_scrape(guarded):
    client, key = guarded
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-key-0123456789"},
                    {}):  # an API key is not the metrics key either
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    samples = scrape(client, Authorization=f"Bearer {key}")
    assert value(samples, "caseflow_store_up") == 1
    # The probes stay open.
    assert client.get("/livez", headers={"Authorization": ""}).status_code == 200
