"""An unforeseen server error over a real socket: a complete 500 that says it closes the
connection, so that a pooled client's next request does not go down a dead one."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import ServiceProcess
from tests.support import write_policies

pytestmark = pytest.mark.e2e


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(tmp_path / "data", write_policies(tmp_path / "policies"))
    (tmp_path / "data").mkdir()
    yield svc.start()
    svc.stop()


def exchange(port: int, request: bytes) -> tuple[bytes, bytes, bytes]:
    """Send one request on a fresh connection: the head, the body, and what came after."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, body = received.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += sock.recv(65536)
        sock.settimeout(5)
        after = sock.recv(65536)  # b"" once the server closed its side
    return head, body[:length], body[length:] + after


def test_a_server_error_is_a_whole_answer_that_closes_the_connection(service):
    manager = service.client_as("manager", "zhao.min")
    assert manager.get("/findings").status_code == 200
    # A store that lost a table: the kind of fault no request can cause, now that bad
    # input is refused, but one that must still be answered cleanly.
    with sqlite3.connect(Path(service.env["CASEFLOW_DATA_DIR"]) / "caseflow.db") as db:
        db.execute("ALTER TABLE findings RENAME TO findings_lost")
    key = manager.headers["Authorization"].encode()
    head, body, after = exchange(service.port, b"GET /findings HTTP/1.1\r\nHost: t\r\n"
                                               b"Authorization: " + key + b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"connection: close" in head.lower()
    assert body == b'{"detail":"internal error; the service logged it"}'
    assert after == b""
    # A pooled client takes the hint: its next request goes on a new connection.
    with httpx.Client(base_url=service.url, headers=manager.headers, timeout=10) as pooled:
        for _ in range(3):
            assert pooled.get("/findings").status_code == 500
            assert pooled.get("/me").status_code == 200
    assert "no such table: findings" in service.log()  # logged, with its traceback
