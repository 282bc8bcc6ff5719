"""The FastAPI application: routers, error handlers, and start-up of the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import cases, errors, health
from core import runtime as runtime_module
from core.settings import Settings


def create_app(settings: Settings | None = None, *, manage_runtime: bool = True) -> FastAPI:
    """Build the app; tests that configure the runtime themselves pass manage_runtime=False."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if manage_runtime:
            configured = runtime_module.configure(settings or Settings())
            if configured.settings.scheduler_enabled:
                from core.scheduler import SweepScheduler

                scheduler = SweepScheduler(configured).start()
        yield
        if scheduler is not None:
            scheduler.shutdown()

    app = FastAPI(
        title="Caseflow",
        summary="Customer-service processes with business-time SLAs that escalate by themselves.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(cases.router)
    app.include_router(health.router)
    errors.install(app)
    return app
