"""Crises under way, or ended (closed and dismissed) on request, newest first and paged:
severity, obligations with their countdowns, notices waiting for approval (which
managers and directors approve here) and the compensation's progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.listing import STATES, cursor_of, process_cases, state_of
from api.console.web import Visit, VisitDep, render
from domain.crisis import rules as crisis
from processes.crisis import compensation
from processes.crisis.api import crisis_public

router = APIRouter()
SHOWN = 30


def _crises(visit: Visit, state: str, before_id: int | None) -> dict[str, Any]:
    rt = visit.rt
    with Session(rt.engine) as session:
        rows, older = process_cases(session, crisis.NAME, visit.identity,
                                    ended=state == "ended", limit=SHOWN, before_id=before_id)
        found = []
        for row in rows:
            public = crisis_public(session, row.id or 0, rt, visit.identity)
            found.append({"crisis": public, "progress": compensation.progress(session, row.id or 0),
                          "approvable": "approve_notice" in public.case.allowed_events})
    return {"crises": found, "older": older}


@router.get("/crises")
async def crises_page(request: Request, visit: VisitDep, state: str | None = None,
                      before: str | None = None) -> Response:
    chosen = state_of(state)
    found = await run_in_threadpool(_crises, visit, chosen, cursor_of(before))
    return render(visit, request, "crises.html", zone=visit.zone, state=chosen,
                  states=STATES, **found)
