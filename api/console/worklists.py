"""Queue, overview and workload: the supervisor's daily pages, from `core.worklists`
(the same queries behind the API's lists, in the visitor's scope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.case_page import Refusal, apply_event
from api.console.web import Visit, VisitDep, read_form, render, see_other
from api.page_cursors import BadCursor, queue_cursor, read_queue
from core import worklists
from core.queries import CaseFilter
from domain.access import AccessRole
from domain.catalogue import definitions
from domain.complaint import rules as complaint
from domain.crisis.policy import SEVERITIES
from domain.process import UNRANKED

router = APIRouter()
PAGE = 50
REFRESH_SECONDS = 30
FILTERS = worklists.FACET_DIMENSIONS
HORIZONS = (30, 60, 120, 240)  # minutes, for "at risk" on the overview
RISK_WINDOW = timedelta(minutes=30)  # a queue badge turns amber this close to due


def _filter(request: Request) -> tuple[CaseFilter, dict[str, str]]:
    chosen = {name: request.query_params.get(name, "") for name in FILTERS}
    values: dict[str, Any] = {name: value or None for name, value in chosen.items()}
    return CaseFilter(**values), chosen


def _queue(visit: Visit, flt: CaseFilter, chosen: dict[str, str],
           after: worklists.QueueKey | None) -> dict[str, Any]:
    rt, now = visit.rt, visit.rt.clock.now()
    with Session(rt.engine) as session:
        found = worklists.queue(session, visit.identity, rt, now, flt, limit=PAGE,
                                after=after)
        counts = worklists.filter_counts(session, visit.identity,
                                         {name: value or None for name, value in chosen.items()})
    return {"rows": found.rows, "total": found.total, "choices": filter_choices(visit),
            "counts": counts, "now": now,
            "next_page": queue_cursor(found.after) if found.after else None}


def filter_choices(visit: Visit) -> dict[str, list[str]]:
    """What each filter offers, from the policies and the processes (each option then
    says how many open cases it would select: `core.worklists.filter_counts`)."""
    rt = visit.rt
    teams = worklists.readable_teams(visit.identity, rt)
    people = sorted({person for team in teams if team in rt.policies.teams
                     for person in [*rt.policies.teams[team].members,
                                    rt.policies.teams[team].supervisor]})
    processes = definitions()
    stages = sorted({stage for process in processes.values()
                     for stage in process.TABLE.stages})
    priorities = [*complaint.policy_of(rt.policies).priorities, *SEVERITIES, UNRANKED]
    return {"team": teams, "assignee": people, "process": sorted(processes),
            "priority": list(dict.fromkeys(priorities)), "stage": stages}


@router.get("/queue")
async def queue_page(request: Request, visit: VisitDep, after: str | None = None) -> Response:
    """The queue, a page at a time: `after` is the cursor of the page's "Next" link
    (`api.page_cursors`); one that is not refuses itself (422) over the first page."""
    flt, chosen = _filter(request)
    key, problem = None, None
    if after:
        try:
            key = read_queue(after)
        except BadCursor:
            problem = visit.words("That page link is not valid; here is the first page.")
    found = await run_in_threadpool(_queue, visit, flt, chosen, key)
    handed_on = request.query_params.get("handed_on")
    notice = visit.words("Case {id} is now with a team outside your scope.", id=handed_on) \
        if handed_on and handed_on.isdigit() else None
    return render(visit, request, "queue.html", status=422 if problem else 200,
                  chosen=chosen, paged=key is not None, refresh=REFRESH_SECONDS,
                  zone=visit.zone, notice=notice, problem=problem, risk_window=RISK_WINDOW,
                  **found)


def _overview(visit: Visit, horizon: int) -> dict[str, Any]:
    rt, now = visit.rt, visit.rt.clock.now()
    with Session(rt.engine) as session:
        teams = worklists.overview(session, visit.identity, rt, now,
                                   horizon=timedelta(minutes=horizon))
    return {"teams": teams}


@router.get("/overview")
async def overview_page(request: Request, visit: VisitDep, horizon: int = 60) -> Response:
    horizon = horizon if horizon in HORIZONS else 60
    found = await run_in_threadpool(_overview, visit, horizon)
    return render(visit, request, "overview.html", horizon=horizon, horizons=HORIZONS,
                  timedelta_minutes=lambda m: timedelta(minutes=m),
                  refresh=REFRESH_SECONDS, **found)


def _workload(visit: Visit, team: str | None) -> dict[str, Any]:
    rt, now = visit.rt, visit.rt.clock.now()
    with Session(rt.engine) as session:
        people = worklists.workload(session, visit.identity, rt, now, team=team)
    teams = worklists.readable_teams(visit.identity, rt)
    members = sorted({p for t in teams if t in rt.policies.teams
                      for p in rt.policies.teams[t].members})
    return {"people": people, "teams": teams, "members": members}


@router.get("/workload")
async def workload_page(request: Request, visit: VisitDep, team: str | None = None) -> Response:
    found = await run_in_threadpool(_workload, visit, team or None)
    return render(visit, request, "workload.html", team=team or "", zone=visit.zone,
                  can_reassign=visit.identity.role is AccessRole.supervisor, **found)


@router.post("/workload/reassign")
async def reassign_from_workload(request: Request, visit: VisitDep) -> Response:
    """Hand a case on from the workload page: the `reassign` event, as on the case page."""
    form = await read_form(request, visit.session)
    case = form.get("case", "")
    case_id = int(case) if case.isdigit() else 0
    try:
        await apply_event(visit, case_id, {**form, "event": "reassign"})
    except Refusal as refused:
        found = await run_in_threadpool(_workload, visit, None)
        return render(visit, request, "workload.html", status=refused.status, team="",
                      zone=visit.zone, problem=refused.reason,
                      can_reassign=visit.identity.role is AccessRole.supervisor, **found)
    return see_other(f"/console/workload?done=reassign&case={case_id}")
