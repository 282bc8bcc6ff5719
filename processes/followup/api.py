"""Satisfaction follow-ups: read one, list them (an agent's call tasks: stage=calling).

Events (`record_call`, `reassign`, `add_note`, `acknowledge_escalation`) go to
`POST /cases/{id}/events`; a follow-up is a case of process `followup`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import AUTH_ERRORS, ReaderDep
from api.cases import case_public
from api.deps import RuntimeDep, SessionDep
from api.schemas import MAX_ID, CaseId, CasePublic, Problem
from api.times import UtcDatetime
from core.cases import CaseNotFound
from core.queries import CaseFilter, get_case, list_cases
from domain.access import Identity
from domain.followup import rules as followup

router = APIRouter(prefix="/follow-ups", tags=["satisfaction follow-up"])
Stage = Literal["scheduled", "surveyed", "reminded", "calling", "answered", "closed"]


class AnswerPublic(BaseModel):
    csat: int | None = None
    nps: int | None = None
    speed: int | None = None
    attitude: int | None = None
    resolution: int | None = None
    comment: str | None = None
    via: Literal["link", "call"]
    at: UtcDatetime
    by: str = Field(description="'customer', or the agent who recorded it on a call")


class CallAttempt(BaseModel):
    at: UtcDatetime
    by: str
    reached: bool


class FollowUpPublic(BaseModel):
    """A follow-up: its survey, reminder, call task and answer, beside its case."""

    id: int
    stage: Stage
    source_case: int = Field(description="the case it follows")
    agent: str | None = Field(description="who handled that case")
    closed_by: str = Field(description="the event that closed it: confirm, auto_close...")
    send_at: UtcDatetime = Field(description="when the survey goes (out of quiet hours)")
    sent_at: UtcDatetime | None = None
    channel: Literal["email", "phone"] | None = None
    expires_at: UtcDatetime | None = Field(default=None, description="the link's end")
    remind_at: UtcDatetime | None = None
    reminded_at: UtcDatetime | None = None
    call_at: UtcDatetime | None = Field(default=None, description="when a call task opens")
    call_opened_at: UtcDatetime | None = None
    no_call: str | None = Field(default=None, description="why no call task comes "
                                "(no_phone): the survey stays open until the link's end")
    attempts: list[CallAttempt] = Field(default_factory=list)
    answer: AnswerPublic | None = None
    outcome: str | None = Field(default=None, description="answered, reached, unreached, "
                                "opted_out, no_contact, no_phone, surveyed_recently")
    recovery_case: int | None = None
    finding: int | None = None
    case: CasePublic = Field(description="assignee, call clock, timeline, allowed events")


class FollowUpPage(BaseModel):
    items: list[FollowUpPublic]
    next_cursor: int | None


@router.get("/{followup_id}", response_model=FollowUpPublic,
            responses={**AUTH_ERRORS, 404: {"model": Problem}})
def read_followup(followup_id: CaseId, session: SessionDep, rt: RuntimeDep,
                  reader: ReaderDep) -> FollowUpPublic:
    """A follow-up with its survey, call attempts, answer and recovery case."""
    return followup_public(session, followup_id, rt, reader)


@router.get("", response_model=FollowUpPage, responses=AUTH_ERRORS)
def search_followups(
    session: SessionDep, rt: RuntimeDep, reader: ReaderDep,
    stage: Stage | None = None,
    team: Annotated[str | None, Query(max_length=80)] = None,
    assignee: Annotated[str | None, Query(max_length=120,
                                          description="who has the call task")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> FollowUpPage:
    """The follow-ups in your scope, newest first."""
    rows, cursor = list_cases(session, CaseFilter(process=followup.NAME, stage=stage,
                                                  team=team, assignee=assignee),
                              now=rt.clock.now(), limit=limit, before_id=before_id,
                              reader=reader)
    return FollowUpPage(items=[followup_public(session, row.id or 0, rt, reader)
                               for row in rows], next_cursor=cursor)


def followup_public(session: SessionDep, followup_id: int, rt: RuntimeDep,
                    reader: Identity) -> FollowUpPublic:
    """A follow-up as `reader` may see it; not found outside their scope."""
    view = get_case(session, followup_id, rt, rt.clock.now(), reader)
    if view is None or view.case.process != followup.NAME:
        raise CaseNotFound(followup_id)
    data = view.case.data
    fields: dict[str, Any] = {name: data.get(name) for name in FollowUpPublic.model_fields
                              if name not in ("id", "stage", "case") and name in data}
    # A stored follow-up's stage is one of its table's (and the model validates it).
    return FollowUpPublic(id=followup_id, stage=cast(Stage, view.case.stage),
                          case=case_public(view, rt, reader), **fields)
