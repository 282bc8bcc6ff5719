"""Crises: raise a candidate, read and list crises, link affected complaints in bulk, and
follow the compensation batch. Every other step is an event: POST /cases/{id}/events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response, status
from pydantic import BaseModel, Field, model_validator

from api.auth import AUTH_ERRORS, Caller, CheckedFirst, ReaderDep
from api.cases import case_public
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import MAX_ID, CaseId, CasePublic, Model, Problem
from api.times import UtcJson
from core.cases import CaseNotFound
from core.queries import CaseFilter, get_case, list_cases
from core.runtime import Runtime
from domain.access import Identity, Permission
from domain.crisis import rules as crisis
from engine.models import CaseEvent
from processes.crisis import compensation as crisis_compensation
from processes.crisis import links as crisis_links
from processes.crisis.commands import crisis_team, submit_candidate

router = APIRouter(prefix="/crises", tags=["crises"], route_class=CheckedFirst)
CrisisRunnerDep = Annotated[Identity, Depends(Caller(Permission.manage_crises))]
Stage = Literal["candidate", "confirmed", "responding", "resolved", "compensating",
                "reviewing", "closed", "dismissed"]
ERRORS = {**AUTH_ERRORS, 404: {"model": Problem}, 422: {"model": Problem}}
TIMELINE_IDS = 100  # a link by up to 10,000 ids keeps every read of the crisis small


class CrisisCreate(Model):
    title: str = Field(min_length=1, max_length=300, examples=["Payment outage"])
    description: str = Field(default="", max_length=20_000)
    category: str | None = Field(default=None, min_length=1, max_length=80,
                                 examples=["billing"], description="complaints of this "
                                 "category opened while the crisis is open are linked")


class LinkRequest(Model):
    """Complaints to link: by ids, or by category (the crisis's if omitted) and window."""

    case_ids: list[CaseId] = Field(default_factory=list, max_length=10_000)
    category: str | None = Field(default=None, min_length=1, max_length=80)
    opened_from: datetime | None = None
    opened_to: datetime | None = None

    @model_validator(mode="after")
    def _one_way(self) -> LinkRequest:
        window = self.opened_from is not None or self.opened_to is not None
        if bool(self.case_ids) == window:
            raise ValueError("give case_ids, or opened_from and opened_to (with a category)")
        for value in (self.opened_from, self.opened_to):
            if value is not None and value.tzinfo is None:
                raise ValueError("opened_from and opened_to need a timezone")
        return self


class LinkResult(BaseModel):
    linked: int = Field(description="complaints linked by this call")
    complaints: int = Field(description="complaints linked to the crisis in all")
    customers: int = Field(description="distinct customers affected")


class CompensationPublic(BaseModel):
    crisis_id: int
    stage: str
    total: int = Field(description="customers affected")
    issued: int = Field(description="customers compensated so far")
    value: float = Field(description="value issued so far")
    percent: float


class CrisisPublic(BaseModel):
    """A crisis: severity, obligations (as clocks), notices, links and compensation."""

    id: int
    stage: Stage
    title: str
    category: str | None
    severity: str | None
    likelihood: str | None
    impact: str | None
    matrix_severity: str | None
    overrides: UtcJson[list[dict[str, Any]]]
    team: UtcJson[dict[str, Any]] | None
    notices: UtcJson[list[dict[str, Any]]]
    spike: UtcJson[dict[str, Any]] | None
    affected: dict[str, int]
    compensation: UtcJson[dict[str, Any]] | None
    review: UtcJson[dict[str, Any]] | None
    case: CasePublic = Field(description="clocks (the obligations), timeline, allowed events")


class CrisisPage(BaseModel):
    items: list[CrisisPublic]
    next_cursor: int | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CrisisPublic,
             responses={200: {"model": CrisisPublic, "description": "replayed: the candidate "
                              "this Idempotency-Key raised before"},
                        409: {"model": Problem, "description": "this Idempotency-Key was "
                              "used with another body"}, **ERRORS})
