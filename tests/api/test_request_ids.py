"""Request ids and JSON log lines on the real app served by uvicorn, as `caseflow serve`
runs it: the id comes back in X-Request-ID, is on every log line of its request and on
the timeline events it wrote; the lines parse, and contact details stay masked."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from core.runtime import Runtime
from tests.api.helpers import complaint
from tests.served import served_with_log
from tests.store.helpers import timeline
from tests.support import bearer, issue_key


@dataclass
class Served:
    url: str
    log: io.StringIO
    headers: dict[str, str]

    def lines(self) -> list[dict]:
        """Every log line so far, each parsed: one that is not JSON fails the test."""
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line]

    def wait_for(self, found) -> dict:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            match = next((line for line in self.lines() if found(line)), None)
            if match is not None:
                return match
            time.sleep(0.02)
        raise AssertionError(f"no such log line in:\n{self.log.getvalue()}")


@pytest.fixture
def served(runtime: Runtime) -> Iterator[Served]:
    """The app under a real uvicorn server, logging JSON lines to a buffer."""
    with served_with_log(create_app(manage_runtime=False), "json") as (url, log):
        yield Served(url, log, bearer(issue_key(runtime, "supervisor")))


def test_the_request_id_is_answered_logged_and_on_the_timeline(served, runtime):
    body = complaint(customer={"ref": "json-1", "name": "Wu", "tier": "B",
                               "email": "wu.fang@example.com", "phone": "13912345678"})
    answer = httpx.post(f"{served.url}/cases", json=body,
                        headers={**served.headers, "X-Request-ID": "req-json-001"})
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-request-id"] == "req-json-001"
    case = answer.json()
    assert case["timeline"] and {e["request_id"] for e in case["timeline"]} == {"req-json-001"}

    access = served.wait_for(lambda line: line["logger"] == "uvicorn.access"
                             and line.get("path") == "/cases")
    assert access["request_id"] == "req-json-001"
    assert (access["method"], access["status"], access["level"]) == ("POST", 201, "INFO")
    assert access["time"].endswith("Z") and "T" in access["time"]

    # An event sent later records its own request; read back, the timeline has both.
    note = httpx.post(f"{served.url}/cases/{case['id']}/events",
                      json={"type": "add_note", "data": {"text": "called back"}},
                      headers={**served.headers, "X-Request-ID": "req-json-002"})
    assert note.status_code == 200, note.text
    read = httpx.get(f"{served.url}/cases/{case['id']}", headers=served.headers)
    ids = [event["request_id"] for event in read.json()["timeline"]]
    assert ids[0] == "req-json-001" and ids[-1] == "req-json-002"
    assert [e.request_id for e in timeline(runtime, case["id"])] == ids
    # The read had an id of its own, made up since none was sent.
    made = read.headers["x-request-id"]
    assert len(made) == 32 and made not in ids
    served.wait_for(lambda line: line.get("request_id") == made
                    and line["logger"] == "uvicorn.access")
    for line in served.lines():
        assert "wu.fang@" not in json.dumps(line) and "12345678" not in json.dumps(line)


def test_an_insane_request_id_is_replaced(served):
    for offered in (b"has space", b"x" * 65, b"semi;colon", "\u00e9t\u00e9".encode()):
        answer = httpx.get(f"{served.url}/livez", headers={"X-Request-ID": offered})
        given = answer.headers["x-request-id"]
        assert given.encode() != offered and len(given) == 32 and given.isalnum()


def test_redaction_applies_to_json_lines(served):
    query = "kind=email&value=wu%40example.com"
    assert httpx.get(f"{served.url}/customers?{query}", headers=served.headers
                     ).status_code in (200, 404)
    access = served.wait_for(lambda line: line["logger"] == "uvicorn.access"
                             and line.get("path", "").startswith("/customers"))
    text = json.dumps(access)
    assert "wu@" not in text and "wu%40" not in text, text
    assert "example.com" in access["path"] and "example.com" in access["message"]
    # A line the service itself logs while handling a request carries its id too.
    logging.getLogger("caseflow.test").warning("reached 13912345678 about %s", "wu@example.com")
    mine = served.wait_for(lambda line: line["logger"] == "caseflow.test")
    assert "13912345678" not in mine["message"] and "wu@example.com" not in mine["message"]
    assert "request_id" not in mine  # logged outside any request
