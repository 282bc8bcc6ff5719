"""GET /health, the OpenAPI document and the interactive docs."""

from __future__ import annotations


def test_health_names_the_database_and_the_service_time(client, runtime, clock):
    response = client.get("/health", headers={"Authorization": ""})  # probes carry no key
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == runtime.engine.dialect.name
    assert body["database"] in ("sqlite", "postgresql")
    assert body["policy_version"] == runtime.policies.version
    assert body["now"] == "2026-11-20T02:00:00Z"  # 10:00 in Shanghai, in UTC


def test_openapi_lists_every_endpoint(sqlite_client):
    response = sqlite_client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/cases"]) == {"get", "post"}
    assert set(paths["/cases/{case_id}"]) == {"get"}
    assert set(paths["/cases/{case_id}/events"]) == {"post"}
    assert set(paths["/health"]) == {"get"}
    assert set(paths["/me"]) == {"get"}
    assert set(paths["/admin/keys"]) == {"get", "post"}
    assert set(paths["/admin/keys/{key_id}/revoke"]) == {"post"}
    assert set(paths["/admin/policies/reload"]) == {"post"}
    assert set(paths["/follow-ups"]) == set(paths["/follow-ups/{followup_id}"]) == {"get"}
    assert set(paths["/s/{token}"]) == {"get", "post"}
    answer = paths["/s/{token}"]["post"]
    assert set(answer["requestBody"]["content"]) == {"application/json",
                                                     "application/x-www-form-urlencoded"}
    assert {"400", "409", "410", "422"} <= answer["responses"].keys()
    post_cases = paths["/cases"]["post"]
    assert {"201", "200", "401", "403", "409", "422"} <= post_cases["responses"].keys()
    headers = {p["name"] for p in post_cases["parameters"] if p["in"] == "header"}
    assert headers == {"idempotency-key"}
    listing = {p["name"] for p in paths["/cases"]["get"]["parameters"]}
    assert {"process", "stage", "priority", "assignee", "team", "breached", "at_risk",
            "opened_from", "opened_to", "limit", "before_id"} <= listing


def test_the_interactive_docs_answer(sqlite_client):
    response = sqlite_client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


# Reachable without an API key: the health probes, the survey link customers open, and
# the metrics (open, or behind CASEFLOW_METRICS_KEY).
PUBLIC_PATHS = {"/health", "/livez", "/readyz", "/metrics", "/s/{token}"}


def test_openapi_declares_the_bearer_scheme_on_every_protected_operation(sqlite_client):
    document = sqlite_client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["CaseflowKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"CaseflowKey": []}]
            assert secured == (path not in PUBLIC_PATHS), (method, path)


def test_the_survey_link_needs_no_credentials_and_ignores_any(sqlite_client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer cf_nobodysKey"}):
        answer = sqlite_client.get("/s/not-a-real-token", headers=headers)
        assert answer.status_code == 400 and "此链接无效" in answer.text
