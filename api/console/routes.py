"""The console's router: every page under /console, and its one style sheet."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from api.console import (
    calls,
    case_page,
    crises,
    improvement,
    provider_sign_in,
    reports,
    signin,
    worklists,
)
from api.console.web import HERE, see_other

router = APIRouter(prefix="/console", include_in_schema=False)
STYLE = HERE / "static" / "console.css"


@router.get("")
async def home() -> Response:
    return see_other(signin.HOME)


@router.get("/static/console.css")
async def style() -> FileResponse:
    return FileResponse(STYLE, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})


for page in (signin, provider_sign_in, worklists, case_page, crises, calls, improvement, reports):
    router.include_router(page.router)
