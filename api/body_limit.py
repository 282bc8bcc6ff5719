"""Request bodies over `CASEFLOW_MAX_BODY_BYTES` are refused with 413, before they are read."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas import Problem
from core import runtime as runtime_module

# For the OpenAPI document of every operation that takes a body.
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "the body is larger than the service accepts"}}


class BodyTooLarge(HTTPException):
    """A body past `limit` bytes: 413.

    The connection stays open: the server drops the rest of the body as it comes, so the
    process does not grow, and a client that is still sending reads its 413, which a
    connection closed under its upload would lose to the reset.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the body is larger than the limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: a declared Content-Length past the limit is answered 413 without
    reading a byte; a body without one (chunked) is counted as the app reads it, and
    reading past the limit raises `BodyTooLarge`, which the app answers with 413."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = runtime_module.current().settings.max_body_bytes
        length = _declared_length(scope)
        if length is None:
            await self.app(scope, _counting(receive, limit), send)
        elif length > limit:
            too_large = JSONResponse({"detail": BodyTooLarge(limit).detail}, status_code=413)
            await too_large(scope, receive, send)
        else:  # the server reads no more than the length declared
            await self.app(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses it first; count the body if not
                return None
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge(limit)
        return message

    return counted
