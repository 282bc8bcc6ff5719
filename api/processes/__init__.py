"""Process-specific endpoints: one module per process that needs more than `/cases`.

A module here with a `router` (a FastAPI `APIRouter`) is included by the app, so a new
process brings its endpoints without editing `api/app.py`. Events on any case still go
through the generic `POST /cases/{id}/events`.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The router of every module in this package, in module-name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found
