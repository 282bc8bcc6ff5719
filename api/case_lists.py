"""Case lists: `GET /cases` (newest first, or by what breaches next, with each case's
SLA summary and the total) and `GET /cases/facets` (counts per dimension).

Declared before `/cases/{case_id}`, so that `/cases/facets` is not taken for a case id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.auth import AUTH_ERRORS, ReaderDep
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.page_cursors import MAX_LENGTH as MAX_CURSOR
from api.page_cursors import BadCursor, newest_cursor, queue_cursor, read_newest, read_queue
from api.schemas import MAX_ID, CasePage, Problem
from api.worklist_schemas import FacetsPublic, facets_public, row_public
from core.case_vocabulary import filter_problem
from core.queries import CaseFilter, count_cases, list_cases
from core.worklists import facets, queue, with_sla

router = APIRouter(prefix="/cases", tags=["cases"])


CaseFilters = Annotated[str | None, Query(max_length=80)]
SortOrder = Literal["newest", "due"]


def case_filter(
    rt: RuntimeDep,
    process: CaseFilters = None,
    stage: CaseFilters = None,
    priority: CaseFilters = None,
    assignee: Annotated[str | None, Query(max_length=120)] = None,
    team: CaseFilters = None,
    breached: Annotated[bool | None, Query(description="any clock past its target")] = None,
    at_risk: Annotated[bool | None, Query(description="past the warning, not yet due")] = None,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
) -> CaseFilter | Response:
    """The filter the query asks for, or 422 naming the parameter that no case can match
    (an unknown stage, process, priority or team, with the values allowed): the query
    parameters `GET /cases` and `GET /cases/facets` share."""
    for name, value in (("opened_from", opened_from), ("opened_to", opened_to)):
        if value is not None and value.tzinfo is None:
            return field_error(["query", name], "needs a timezone, e.g. 2026-11-20T09:00:00+08:00")
        if value is not None and not _in_utc_range(value):
            return field_error(["query", name], "must fall between the years 1 and 9999 in UTC")
    problem = filter_problem(rt.policies, process=process, stage=stage, priority=priority,
                             team=team)
    if problem is not None:
        return field_error(["query", problem.field], problem.message)
    return CaseFilter(process=process, stage=stage, priority=priority, assignee=assignee,
                      team=team, breached=breached, at_risk=at_risk, opened_from=opened_from,
                      opened_to=opened_to)


# The filter, or the refusal to answer instead (checked by each endpoint).
FilterDep = Annotated[CaseFilter | Response, Depends(case_filter)]


@router.get("", response_model=CasePage, responses={**AUTH_ERRORS, 422: {"model": Problem}})
def search_cases(
    session: SessionDep,
    rt: RuntimeDep,
    reader: ReaderDep,
    flt: FilterDep,
    sort: Annotated[SortOrder, Query(description=(
        "newest: newest first (all cases). due: what breaches next first, the open cases "
        "only: the most overdue on top, then the soonest due, then those with no clock "
        "running (paused), oldest first"))] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
        "sort=newest: the cursor from the last page"))] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_ID, description=(
        "sort=due: how many cases to skip (`next_offset` of the last page)"))] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR, description=(
        "either sort: `next_page` of the last page, as it was given"))] = None,
) -> CasePage | Response:
    """List the cases in your scope, filtered, each with its SLA summary (the clock due
    soonest: time left or overdue by, paused, escalation level, the next rung and who it
    reaches); `total` counts them all. Follow `next_page` (as `cursor`) for more: it
    costs the same however deep the page (`next_cursor` and `next_offset` still work)."""
    if isinstance(flt, Response):
        return flt
    now = rt.clock.now()
    if cursor is not None and (before_id is not None or offset is not None):
        given = "before_id" if before_id is not None else "offset"
        return field_error(["query", "cursor"], f"pages on its own; leave out {given}")
    if sort == "due":
        if before_id is not None:
            return field_error(["query", "before_id"], "pages sort=newest; with sort=due, "
                                                       "page with cursor or offset")
        try:
            after = read_queue(cursor) if cursor is not None else None
        except BadCursor as bad:
            return field_error(["query", "cursor"], str(bad))
        page = queue(session, reader, rt, now, flt, limit=limit, offset=offset or 0,
                     after=after)
        following = (offset or 0) + len(page.rows)
        return CasePage(items=[row_public(r) for r in page.rows], total=page.total,
                        next_cursor=None,
                        next_page=queue_cursor(page.after) if page.after else None,
                        next_offset=following if after is None and page.after else None)
    if offset is not None:
        return field_error(["query", "offset"], "pages sort=due; with sort=newest, follow "
                                                "next_page (cursor) or next_cursor (before_id)")
    try:
        before = read_newest(cursor) if cursor is not None else before_id
    except BadCursor as bad:
        return field_error(["query", "cursor"], str(bad))
    rows, next_id = list_cases(session, flt, now=now, limit=limit, before_id=before,
                               reader=reader)
    return CasePage(items=[row_public(r) for r in with_sla(session, rows, rt, now)],
                    total=count_cases(session, flt, now=now, reader=reader),
                    next_cursor=next_id,
                    next_page=newest_cursor(next_id) if next_id is not None else None)


@router.get("/facets", response_model=FacetsPublic,
            responses={**AUTH_ERRORS, 422: {"model": Problem}})
def case_facets(
    session: SessionDep,
    rt: RuntimeDep,
    reader: ReaderDep,
    flt: FilterDep,
    open: Annotated[bool | None, Query(description="true: not closed; false: closed")] = None,
) -> FacetsPublic | Response:
    """How many cases in your scope the filters (those of `GET /cases`) select, and how
    many per team, assignee, process, priority and stage, without paging."""
    if isinstance(flt, Response):
        return flt
    return facets_public(facets(session, reader, replace(flt, open=open),
                                now=rt.clock.now()))


def _in_utc_range(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True
