"""uvicorn's HTTP/1.1 protocol, sending each answer's head and body in one write.

uvicorn writes an answer's status line and headers, then its body, each with its own
call to the socket. On loopback each write is a segment that the kernel carries to the
reader, and at Caseflow's intake rates the two writes of each answer were an eighth of
a worker's time (py-spy, bench/README.md). Here the head is held until the body's first
part is written, in the same turn of the event loop for any answer Starlette makes
whole, and the two go as one. A head whose body is slow to come (a streamed answer) is
sent by itself at the end of that turn, so nothing waits on it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HeadWithBodyProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose answers go out head and body together."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # A proxy, not a subclass: what it does not define, the transport does (__getattr__).
        cycle.transport = cast(asyncio.Transport,
                               _HeadHeldTransport(cycle, self.transport, self.loop))
        super()._start_asgi_task(cycle, app)


class _HeadHeldTransport:
    """The transport as one answer's cycle sees it: the answer's first write (its head)
    is held, and sent with the next write or at the end of the loop's turn."""

    def __init__(self, cycle: RequestResponseCycle, transport: asyncio.Transport,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._cycle = cycle
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif self._cycle.response_started and not self._head_seen:
            # Writes before the answer began (100 Continue) go at once: the client waits.
            self._head_seen = True
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now."""
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self._transport, name)
