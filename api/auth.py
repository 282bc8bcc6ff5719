"""Who is calling: an API key or an identity provider's token, as `Authorization: Bearer`.

401 means the credentials identify nobody; 403 means the caller's role may not do
this at all. A case outside the caller's teams answers 404, like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from api.body_limit import TOO_LARGE
from api.schemas import Problem
from core import runtime as runtime_module
from core.keys import (
    KEY_PREFIX,
    Unauthenticated,
    check_key,
    check_record,
    hash_key,
    touch_key,
)
from core.limits import retry_after
from core.oidc import Forbidden
from core.runtime import Runtime
from domain.access import ROLE_PERMISSIONS, Identity, NotPermitted, Permission
from engine.db import is_postgres

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Where an operation that takes a body keeps its caller, checked before the body is read.
CHECKED = "caseflow.caller"
# The answers every protected operation may give, for the OpenAPI document.
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid credentials"},
    403: {"model": Problem, "description": "the caller's role may not do this"},
    429: {"model": Problem, "description": "too many failed authentications from this "
          "address", "headers": RETRY_AFTER}}
SCHEME = "CaseflowKey"
SCHEME_DESCRIPTION = ("A Caseflow API key (`cf_...`; an admin creates them) or, where "
                      "configured, an access token from your organisation's identity provider.")


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, detail=reason, headers=CHALLENGE)


def client_address(connection: HTTPConnection) -> str:
    """The client as the server saw it (behind a trusted proxy, from X-Forwarded-For)."""
    return connection.client.host if connection.client else "unknown"


class Caller(SecurityBase):
    """A dependency that answers the identity behind the request's bearer credentials,
    letting through only callers whose role grants `permission` (any caller without one).

    It is the security scheme itself, so the OpenAPI document and the docs' Authorize
    still show every operation's bearer credentials. FastAPI does work for each
    dependency of each request: the credentials read by a dependency of their own,
    under the check, cost 50,000 instructions a complaint more (bench/README.md).
    """

    def __init__(self, permission: Permission | None = None, *,
                 revocation_checked_later: bool = False) -> None:
        # The bearer scheme reads the credentials; its model and name, shown as this
        # scheme's, are what the OpenAPI document and the docs' Authorize show.
        self._bearer = HTTPBearer(auto_error=False, scheme_name=SCHEME,
                                  description=SCHEME_DESCRIPTION)
        self.model, self.scheme_name = self._bearer.model, self._bearer.scheme_name
        self.permission = permission
        # The operation's own transaction checks that a key from the cache is still
        # valid (`core.keys.valid_key_ids`): see `_by_key`.
        self.revocation_checked_later = revocation_checked_later
        self.allowed = frozenset(role for role, granted in ROLE_PERMISSIONS.items()
                                 if permission in granted)

    async def __call__(self, request: HTTPConnection) -> Identity:
        checked = request.scope.get(CHECKED)
        if checked is not None and checked[0] is self:
            return checked[1]
        return await self.check(request)

    async def check(self, request: HTTPConnection) -> Identity:
        """The caller, or 401, 403 or 429."""
        credentials = await self._bearer(request)
        identity = await identify(runtime_module.current(), credentials,
                                  client_address(request),
                                  revocation_checked_later=self.revocation_checked_later)
        if self.permission is not None and not identity.can(self.permission):
            raise NotPermitted(self.permission.value.replace("_", " "), identity.role,
                               self.allowed)
        return identity


IdentityDep = Annotated[Identity, Depends(Caller())]


class CheckedFirst(APIRoute):
    """A route whose operation, when it takes a body and a `Caller`, checks the caller
    before the body is read: FastAPI reads and parses a body before it solves any
    dependency, so credentials that identify nobody would get 422 for a bad body, and
    have their body parsed. Here they get 401 (or 403, or 429) whatever the body is;
    the operation's `Caller` then answers the identity checked here.

    Every operation that takes a body also lists 413 (api/body_limit.py) in its answers.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        if self.body_field is not None:
            self.responses = {**self.responses, **TOO_LARGE}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        caller = _caller_of(self.dependant) if self.body_field is not None else None
        if caller is None:
            return handler

        async def checked_first(request: Request) -> Response:
            request.scope[CHECKED] = (caller, await caller.check(request))
            return await handler(request)

        return checked_first


