"""GET /health, the OpenAPI document and the interactive docs."""

from __future__ import annotations


def test_health_names_the_database_and_the_service_time(client, runtime, clock):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == runtime.engine.dialect.name
    assert body["database"] in ("sqlite", "postgresql")
    assert body["policy_version"] == runtime.policies.version
    assert body["now"] == clock.now().isoformat()


def test_openapi_lists_every_endpoint(sqlite_client):
    response = sqlite_client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/cases"]) == {"get", "post"}
    assert set(paths["/cases/{case_id}"]) == {"get"}
    assert set(paths["/cases/{case_id}/events"]) == {"post"}
    assert set(paths["/health"]) == {"get"}
    post_cases = paths["/cases"]["post"]
    assert {"201", "200", "409", "422"} <= post_cases["responses"].keys()
    headers = {p["name"] for p in post_cases["parameters"] if p["in"] == "header"}
    assert {"idempotency-key", "x-actor"} <= headers
    listing = {p["name"] for p in paths["/cases"]["get"]["parameters"]}
    assert {"process", "stage", "priority", "assignee", "team", "breached", "at_risk",
            "opened_from", "opened_to", "limit", "before_id"} <= listing


def test_the_interactive_docs_answer(sqlite_client):
    response = sqlite_client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
