"""Builders the API tests share: request bodies and small request helpers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient


def complaint(**overrides: Any) -> dict[str, Any]:
    """A valid POST /cases body; keyword arguments replace or add fields."""
    body: dict[str, Any] = {"subject": "parcel arrived broken", "description": "box crushed",
                            "customer": {"ref": "cust-1", "name": "Lin", "tier": "B"}}
    body.update(overrides)
    return body


def open_case(client: TestClient, **overrides: Any) -> dict[str, Any]:
    """Open a complaint through the API and return the case it answers with."""
    response = client.post("/cases", json=complaint(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def post_event(client: TestClient, case_id: int, type_: str, **body: Any) -> httpx.Response:
    """POST /cases/{id}/events with the given type and extra body fields."""
    return client.post(f"/cases/{case_id}/events", json={"type": type_, **body})


def clock_named(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in case["clocks"] if c["name"] == name)


def at(value: str | None) -> datetime | None:
    """Parse a datetime from a response (ISO 8601, `Z` or an offset)."""
    return datetime.fromisoformat(value) if value is not None else None


def error_locs(response: httpx.Response) -> list[list[str | int]]:
    """The `loc` of every error in a 422 answer."""
    return [error["loc"] for error in response.json()["detail"]]


def operations(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every operation of an OpenAPI document: (method, path, a URL for it, operation),
    the URL with 1 for each path parameter."""
    return [(method, path, re.sub(r"\{[^}]+\}", "1", path), operation)
            for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def protected_body_operations(client: TestClient) -> list[str]:
    """The URL of every operation that takes a body and credentials (POST, all of them)."""
    document = client.get("/openapi.json").json()
    found = [(method, url) for method, _, url, operation in operations(document)
             if "requestBody" in operation and operation.get("security")]
    assert {method for method, _ in found} == {"post"}
    return [url for _, url in found]


def documented(document: dict[str, Any], method: str, path: str,
               answer: httpx.Response) -> None:
    """Assert that `answer` has a status and a media type the document gives for it."""
    responses = document["paths"][path][method]["responses"]
    status = str(answer.status_code)
    assert status in responses, (method, path, status, answer.text[:200])
    media_type = answer.headers["content-type"].split(";")[0]
    assert media_type in responses[status].get("content", {}), (method, path, status,
                                                                 media_type)
