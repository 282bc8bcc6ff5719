"""The request id: which request a log line, a timeline event or a flow run came from.

Every HTTP request gets one (`api.observability`): the client's `X-Request-ID` when it
is sane, else a new one. It lives in a context variable while the request is handled,
so log lines emitted meanwhile carry it (`core.logs`), and the case timeline events the
request writes record it (`engine.store.timeline_rows`). Work handed to another thread
(the intake writer) carries it explicitly and sets it again there (`using`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 64
# Letters, digits and a few separators: what request ids (UUIDs, ULIDs, a proxy's
# "abc-123.4") are made of, and nothing that could forge a log line or a header.
_SANE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_LENGTH - 1}}}")

_current: ContextVar[str | None] = ContextVar("caseflow_request_id", default=None)


def current() -> str | None:
    """The id of the request being handled here, if any."""
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def accept(offered: str | None) -> str:
    """The client's id when it is sane (at most 64 letters, digits or `._:-`), else a new one."""
    if offered and _SANE.fullmatch(offered):
        return offered
    return new_id()


@contextmanager
def using(request_id: str | None) -> Iterator[None]:
    """Make `request_id` the current one for the block (None: no request)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def set_current(request_id: str | None) -> None:
    """Make `request_id` the current one in this context, until the context ends."""
    _current.set(request_id)
