"""The access log of a real uvicorn server, through the service's logging configuration,
masks contact details however the URL encodes them."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from caseflow.cli import SERVING
from core.logs import configure_logging
from tests.e2e.service import free_port


async def _found(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def served_log() -> Iterator[tuple[str, io.StringIO]]:
    """A server as `caseflow serve` runs it (log_config=None, our logging), and its log."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.handlers[:], root.level, access.handlers[:], access.propagate, access.level
    configure_logging("INFO")
    log = io.StringIO()
    root.handlers[0].setStream(log)  # type: ignore[attr-defined]
    access.handlers, access.propagate = [], True  # as in a fresh process
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/customers", _found)]), host="127.0.0.1", port=port,
        log_config=None, log_level="info", lifespan="off", **SERVING))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}", log
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        root.handlers[:], access.handlers = saved[0], saved[2]
        root.setLevel(saved[1])
        access.propagate = saved[3]
        access.setLevel(saved[4])


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
