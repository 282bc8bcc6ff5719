"""The case page: its clocks as bars, its timeline, its customer as the visitor's role may
see them, and a button (with its form) for each event the visitor may send.

Events go through `core.cases.post_event`, the command behind `POST /cases/{id}/events`,
with the visitor's identity: the same scope, role and transition checks, and a refusal
shows the API's reason.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.cases import case_public
from api.console.clockbars import clock_bars
from api.console.event_forms import FormProblem, event_forms, read_event_data
from api.console.web import Visit, VisitDep, read_form, render, see_other
from api.schemas import MAX_ID
from core import worklists
from core.cases import CaseNotFound, post_event
from core.queries import CaseView, get_case
from domain.access import NotPermitted
from domain.process import Event, IllegalTransition, InvalidEvent
from engine.models import SlaClock

router = APIRouter()


def case_zone(visit: Visit, view: CaseView) -> tzinfo:
    """The timezone of the case's team (the teams policy's)."""
    return worklists.team_zone(visit.rt, view.case.team)


def who_it_reaches(visit: Visit, case: Any, notify: list[str]) -> list[str]:
    """The people a rung notifies, by role and name: `主管 王五` / `supervisor Wang`."""
    team = visit.rt.policies.teams.get(case.team)
    named = {"assignee": case.assignee,
             "supervisor": team.supervisor if team else None,
             "manager": team.manager if team else None,
             "director": team.director if team else None}
    return [f"{visit.words.name('role', who)} {named.get(who) or ''}".strip() for who in notify]


def _load(visit: Visit, case_id: int) -> dict[str, Any] | None:
    rt, now = visit.rt, visit.rt.clock.now()
    with Session(rt.engine, expire_on_commit=False) as session:
        view = get_case(session, case_id, rt, now, visit.identity)
        if view is None:
            return None
        stopped: dict[str, datetime | None] = {
            row.name: row.stopped_at
            for row in session.exec(select(SlaClock).where(SlaClock.case_id == case_id))}
    public = case_public(view, rt, visit.identity)
    reach = {c.name: who_it_reaches(visit, view.case, c.next_escalation["notify"])
             for c in view.clocks if c.next_escalation}
    return {"reach": reach, "case": view.case, "public": public, "view": view,
            "bars": clock_bars(view.case.process, view.clocks, stopped, list(view.timeline), now),
            "forms": event_forms(view.case, view.allowed_events,
                                 [c.name for c in view.clocks], rt),
            "zone": case_zone(visit, view), "now": now}


async def _page(request: Request, visit: Visit, case_id: int, *, status: int = 200,
                problem: str | None = None, notice: str | None = None) -> Response:
    loaded = await run_in_threadpool(_load, visit, case_id) if 1 <= case_id <= MAX_ID else None
    if loaded is None:
        return render(visit, request, "not_found.html", status=404,
                      problem=visit.words("No case {id} in your scope.", id=case_id))
    return render(visit, request, "case.html", status=status, problem=problem, notice=notice,
                  **loaded)


@router.get("/cases/{case_id}")
async def case_page(case_id: int, request: Request, visit: VisitDep) -> Response:
    return await _page(request, visit, case_id)


def _post(visit: Visit, case_id: int, event: Event) -> bool:
    """Post the event as the API does; whether the visitor may still read the case."""
    rt = visit.rt
    with Session(rt.engine, expire_on_commit=False) as session:
        post_event(session, case_id=case_id, event=event, policies=rt.policies,
                   calendars=rt.calendars, now=rt.clock.now(), identity=visit.identity,
                   runtime=rt)
        return get_case(session, case_id, rt, rt.clock.now(), visit.identity) is not None


class Refusal(Exception):
    """An event the service refused: the status the API answers and its reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def apply_event(visit: Visit, case_id: int, form: dict[str, str]) -> bool:
    """Send the form's event to the case as its API would; whether the visitor may still
    read the case afterwards. `Refusal` carries the API's status and reason."""
    words = visit.words
    event_type = form.get("event", "")
    with Session(visit.rt.engine) as session:
        view = get_case(session, case_id, visit.rt, visit.rt.clock.now(), visit.identity) \
            if 1 <= case_id <= MAX_ID else None
    if view is None:
        raise Refusal(404, words("No case {id} in your scope.", id=case_id))
    try:
        data, note = read_event_data(view.case, event_type, form)
        event = Event(event_type, visit.identity.name, data, note, actor_kind=visit.identity.kind)
        return await run_in_threadpool(_post, visit, case_id, event)
    except CaseNotFound:
        raise Refusal(404, words("No case {id} in your scope.", id=case_id)) from None
    except NotPermitted as exc:
        raise Refusal(403, str(exc)) from None
    except IllegalTransition as exc:
        allowed = ", ".join(words.name("event", e) for e in exc.allowed) or words("none")
        raise Refusal(409, words("Refused: {reason} Events you may send now: {allowed}.",
                                 reason=str(exc), allowed=allowed)) from None
    except (InvalidEvent, FormProblem) as exc:
        raise Refusal(422, words("Refused: {reason}", reason=str(exc))) from None


@router.post("/cases/{case_id}/events")
async def send_event(case_id: int, request: Request, visit: VisitDep) -> Response:
    form = await read_form(request, visit.session)
    try:
        readable = await apply_event(visit, case_id, form)
    except Refusal as refused:
        if refused.status == 404:
            return render(visit, request, "not_found.html", status=404,
                          problem=refused.reason)
        return await _page(request, visit, case_id, status=refused.status,
                           problem=refused.reason)
    event_type = form.get("event", "")
    if not readable:  # handed to a team outside the visitor's scope
        return see_other(f"/console/queue?handed_on={case_id}")
    back = form.get("back", "")
    if back.startswith("/console/") and "?" not in back:  # a list page the form was on
        return see_other(f"{back}?done={event_type}&case={case_id}")
    return see_other(f"/console/cases/{case_id}?done={event_type}")
