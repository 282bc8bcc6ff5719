"""The improvement backlog: list, read, add (by hand), dismiss and promote findings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.auth import AUTH_ERRORS, CheckedFirst
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import MAX_ID, Problem
from core.queries import unreadable_cases
from domain.access import Identity
from domain.kpi_definitions import DEFINITIONS
from domain.pdca import rules as pdca
from engine.models import Finding
from processes.pdca.api import CyclePublic, FindingPromote, cycle_public, scope_problem
from processes.pdca.cycles import CycleRequest
from processes.reviews.access import BacklogEditorDep, ReportReaderDep
from processes.reviews.findings import (
    add_finding,
    dismiss_finding,
    get_finding,
    list_findings,
    promote_finding,
    visible_figures,
)
from processes.reviews.schemas import (
    FindingCreate,
    FindingDismiss,
    FindingPage,
    FindingPublic,
    FindingSourceName,
    FindingStatusName,
)

router = APIRouter(prefix="/findings", tags=["improvement backlog"], route_class=CheckedFirst)
FindingId = Annotated[int, Path(ge=1, le=MAX_ID)]
ERRORS = {**AUTH_ERRORS, 404: {"model": Problem, "description": "no such finding in your "
                                                                "scope"}}


def _public(row: Finding, reader: Identity) -> FindingPublic:
    public = FindingPublic.model_validate(row, from_attributes=True)
    return public.model_copy(update={"figures": visible_figures(row, reader)})


@router.get("", response_model=FindingPage, responses={**AUTH_ERRORS, 422: {"model": Problem}})
def search_findings(
    session: SessionDep,
    reader: ReportReaderDep,
    status: FindingStatusName | None = None,
    source: FindingSourceName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID,
                                           description="cursor from the last page")] = None,
) -> FindingPage:
    """List the findings in your scope, newest first; follow `next_cursor` for more."""
    rows, cursor = list_findings(session, reader, status=status, source=source, limit=limit,
                                 before_id=before_id)
    return FindingPage(items=[_public(r, reader) for r in rows], next_cursor=cursor)


@router.get("/{finding_id}", response_model=FindingPublic, responses=ERRORS)
def read_finding(finding_id: FindingId, session: SessionDep,
                 reader: ReportReaderDep) -> FindingPublic:
    """A finding: what was found, the figures, and the run or cases behind it."""
    return _public(get_finding(session, finding_id, reader), reader)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FindingPublic,
             responses={**AUTH_ERRORS, 422: {"model": Problem}})
def create_finding(body: FindingCreate, response: Response, session: SessionDep,
                   rt: RuntimeDep, editor: BacklogEditorDep) -> FindingPublic | Response:
    """Add a finding by hand; give one of your teams, or none for the whole service."""
    if editor.team_scoped and body.team is not None and body.team not in editor.teams:
        return field_error(["body", "team"], f"must be one of your teams "
                                             f"{sorted(editor.teams)}")
    if body.team is not None and body.team not in rt.policies.teams:
        return field_error(["body", "team"], f"unknown team; known: {sorted(rt.policies.teams)}")
    if body.kpi is not None and body.kpi not in DEFINITIONS:
        return field_error(["body", "kpi"], f"unknown KPI; known: {sorted(DEFINITIONS)}")
    problem = unreadable_cases(session, body.case_ids, editor)
    if problem:
        return field_error(["body", "case_ids"], problem)
    row = add_finding(session, title=body.title, description=body.description, kpi=body.kpi,
                      team=body.team, case_ids=body.case_ids, figures=body.figures,
                      by=editor, now=rt.clock.now())
    response.headers["Location"] = f"/findings/{row.id}"
    return _public(row, editor)


@router.post("/{finding_id}/dismiss", response_model=FindingPublic,
             responses={**ERRORS, 409: {"model": Problem, "description": "not open"},
                        422: {"model": Problem}})
def dismiss(finding_id: FindingId, body: FindingDismiss, session: SessionDep, rt: RuntimeDep,
            editor: BacklogEditorDep) -> FindingPublic:
    """Dismiss an open finding, saying why; dismissed and promoted findings stay as they are."""
    row = dismiss_finding(session, finding_id, reason=body.reason, by=editor,
                          now=rt.clock.now())
    return _public(row, editor)


@router.post("/{finding_id}/promote", status_code=status.HTTP_201_CREATED,
             response_model=CyclePublic,
             responses={**ERRORS, 409: {"model": Problem, "description": "not open"},
                        422: {"model": Problem}})
def promote(finding_id: FindingId, body: FindingPromote, session: SessionDep, rt: RuntimeDep,
            editor: BacklogEditorDep) -> CyclePublic | Response:
    """Promote an open finding to a PDCA cycle linked to it, its review run and its cases."""
    finding = get_finding(session, finding_id, editor)
    kpi = body.kpi or finding.kpi
    if kpi not in pdca.TARGETABLE_KPIS:
        return field_error(["body", "kpi"], f"the finding names no KPI a cycle can target; "
                                            f"give one of {list(pdca.TARGETABLE_KPIS)}")
    target = body.target if body.target is not None else DEFINITIONS[kpi].target
    if target is None:
        return field_error(["body", "target"], f"{kpi} has no standing target: give one")
    team = finding.team
    if team is None and editor.team_scoped and len(editor.teams) == 1:
        [team] = editor.teams  # a service-wide finding, acted on in the only team they have
    scope = body.scope.model_dump(exclude_none=True) or ({"team": team} if team else {})
    plan = {"problem": body.problem or finding.title, "kpi": kpi, "target": target,
            "scope": scope, "pilot_period": body.pilot_period}
    problem = scope_problem(editor, CycleRequest(plan=plan, team=finding.team), rt.policies)
    if problem:
        return field_error(*problem)
    _, cycle = promote_finding(session, finding_id, plan=plan, by=editor,
                               policies=rt.policies, calendars=rt.calendars, now=rt.clock.now())
    assert cycle.id is not None
    return cycle_public(session, cycle.id, rt, editor)
