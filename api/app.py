"""The FastAPI application: routers, error handlers, and start-up of the runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from api import (
    admin,
    case_lists,
    cases,
    console,
    customers,
    docs_pages,
    errors,
    health,
    probes,
    whatif,
    worklists,
)
from api.body_limit import BodyLimit
from api.console import web as console_web
from api.observability import Observe
from api.parameters import RefuseUnstorableParameters
from core import runtime as runtime_module
from core.keys import ensure_first_admin_key
from core.logs import configure_logging
from core.runtime import Runtime
from core.settings import Settings
from core.workers import WorkerDuties
from engine.heap import freeze_long_lived
from processes.crisis import api as crisis_api
from processes.followup import api as followup_api
from processes.followup import survey_api
from processes.pdca import api as pdca_api
from processes.reviews import api as reviews_api
from processes.reviews import findings_api
from processes.service_request import api as service_request_api

if TYPE_CHECKING:
    from core.scheduler import SweepScheduler

log = logging.getLogger("caseflow")

# Each process's own endpoints, beyond the generic `/cases` ones, in the order the API
# docs list them.
PROCESS_ROUTERS: tuple[APIRouter, ...] = (
    pdca_api.router, followup_api.router, survey_api.router, findings_api.router,
    reviews_api.router, reviews_api.reviews_router, crisis_api.router,
    service_request_api.router,
)


def announce_first_admin_key(rt: Runtime) -> None:
    """On a store without keys, create an admin key and say where it is (never the key)."""
    path = ensure_first_admin_key(rt.engine, data_dir=rt.settings.data_dir,
                                  policies=rt.policies, now=rt.clock.now())
    if path is not None:
        log.warning("First start: an admin API key was created and saved to %s (readable "
                    "by you only). Send it in the Authorization header as a bearer token, and "
                    "create keys for people and integrations with it: POST /admin/keys, or "
                    "`caseflow keys create`.", path)


def worker_app() -> FastAPI:
    """The app of one of several server processes (`CASEFLOW_WORKERS`), made in it: each
    reads its settings, sets up its log and configures its own runtime."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, prepared=True)


def _start_scheduler(rt: Runtime) -> SweepScheduler:
    from core.scheduler import SweepScheduler  # APScheduler and Prefect: only when needed

    return SweepScheduler(rt).start()


def create_app(settings: Settings | None = None, *, manage_runtime: bool = True,
               prepared: bool = False) -> FastAPI:
    """Build the app; tests that configure the runtime themselves pass manage_runtime=False.

    `prepared`: the app of a worker, whose service migrated the store and made the first
    admin key before it started the workers (`caseflow serve` with CASEFLOW_WORKERS > 1).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        duties = None
        if manage_runtime:
            configured = runtime_module.configure(settings or Settings(), prepared=prepared)
            if not prepared:
                announce_first_admin_key(configured)
            duties = WorkerDuties(configured, _start_scheduler).start()
            freeze_long_lived()
        yield
        whatif.REPLAYS.close()  # its processes would outlive the server otherwise
        if duties is not None:
            duties.stop()

    app = FastAPI(
        title="Caseflow",
        summary="Customer-service processes with business-time SLAs that escalate by themselves.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # api.docs_pages serves both, without a CDN
        redoc_url=None,
    )
    app.include_router(case_lists.router)  # before /cases/{case_id}
    app.include_router(cases.router)
    app.include_router(admin.router)
    app.include_router(customers.router)
    app.include_router(whatif.router)
    for router in PROCESS_ROUTERS:
        app.include_router(router)
    app.include_router(worklists.router)
    app.include_router(health.router)
    docs_pages.install(app)
    app.include_router(probes.router)
    app.include_router(console.router)
    errors.install(app)
    console_web.install(app)
    app.add_middleware(RefuseUnstorableParameters, service=app)
    app.add_middleware(BodyLimit)  # refuses before anything reads the body
    app.add_middleware(Observe, service=app)  # outermost: request ids, request metrics
    return app
