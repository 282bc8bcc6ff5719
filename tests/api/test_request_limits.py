"""Limits at the API's edge: the body size (413) and the brake on abuse (429).

Bodies are refused over `CASEFLOW_MAX_BODY_BYTES` before they are read; credentials are
checked before a body is parsed; failed authentications and survey-link requests are
limited per client address. The limiter's clock is the test's, moved by hand.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from caseflow.cli import SERVING
from core.limits import Limits
from core.runtime import Runtime
from core.settings import Settings
from tests.api.helpers import complaint, protected_body_operations
from tests.support import Ticks, bearer, issue_key

JSON = {"content-type": "application/json"}
NOBODY = bearer("cf_" + "x" * 40)


def limited(runtime: Runtime) -> Ticks:
    """Give `runtime` limits on a clock the test moves; answer that clock."""
    ticks = Ticks()
    runtime.limits = Limits.from_settings(runtime.settings, clock=ticks)
    return ticks


@contextmanager
def serving(runtime: Runtime) -> Iterator[int]:
    """The app behind a real uvicorn server, as `caseflow serve` runs it; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(manage_runtime=False), log_config=None,
                                           access_log=False, **SERVING))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def _answer(connection: socket.socket) -> bytes:
    """The server's answer, head and body, as soon as it comes."""
    connection.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received or not received.endswith(b"}"):
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
    return received


def _head(key: str, framing: str) -> bytes:
    return (f"POST /cases HTTP/1.1\r\nHost: caseflow\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n").encode()


def test_a_declared_body_over_the_limit_is_413_before_a_byte_of_it_is_read(runtime):
    key = issue_key(runtime, "supervisor")
    with serving(runtime) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        # 100 MB announced, none sent: a server that waited to read it would never answer.
        conn.sendall(_head(key, "Content-Length: 104857600"))
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b'{"detail":"the body is larger than the limit of 1048576 bytes"}')


def test_a_streamed_body_is_refused_with_413_once_past_the_limit(runtime):
    key = issue_key(runtime, "supervisor")
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # 64 KiB
    with serving(runtime) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(_head(key, "Transfer-Encoding: chunked"))
        for _ in range(20):  # 1.25 MB, and no end: the answer comes while it is sent
            conn.sendall(chunk)
        answer = _answer(conn)
        # The server drops the rest as it comes, and the connection serves the next one.
        conn.sendall(chunk * 100 + b"0\r\n\r\n" + b"GET /health HTTP/1.1\r\nHost: c\r\n\r\n")
        health = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b'{"detail":"the body is larger than the limit of 1048576 bytes"}')
    assert health.startswith(b"HTTP/1.1 200 ")


def test_the_body_limit_is_a_setting(make_runtime):
    runtime = make_runtime(max_body_bytes=2048)
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(runtime, "supervisor"))) as client:
        fits = client.post("/cases", json=complaint(description="x" * 1500))
        too_large = client.post("/cases", json=complaint(description="x" * 2100))
        streamed = client.post("/cases", headers=JSON,
                               content=(b" " * 1000 for _ in range(3)))  # chunked, no length
    assert fits.status_code == 201
    assert too_large.status_code == streamed.status_code == 413
    assert too_large.json() == {"detail": "the body is larger than the limit of 2048 bytes"}
    assert streamed.json() == too_large.json()


def test_credentials_are_checked_before_the_body_is_parsed(make_runtime):
    """A bad key gets 401, not 422, on every operation that takes a body."""
    runtime = make_runtime(auth_failures_per_minute=0)
    with TestClient(create_app(manage_runtime=False)) as client:
        paths = protected_body_operations(client)
        assert len(paths) >= 10
        for path in paths:
            for headers in (NOBODY, {}):
                answer = client.post(path, content=b"{not json", headers={**JSON, **headers})
                assert answer.status_code == 401, (path, headers, answer.text)
        # A role that may never do this: 403, whatever the body.
        refused = client.post("/cases", content=b"{not json",
                              headers={**JSON, **bearer(issue_key(runtime, "admin"))})
        assert refused.status_code == 403, refused.text
        # Credentials that may: the body is read, and its mistake named.
        invalid = client.post("/cases", content=b"{not json",
                              headers={**JSON, **bearer(issue_key(runtime, "supervisor"))})
        assert invalid.status_code == 422 and invalid.json()["detail"][0]["type"] == (
            "json_invalid")


