"""The benchmark's load generator reads every answer framing a server sends it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.http_client import HttpError, KeepAliveClient


class _Answers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn answers

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"echo": sent, "auth": self.headers.get("Authorization")}).encode()
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (body[:5], body[5:]):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(201 if self.path in ("/cases", "/close") else 404)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_answers_on_one_connection_each_as_sent(base_url):
    client = KeepAliveClient(base_url, headers={"Authorization": "Bearer k"})
    try:
        for n in range(3):
            status, body = client.post_json("/cases", {"n": n})
            assert status == 201
            assert json.loads(body) == {"echo": {"n": n}, "auth": "Bearer k"}
        status, body = client.post_json("/chunked", {"n": 9})
        assert status == 200 and json.loads(body)["echo"] == {"n": 9}
        assert client.post_json("/elsewhere", {})[0] == 404
    finally:
        client.close()


def test_a_connection_the_server_closes_is_opened_again(base_url):
    client = KeepAliveClient(base_url)
    try:
        assert client.post_json("/close", {"n": 1})[0] == 201
        assert client.post_json("/cases", {"n": 2})[0] == 201
    finally:
        client.close()


def test_no_server_is_an_http_error_not_a_crash():
    client = KeepAliveClient("http://127.0.0.1:9", timeout=2)  # discard: nobody listens
    with pytest.raises(HttpError):
        client.post_json("/cases", {})
