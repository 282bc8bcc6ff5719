"""Every request: its request id, and its count and latency by route template.

The outermost middleware. The request id is the client's `X-Request-ID` when it is sane
(`engine.request_context.accept`), else a new one; it is the current request id while the
request is handled (log lines and timeline events carry it) and it goes back in the
answer's `X-Request-ID` header. The metrics label a request by its route's template
(`/cases/{case_id}`), never its path, so their series stay as many as the routes.
"""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import metrics, request_context

_HEADER = request_context.HEADER.lower().encode()
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Observe:
    """ASGI middleware: request ids and request metrics (see the module's docstring)."""

    def __init__(self, app: ASGIApp, service: ASGIApp) -> None:
        self.app = app
        self.service = service  # the FastAPI app, for routes a refusal answered before

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((value.decode("latin-1") for name, value in scope["headers"]
                        if name == _HEADER), None)
        request_id = request_context.accept(offered)
        header = (_HEADER, request_id.encode())
        started, status = time.perf_counter(), 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [(n, v) for n, v in message.get("headers", ()) if n.lower() != _HEADER]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        try:
            with request_context.using(request_id):
                await self.app(scope, receive, answer)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = self._template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        """The path template of the route that answered, or that would have (a body
        refused before routing); `<unmatched>` for a path no route has."""
        route = scope.get("route")
        if route is None:
            for candidate in getattr(self.service, "routes", ()):
                if candidate.matches(scope)[0] is not Match.NONE:
                    route = candidate
                    break
        path = getattr(route, "path", None)
        return path if isinstance(path, str) and path else metrics.UNMATCHED_ROUTE
