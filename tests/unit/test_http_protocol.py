"""The HTTP protocol sends an answer's head and body in one write (api/http_protocol.py).

The protocol runs on a real event loop with a recording transport in place of a socket,
so that each write the protocol makes can be seen.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.server import ServerState

from api.http_protocol import HeadWithBodyProtocol


class RecordingTransport(asyncio.Transport):
    """Keeps what is written, as the socket would have received it, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _json(request: Request) -> JSONResponse:
    return JSONResponse({"echo": (await request.body()).decode()}, status_code=201)


async def _stream(_: Request) -> StreamingResponse:
    async def parts() -> Any:
        await asyncio.sleep(0.01)  # the body comes turns after the head
        yield b"first"
        yield b"second"

    return StreamingResponse(parts(), media_type="text/plain")


APP = Starlette(routes=[Route("/json", _json, methods=["POST"]), Route("/stream", _stream)])


async def _exchange(request: bytes, *, until: int = 1) -> RecordingTransport:
    """Feed `request` to the protocol and wait until `until` answers are complete."""
    config = Config(APP, http=HeadWithBodyProtocol, log_config=None, access_log=False)
    state = ServerState()
    protocol = HeadWithBodyProtocol(config, state, {}, _loop=asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(500):
        if state.total_requests >= until and not protocol.tasks:
            break
        await asyncio.sleep(0.002)
    await asyncio.sleep(0)  # a held head's flush, had it been left for the end of the turn
    protocol.connection_lost(None)
    return transport


def _post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_a_whole_answer_goes_out_in_one_write() -> None:
    transport = asyncio.run(_exchange(_post("/json", b"hello")))

    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created")
    assert body == b'{"echo":"hello"}'


def test_answers_on_one_connection_each_go_out_whole() -> None:
    two = _post("/json", b"one") + _post("/json", b"two")
    transport = asyncio.run(_exchange(two, until=2))

    assert [write.endswith(body) for write, body in
            zip(transport.writes, (b'"one"}', b'"two"}'), strict=True)] == [True, True]


def test_a_streamed_head_is_not_held_until_its_body_comes() -> None:
    request = b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n"
    transport = asyncio.run(_exchange(request))

    head = transport.writes[0]
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
    assert b"".join(transport.writes[1:]) == b"5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"


def test_continue_is_sent_at_once_and_the_answer_after_it() -> None:
    request = _post("/json", b"late body", "Expect: 100-continue")
    transport = asyncio.run(_exchange(request))

    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert transport.writes[1].startswith(b"HTTP/1.1 201 Created")
    assert transport.writes[1].endswith(b'{"echo":"late body"}')


def test_an_answer_that_closes_the_connection_is_written_before_the_close() -> None:
    transport = asyncio.run(_exchange(_post("/json", b"bye", "Connection: close")))

    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b'{"echo":"bye"}')
    assert transport.closed
