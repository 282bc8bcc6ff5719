"""Crises under way (closed and dismissed ones stay on their case pages): severity,
obligations with their countdowns, notices waiting for approval (which managers and
directors approve here) and the compensation's progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.listing import open_cases
from api.console.web import Visit, VisitDep, render
from domain.crisis import rules as crisis
from processes.crisis import compensation
from processes.crisis.api import crisis_public

router = APIRouter()
SHOWN = 30


def _crises(visit: Visit) -> list[dict[str, Any]]:
    rt = visit.rt
    with Session(rt.engine) as session:
        rows = open_cases(session, crisis.NAME, visit.identity, limit=SHOWN)
        found = []
        for row in rows:
            public = crisis_public(session, row.id or 0, rt, visit.identity)
            found.append({"crisis": public, "progress": compensation.progress(session, row.id or 0),
                          "approvable": "approve_notice" in public.case.allowed_events})
    return found


@router.get("/crises")
async def crises_page(request: Request, visit: VisitDep) -> Response:
    found = await run_in_threadpool(_crises, visit)
    return render(visit, request, "crises.html", crises=found, zone=visit.zone)