def create_crisis(
    body: CrisisCreate, response: Response, session: SessionDep, rt: RuntimeDep,
    caller: CrisisRunnerDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Any:
    """Raise a crisis candidate; its team's supervisor triages it (confirm or dismiss).

    An `Idempotency-Key` (yours: another caller's same key is theirs) makes a retry answer
    200 with the candidate it raised; the same key with another body is refused (409).
    """
    if caller.team_scoped:
        team = crisis_team(body.category, rt.policies)
        if team not in caller.teams:
            return field_error(["body", "category"], f"the crisis would belong to team "
                               f"{team!r}; yours are {sorted(caller.teams)}")
    case, created = submit_candidate(
        session, idempotency_key=idempotency_key, title=body.title,
        description=body.description, category=body.category, actor=caller.name,
        actor_kind=caller.kind, policies=rt.policies, calendars=rt.calendars,
        now=rt.clock.now())
    assert case.id is not None
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/crises/{case.id}"
    return crisis_public(session, case.id, rt, caller)


@router.get("/{crisis_id}", response_model=CrisisPublic, responses=ERRORS)
def read_crisis(crisis_id: CaseId, session: SessionDep, rt: RuntimeDep,
                reader: ReaderDep) -> CrisisPublic:
    """A crisis with its obligations, notices, affected customers and compensation."""
    return crisis_public(session, crisis_id, rt, reader)


@router.get("", response_model=CrisisPage, responses=AUTH_ERRORS)
def search_crises(
    session: SessionDep, rt: RuntimeDep, reader: ReaderDep, stage: Stage | None = None,
    category: Annotated[str | None, Query(min_length=1, max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> CrisisPage:
    """The crises in your scope, newest first; by stage and by category."""
    rows, cursor = list_cases(session, CaseFilter(process=crisis.NAME, stage=stage,
                                                  category=category),
                              now=rt.clock.now(), limit=limit, before_id=before_id,
                              reader=reader)
    return CrisisPage(items=[crisis_public(session, row.id or 0, rt, reader) for row in rows],
                      next_cursor=cursor)


@router.post("/{crisis_id}/links", response_model=LinkResult, responses=ERRORS)
def link_complaints(crisis_id: CaseId, body: LinkRequest, session: SessionDep,
                    rt: RuntimeDep, caller: CrisisRunnerDep) -> LinkResult:
    """Link complaints to the crisis in bulk; linking one twice changes nothing."""
    view = _crisis_view(session, crisis_id, rt, caller)
    flt = crisis_links.LinkFilter(case_ids=tuple(body.case_ids), category=body.category,
                                  opened_from=body.opened_from, opened_to=body.opened_to,
                                  teams=caller.teams if caller.team_scoped else None,
                                  assignee=caller.name)
    policy = crisis.policy_of(rt.policies)
    now = rt.clock.now()
    result = crisis_links.link(session, view.case, flt, by=caller.name,
                               how="ids" if body.case_ids else "filter",
                               max_window=policy.link_window, now=now)
    asked = body.model_dump(mode="json", exclude_defaults=True)
    if len(body.case_ids) > TIMELINE_IDS:  # the timeline names the first ones, and counts
        asked.update(case_ids=asked["case_ids"][:TIMELINE_IDS], ids_given=len(body.case_ids))
    session.add(CaseEvent(case_id=crisis_id, type="complaints_linked", actor=caller.name,
                          actor_kind=caller.kind.value, at=now, details={**asked, **result}))
    session.commit()
    return LinkResult(**result)


@router.get("/{crisis_id}/compensation", response_model=CompensationPublic,
            responses=ERRORS)
def read_compensation(crisis_id: CaseId, session: SessionDep, rt: RuntimeDep,
                      reader: ReaderDep) -> CompensationPublic:
    """The compensation batch's progress: customers compensated of those affected."""
    _crisis_view(session, crisis_id, rt, reader)
    return CompensationPublic(**crisis_compensation.progress(session, crisis_id).as_dict())


def _crisis_view(session: SessionDep, crisis_id: int, rt: Runtime, reader: Identity) -> Any:
    view = get_case(session, crisis_id, rt, rt.clock.now(), reader)
    if view is None or view.case.process != crisis.NAME:
        raise CaseNotFound(crisis_id)
    return view


def crisis_public(session: SessionDep, crisis_id: int, rt: Runtime,
                  reader: Identity) -> CrisisPublic:
    """A crisis as `reader` may see it; not found outside their scope."""
    view = _crisis_view(session, crisis_id, rt, reader)
    data = view.case.data
    return CrisisPublic(
        id=crisis_id, stage=view.case.stage, title=data.get("title", view.case.subject),
        category=view.case.category, severity=data.get("severity"),
        likelihood=data.get("likelihood"), impact=data.get("impact"),
        matrix_severity=data.get("matrix_severity"), overrides=data.get("overrides", []),
        team=data.get("team"), notices=data.get("notices", []), spike=data.get("spike"),
        affected=crisis_links.totals(session, crisis_id),
        compensation=data.get("compensation"), review=data.get("review"),
        case=case_public(view, rt, reader))