def test_failed_authentications_past_the_limit_get_429_until_the_bucket_refills(make_runtime):
    runtime = make_runtime(auth_failures_per_minute=5)  # 5 at once, one every 12 s
    ticks = limited(runtime)
    key = bearer(issue_key(runtime, "supervisor"))
    app = create_app(manage_runtime=False)
    with TestClient(app) as office, TestClient(app, client=("203.0.113.7", 4000)) as other:
        assert [office.get("/me", headers=NOBODY).status_code for _ in range(5)] == [401] * 5
        refused = office.get("/me", headers=NOBODY)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "12"
        assert "too many failed authentications" in refused.json()["detail"]
        # While it waits, nothing from that address is checked, not even a good key.
        assert office.get("/me", headers=key).status_code == 429
        assert office.post("/cases", json=complaint(), headers=NOBODY).status_code == 429
        assert other.get("/me", headers=key).status_code == 200  # another address
        assert other.get("/me", headers=NOBODY).status_code == 401

        ticks.now += 11
        assert office.get("/me", headers=key).headers["retry-after"] == "1"
        ticks.now += 1  # one attempt refilled
        assert office.get("/me", headers=key).status_code == 200  # a success spends none
        assert office.get("/me", headers=NOBODY).status_code == 401
        assert office.get("/me", headers=key).status_code == 429


def test_authenticated_requests_are_never_limited(make_runtime):
    runtime = make_runtime(auth_failures_per_minute=1)
    limited(runtime)
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(runtime, "supervisor"))) as client:
        assert {client.get("/me").status_code for _ in range(50)} == {200}
    assert len(runtime.limits.failed_auth) == 0


def test_the_limits_are_on_by_default_and_zero_turns_one_off(make_runtime, tmp_path):
    defaults = Settings(policies=tmp_path)
    assert (defaults.max_body_bytes, defaults.auth_failures_per_minute,
            defaults.survey_requests_per_minute) == (1048576, 30, 120)
    limited(make_runtime())  # the defaults, on a clock that does not refill meanwhile
    with TestClient(create_app(manage_runtime=False), headers=NOBODY) as client:
        answers = [client.get("/me").status_code for _ in range(40)]
    assert answers == [401] * 30 + [429] * 10

    make_runtime(auth_failures_per_minute=0)
    with TestClient(create_app(manage_runtime=False), headers=NOBODY) as client:
        assert {client.get("/me").status_code for _ in range(40)} == {401}


@pytest.mark.parametrize("value", ["0", "abc", "-1"])
def test_a_bad_limit_stops_the_service_at_start(monkeypatch, tmp_path, value):
    monkeypatch.setenv("CASEFLOW_MAX_BODY_BYTES", value)
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings(policies=tmp_path)


def test_survey_links_are_limited_per_address(make_runtime):
    runtime = make_runtime(survey_requests_per_minute=3)  # 3 at once, one every 20 s
    ticks = limited(runtime)
    with TestClient(create_app(manage_runtime=False)) as phone:
        assert [phone.get("/s/not-a-link").status_code for _ in range(3)] == [400] * 3
        page = phone.get("/s/not-a-link")
        assert page.status_code == 429 and page.headers["retry-after"] == "20"
        assert page.headers["content-type"].startswith("text/html")
        assert "请稍后再试" in page.text and page.headers["cache-control"] == "no-store"
        answer = phone.post("/s/not-a-link", json={"csat": 5, "nps": 10})
        assert answer.status_code == 429 and answer.headers["retry-after"] == "20"
        assert answer.json()["detail"]["error"] == "too_many_requests"
        form = phone.post("/s/not-a-link", data={"csat": "5", "nps": "10"})
        assert form.status_code == 429 and form.headers["content-type"].startswith("text/html")
        ticks.now += 20
        assert phone.get("/s/not-a-link").status_code == 400
        assert phone.get("/s/not-a-link").status_code == 429
