"""Query and path parameters that no column could take are refused here, for every route.

A NUL character in a parameter that reaches a PostgreSQL query fails the statement (a
500); checked once at the app's edge, every parameter of every route is covered,
including the ones added later, with a 422 naming the parameter.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import field_error
from api.storable import text_problem


class RefuseUnstorableParameters:
    """ASGI middleware: a parameter with a NUL character answers 422 naming it."""

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            loc = None
            # The cheap tests first: almost every request has neither.
            if b"%00" in scope["query_string"]:
                loc = self._query_parameter(scope["query_string"])
            if loc is None and "\x00" in scope["path"]:
                loc = self._path_parameter(scope)
            if loc is not None:
                await field_error(loc, "NUL characters are not allowed")(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _query_parameter(query: bytes) -> list[str | int] | None:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if text_problem(name) or text_problem(value):
                return ["query", name]
        return None

    def _path_parameter(self, scope: Scope) -> list[str | int]:
        # Routing has not happened yet: the documented paths name the parameters (read
        # only for such a request; the app keeps its OpenAPI document once made).
        for template in self.service.openapi()["paths"]:
            found = compile_path(template)[0].match(scope["path"])
            for name, value in (found.groupdict() if found else {}).items():
                if "\x00" in value:
                    return ["path", name]
        return ["path"]  # no route takes it: the path as a whole