def _caller_of(dependant: Dependant) -> Caller | None:
    for dependency in dependant.dependencies:
        found = (dependency.call if isinstance(dependency.call, Caller)
                 else _caller_of(dependency))
        if found is not None:
            return found
    return None


async def identify(rt: Runtime, credentials: HTTPAuthorizationCredentials | None,
                   client: str, *, revocation_checked_later: bool = False) -> Identity:
    """The caller behind bearer `credentials`: 401 for none or unknown ones, 403 for a
    token the identity provider's rules refuse, 429 for a client with too many 401s.
    `revocation_checked_later`: see `_by_key`.

    Only failures are counted, and a client that has none costs one look at an empty
    table: the limiter stays off the way of authenticated requests."""
    failures = rt.limits.failed_auth
    wait = failures.wait(client)
    if wait:
        raise HTTPException(429, headers={"Retry-After": retry_after(wait)}, detail=(
            "too many failed authentications from this address; try again later"))
    now = rt.clock.now()
    try:
        if credentials is None:
            raise Unauthenticated(
                "credentials are required: send 'Authorization: Bearer <API key>'")
        token = credentials.credentials
        if token.startswith(KEY_PREFIX):
            return await _by_key(rt, token, now, revocation_checked_later)
        if rt.oidc is None:
            raise Unauthenticated("unknown API key")
        # The provider's key set may have to be fetched: never on the event loop.
        return await run_in_threadpool(rt.oidc.identity, token, now)
    except Unauthenticated as exc:
        failures.spend(client)
        raise unauthorized(str(exc)) from None
    except Forbidden as exc:
        raise HTTPException(403, detail=str(exc)) from None


async def _by_key(rt: Runtime, token: str, now: datetime,
                  revocation_checked_later: bool = False) -> Identity:
    """Every request looks its key up. On SQLite, a local file, the indexed read (when
    the runtime's `KeyCache` does not hold the key) takes less time than a trip through
    the thread pool (0.2 ms of CPU per request), so it runs on the event loop; a store
    across the network, and any write, go to the pool.

    An operation whose own transaction checks the key's revocation (the intake's batch,
    `revocation_checked_later`) takes it from the cache on any store: on PostgreSQL
    the read cost 0.4 ms of CPU and two round trips on a pool thread, a complaint each.
    """
    if revocation_checked_later:
        record = rt.keys.get(hash_key(token), now, revocation_checked_later=True)
        if record is not None:
            identity, touch_due = check_record(record, now)
            return await _touched(rt, identity, now) if touch_due else identity
    if is_postgres(rt.engine):
        identity, touch_due = await run_in_threadpool(check_key, rt.engine, token, now,
                                                      rt.keys)
    else:
        identity, touch_due = check_key(rt.engine, token, now, rt.keys)
    return await _touched(rt, identity, now) if touch_due else identity


async def _touched(rt: Runtime, identity: Identity, now: datetime) -> Identity:
    """Record the key's use (once per key per hour), here and in the cache."""
    await run_in_threadpool(touch_key, rt.engine, identity.key_id or 0, now)
    rt.keys.touched(identity.key_id or 0, now)
    return identity


OpenerDep = Annotated[Identity, Depends(Caller(Permission.open_cases))]
# For `POST /cases`, whose intake writer checks a cached key's revocation in its batch.
IntakeOpenerDep = Annotated[Identity, Depends(Caller(Permission.open_cases,
                                                     revocation_checked_later=True))]
ReaderDep = Annotated[Identity, Depends(Caller(Permission.read_cases))]
AdminDep = Annotated[Identity, Depends(Caller(Permission.manage_keys))]
PolicyAdminDep = Annotated[Identity, Depends(Caller(Permission.reload_policies))]
