"""The access log of a real uvicorn server, through the service's logging configuration,
masks contact details however the URL encodes them."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.served import served_with_log


async def _found(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def served_log() -> Iterator[tuple[str, io.StringIO]]:
    """A server as `caseflow serve` runs it (log_config=None, our logging), and its log."""
    with served_with_log(Starlette(routes=[Route("/customers", _found)])) as served:
        yield served


@pytest.mark.parametrize(("query", "secrets"), [
    ("kind=email&value=wu%40example.com", ["wu@", "wu%40"]),
    ("kind=email&value=wu%2540example.com", ["wu@", "wu%40", "wu%2540"]),
    ("kind=phone&value=%2B86%20139%201234%205678", ["1234", "139%201234"]),
    ("kind=phone&value=%2B86+139+1234+5678", ["1234"]),
    ("kind=phone&value=139-1234-5678", ["1234"]),
])
def test_the_access_log_masks_url_encoded_contact_details(served_log, query, secrets):
    url, log = served_log
    assert httpx.get(f"{url}/customers?{query}").status_code == 200
    deadline = time.monotonic() + 5
    while "GET /customers" not in log.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    line = next(line for line in log.getvalue().splitlines() if "GET /customers" in line)
    assert "uvicorn.access" in line and "200" in line
    assert not [secret for secret in secrets if secret in line], line
    assert "5678" in line or "example.com" in line  # masked, not dropped
