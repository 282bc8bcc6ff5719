"""Supervisors' figures: each team's overview and the workload per person (`/reports`).

Supervisors see their own teams, managers and directors every team; the figures count
only cases the caller may read through `/cases`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.auth import AUTH_ERRORS, Caller
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import Problem
from api.worklist_schemas import (
    OverviewPublic,
    PersonLoadPublic,
    load_public,
    overview_public,
)
from core.case_vocabulary import filter_problem
from core.worklists import overview, workload
from domain.access import Identity, Permission
from domain.durations import parse_duration

router = APIRouter(prefix="/reports", tags=["reports"])
ReportReaderDep = Annotated[Identity, Depends(Caller(Permission.read_reports))]
MAX_HORIZON = timedelta(days=7)
ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS, 404: {"model": Problem, "description": "the team is not one of yours"},
    422: {"model": Problem}}


@router.get("/overview", response_model=OverviewPublic, responses=ERRORS)
def team_overview(
    session: SessionDep, rt: RuntimeDep, reader: ReportReaderDep,
    horizon: Annotated[str, Query(max_length=40, description=(
        "ISO 8601 duration: a case is at risk when a clock of it is due within it"))] = "PT1H",
) -> OverviewPublic | Response:
    """Per team in your scope: open cases, at risk within `horizon`, breached today
    (since the team's local midnight), and the share of complaints on time today and
    this week, counted in complaints, against the 95% target."""
    try:
        window = parse_duration(horizon)
    except ValueError as exc:
        return field_error(["query", "horizon"], str(exc))
    if window > MAX_HORIZON:
        return field_error(["query", "horizon"], "must be at most P7D")
    now = rt.clock.now()
    teams = overview(session, reader, rt, now, window)
    return OverviewPublic(now=now, horizon=window, teams=[overview_public(t) for t in teams])


@router.get("/workload", response_model=list[PersonLoadPublic], responses=ERRORS)
def person_workload(
    session: SessionDep, rt: RuntimeDep, reader: ReportReaderDep,
    team: Annotated[str | None, Query(max_length=80, description="one of your teams")] = None,
) -> list[PersonLoadPublic] | Response:
    """Per assignee of open cases in your scope: open, at risk (past the warning), breached
    (a running clock past due), and the oldest open case; the most pressed first."""
    if team is not None:
        problem = filter_problem(rt.policies, team=team)
        if problem is not None:
            return field_error(["query", "team"], problem.message)
        if reader.team_scoped and team not in reader.teams:
            return Response(status_code=404, media_type="application/json",
                            content=Problem(detail=f"team {team!r} is not one of "
                                                   "yours").model_dump_json())
    loads = workload(session, reader, rt, rt.clock.now(), team=team)
    return [load_public(p) for p in loads]
