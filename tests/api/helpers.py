"""Builders the API tests share: request bodies and small request helpers."""

from __future__ import annotations

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
