"""Improvement: the findings backlog and the PDCA cycles (baseline, target, pilot,
check, verdict), as the API's backlog and cycles show them to the visitor: those under
way (open findings, cycles not closed), or on request the ended ones (findings dismissed
or promoted, cycles closed), newest first, each list paged on its own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.listing import STATES, cursor_of, process_cases, state_of
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


ENDED_FINDINGS = ("dismissed", "promoted")


def _findings(session: Session, me: Identity, *, ended: bool, before_id: int | None
              ) -> tuple[list[Finding], int | None]:
    """The newest findings open, or `ended`, that `me` may read; the next page's cursor."""
    found: list[Finding] = []
    for status in (ENDED_FINDINGS if ended else ("open",)):
        rows, _ = list_findings(session, me, status=status, source=None, limit=SHOWN + 1,
                                before_id=before_id)
        found += rows
    found.sort(key=lambda row: -(row.id or 0))
    page = found[:SHOWN]
    return page, (page[-1].id if len(found) > SHOWN else None)


def _improvement(visit: Visit, state: str, findings_before: int | None,
                 cycles_before: int | None) -> dict[str, Any]:
    rt, me = visit.rt, visit.identity
    ended = state == "ended"
    with Session(rt.engine) as session:
        findings: list[FindingPublic] = []
        older_findings = None
        if me.can(Permission.read_reports):
            rows, older_findings = _findings(session, me, ended=ended,
                                             before_id=findings_before)
            findings = [finding_public(row, me) for row in rows]
        cycles, older_cycles = process_cases(session, pdca.NAME, me, ended=ended,
                                             limit=SHOWN, before_id=cycles_before)
        return {"findings": findings, "reads_backlog": me.can(Permission.read_reports),
                "cycles": [cycle_public(session, row.id or 0, rt, me) for row in cycles],
                "older_findings": older_findings, "older_cycles": older_cycles}


@router.get("/improvement")
async def improvement_page(request: Request, visit: VisitDep, state: str | None = None,
                           findings_before: str | None = None,
                           cycles_before: str | None = None) -> Response:
    chosen = state_of(state)
    found = await run_in_threadpool(_improvement, visit, chosen, cursor_of(findings_before),
                                    cursor_of(cycles_before))
    return render(visit, request, "improvement.html", zone=visit.zone, state=chosen,
                  states=STATES, **found)
