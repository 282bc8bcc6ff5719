"""Improvement: the findings backlog and the PDCA cycles (baseline, target, pilot,
check, verdict), as the API's backlog and cycles show them to the visitor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.listing import open_cases
from api.console.web import Visit, VisitDep, render
from domain.access import Identity, Permission
from domain.pdca import rules as pdca
from engine.models import Finding
from processes.pdca.api import cycle_public
from processes.reviews.findings import list_findings, visible_figures
from processes.reviews.schemas import FindingPublic

router = APIRouter()
SHOWN = 50


def finding_public(row: Finding, reader: Identity) -> FindingPublic:
    """A finding as the API shows it to `reader` (figures of their teams only)."""
    public = FindingPublic.model_validate(row, from_attributes=True)
    return public.model_copy(update={"figures": visible_figures(row, reader)})


def _improvement(visit: Visit) -> dict[str, Any]:
    rt, me = visit.rt, visit.identity
    with Session(rt.engine) as session:
        findings = []
        if me.can(Permission.read_reports):
            rows, _ = list_findings(session, me, status="open", source=None, limit=SHOWN,
                                    before_id=None)
            findings = [finding_public(row, me) for row in rows]
        cycles = open_cases(session, pdca.NAME, me, limit=SHOWN)
        return {"findings": findings, "reads_backlog": me.can(Permission.read_reports),
                "cycles": [cycle_public(session, row.id or 0, rt, me) for row in cycles]}


@router.get("/improvement")
async def improvement_page(request: Request, visit: VisitDep) -> Response:
    found = await run_in_threadpool(_improvement, visit)
    return render(visit, request, "improvement.html", zone=visit.zone, **found)
