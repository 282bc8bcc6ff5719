"""Who is calling: an API key or an identity provider's token, as `Authorization: Bearer`.

401 means the credentials identify nobody; 403 means the caller's role may not do
this at all. A case outside the caller's teams answers 404, like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from api.schemas import Problem
from core import runtime as runtime_module
from core.db import is_postgres
from core.keys import KEY_PREFIX, Unauthenticated, authenticate_key, check_key, touch_key
from core.oidc import Forbidden
from core.runtime import Runtime
from domain.access import ROLE_PERMISSIONS, Identity, NotPermitted, Permission

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# The answers every protected operation may give, for the OpenAPI document.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid credentials"},
    403: {"model": Problem, "description": "the caller's role may not do this"}}
SCHEME = "CaseflowKey"
SCHEME_DESCRIPTION = ("A Caseflow API key (`cf_...`; an admin creates them) or, where "
                      "configured, an access token from your organisation's identity provider.")


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, detail=reason, headers=CHALLENGE)


class Caller(HTTPBearer):
    """A dependency that answers the identity behind the request's bearer credentials,
    letting through only callers whose role grants `permission` (any caller without one).

    It is the security scheme itself, so the OpenAPI document and the docs' Authorize
    still show every operation's bearer credentials. FastAPI does work for each
    dependency of each request: the credentials read by a dependency of their own,
    under the check, cost 50,000 instructions a complaint more (bench/README.md).
    """

    def __init__(self, permission: Permission | None = None) -> None:
        super().__init__(auto_error=False, scheme_name=SCHEME, description=SCHEME_DESCRIPTION)
        self.permission = permission
        self.allowed = frozenset(role for role, granted in ROLE_PERMISSIONS.items()
                                 if permission in granted)

    async def __call__(self, request: HTTPConnection) -> Identity:  # type: ignore[override]
        credentials = await super().__call__(request)
        identity = await identify(runtime_module.current(), credentials)
        if self.permission is not None and not identity.can(self.permission):
            raise NotPermitted(self.permission.value.replace("_", " "), identity.role,
                               self.allowed)
        return identity


IdentityDep = Annotated[Identity, Depends(Caller())]


async def identify(rt: Runtime, credentials: HTTPAuthorizationCredentials | None) -> Identity:
    """The caller behind bearer `credentials`: 401 for none or unknown ones, 403 for a
    token the identity provider's rules refuse."""
    if credentials is None:
        raise unauthorized("credentials are required: send 'Authorization: Bearer <API key>'")
    token = credentials.credentials
    now = rt.clock.now()
    try:
        if token.startswith(KEY_PREFIX):
            return await _by_key(rt, token, now)
        if rt.oidc is None:
            raise Unauthenticated("unknown API key")
        # The provider's key set may have to be fetched: never on the event loop.
        return await run_in_threadpool(rt.oidc.identity, token, now)
    except Unauthenticated as exc:
        raise unauthorized(str(exc)) from None
    except Forbidden as exc:
        raise HTTPException(403, detail=str(exc)) from None


async def _by_key(rt: Runtime, token: str, now: datetime) -> Identity:
    """Every request looks its key up. On SQLite, a local file, the indexed read (when
    the runtime's `KeyCache` does not hold the key) takes less time than a trip through
    the thread pool (0.2 ms of CPU per request), so it runs on the event loop; a store
    across the network, and any write, go to the pool."""
    if is_postgres(rt.engine):
        return await run_in_threadpool(authenticate_key, rt.engine, token, now)
    identity, touch_due = check_key(rt.engine, token, now, rt.keys)
    if touch_due:  # once per key per hour
        await run_in_threadpool(touch_key, rt.engine, identity.key_id or 0, now)
        rt.keys.touched(identity.key_id or 0, now)
    return identity


OpenerDep = Annotated[Identity, Depends(Caller(Permission.open_cases))]
ReaderDep = Annotated[Identity, Depends(Caller(Permission.read_cases))]
AdminDep = Annotated[Identity, Depends(Caller(Permission.manage_keys))]
PolicyAdminDep = Annotated[Identity, Depends(Caller(Permission.reload_policies))]
