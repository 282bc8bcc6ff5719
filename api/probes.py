"""Probes and metrics: `/livez`, `/readyz` and `/metrics` (docs/operations.md).

`/livez` says the process answers, and touches nothing else. `/readyz` says whether
this instance can serve: its store answers and has the schema this code needs (the
migrations at head); 503 names the check that failed. `/metrics` is the Prometheus
text exposition; with `CASEFLOW_METRICS_KEY` set it wants that key as a bearer token.
`/health` (api/health.py) stays as it was.
"""

from __future__ import annotations

import hmac
import logging
from functools import cache
from typing import Annotated, Any, Literal

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.auth import client_address
from api.deps import RuntimeDep
from api.schemas import Problem
from core.limits import retry_after
from core.runtime import Runtime
from engine import metrics
from engine.db import MIGRATIONS

router = APIRouter(tags=["health"])
log = logging.getLogger("caseflow.probes")
# Not an OpenAPI security scheme: whether /metrics wants a key depends on a setting, and
# no API key is one.
METRICS_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "CASEFLOW_METRICS_KEY is set and was not sent"},
    429: {"model": Problem, "description": "too many failed attempts from this address",
          "headers": {"Retry-After": {"description": "seconds to wait",
                                      "schema": {"type": "integer"}}}},
}


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description="`store` and `migrations`, each `ok` or what is wrong with it")
    failed: list[str] = Field(description="the checks that failed; empty when ready")


@router.get("/livez", response_model=Live)
def livez() -> Live:
    """The process is up and answers (nothing else is looked at: not the store)."""
    return Live()


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a check failed"}})
def readyz(rt: RuntimeDep) -> Any:
    """Ready to serve: the store answers, and its schema is this code's (migrations at
    head). Otherwise 503, naming the check that failed."""
    checks = {"store": "ok", "migrations": "ok"}
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            found, wanted = MigrationContext.configure(connection).get_current_revision(), \
                _head()
        if found != wanted:
            checks["migrations"] = (f"the store is at revision {found or 'none'}; this code "
                                    f"needs {wanted}")
    except Exception as exc:
        log.warning("readiness: the store did not answer (%s)", type(exc).__name__)
        checks["store"] = f"unreachable ({type(exc).__name__})"
        checks["migrations"] = "unknown: the store did not answer"
    failed = [name for name, outcome in checks.items() if outcome != "ok"]
    body = Readiness(status="not ready" if failed else "ready", checks=checks, failed=failed)
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


@cache
def _head() -> str:
    """The newest migration, read from the migration files once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""


def _metrics_reader(request: Request, rt: RuntimeDep) -> Runtime:
    """Anyone, unless `CASEFLOW_METRICS_KEY` is set: then its bearer only (401 else, and
    429 after too many failures from one address, as for API keys)."""
    wanted = rt.settings.metrics_key
    if wanted is None:
        return rt
    client = client_address(request)
    failures = rt.limits.failed_auth
    wait = failures.wait(client)
    if wait:
        raise HTTPException(429, headers={"Retry-After": retry_after(wait)}, detail=(
            "too many failed authentications from this address; try again later"))
    scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    if not hmac.compare_digest(given.encode(), wanted.get_secret_value().encode()):
        failures.spend(client)
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"},
                            detail="/metrics needs 'Authorization: Bearer <CASEFLOW_METRICS_KEY>'")
    return rt


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "the Prometheus text exposition format"},
                       **METRICS_ERRORS})
def read_metrics(rt: Annotated[Runtime, Depends(_metrics_reader)]) -> Response:
    """Every metric in Prometheus's text format: the counters of every server process,
    and the outbox as the store has it now."""
    body, content_type = metrics.render(rt)
    return Response(body, media_type=content_type)
