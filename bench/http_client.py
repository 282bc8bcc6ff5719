"""A keep-alive HTTP/1.1 client on a plain socket: the intake benchmark's load generator.

On this 2-core machine the client shares the cores with the server it measures. httpx
spent 0.6 ms of CPU per request, which at 1,000 requests/s is 0.6 of the 2 cores taken
from the server; this client spends about 0.1 ms (bench/README.md, finding 11). It
sends one request at a time on one connection and reads answers framed by
Content-Length or chunked, which is all that uvicorn sends.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"


class HttpError(Exception):
    """The exchange failed: the connection broke, timed out or the answer was garbled."""


class KeepAliveClient:
    """One connection to `base_url`, opened on first use and again after it breaks."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// address is needed, not {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        fixed = {"Host": f"{self.host}:{self.port}", "Content-Type": "application/json",
                 **(headers or {})}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._socket: socket.socket | None = None
        self._buffer = b""

    def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST `body` as JSON; the answer's status and body. `HttpError` if it failed."""
        payload = json.dumps(body).encode()
        request = (f"POST {path} HTTP/1.1\r\n{self._fixed}Content-Length: {len(payload)}"
                   "\r\n\r\n").encode() + payload
        try:
            connection = self._connect()
            connection.sendall(request)
            return self._read_answer()
        except (OSError, ValueError) as exc:
            self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket, self._buffer = None, b""

    def _connect(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), self.timeout)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._socket

    def _read_answer(self) -> tuple[int, bytes]:
        while HEAD_END not in self._buffer:
            self._receive()
        head, _, self._buffer = self._buffer.partition(HEAD_END)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self._read_exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._receive()
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return body

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            while b"\r\n" not in self._buffer:
                self._receive()
            size_line, _, self._buffer = self._buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = self._read_exactly(size + 2)[:size]  # each chunk ends with CRLF
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk)

    def _receive(self) -> None:
        assert self._socket is not None
        data = self._socket.recv(65536)
        if not data:
            raise ConnectionResetError("the server closed the connection")
        self._buffer += data
