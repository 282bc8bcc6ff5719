"""Calls: the return-visit calls waiting (an agent's own; a supervisor's teams'), each
with the form that records the call (`record_call`, as `POST /cases/{id}/events`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.event_forms import event_forms
from api.console.web import Visit, VisitDep, render
from core.queries import CaseFilter, list_cases
from domain.access import AccessRole
from domain.followup import rules as followup
from processes.followup.api import followup_public

router = APIRouter()
SHOWN = 50


def _calls(visit: Visit) -> list[dict[str, Any]]:
    rt, me = visit.rt, visit.identity
    mine = me.name if me.role is AccessRole.agent else None
    with Session(rt.engine) as session:
        rows, _ = list_cases(session, CaseFilter(process=followup.NAME, stage="calling",
                                                 assignee=mine),
                             now=rt.clock.now(), limit=SHOWN, before_id=None, reader=me)
        calls = []
        for row in rows:
            public = followup_public(session, row.id or 0, rt, me)
            allowed = [e for e in public.case.allowed_events if e == "record_call"]
            calls.append({"call": public, "forms": event_forms(row, allowed, [], rt)})
    # The oldest task first: the customer who has waited longest.
    return sorted(calls, key=lambda c: c["call"].call_opened_at or c["call"].case.opened_at)


@router.get("/calls")
async def calls_page(request: Request, visit: VisitDep) -> Response:
    calls = await run_in_threadpool(_calls, visit)
    return render(visit, request, "calls.html", calls=calls, zone=visit.zone)
