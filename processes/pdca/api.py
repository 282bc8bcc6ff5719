"""PDCA improvement cycles: open one, read one, list them. Events go to POST /cases/{id}/events."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from api.auth import AUTH_ERRORS, Caller, CheckedFirst, ReaderDep
from api.cases import case_public
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import MAX_ID, CaseId, CasePublic, Model, Problem
from api.times import UtcDatetime, UtcJson
from api.whatif import CandidateRun, candidate_policies, run_problem
from core.cases import CaseNotFound, post_event
from core.queries import CaseFilter, get_case, list_cases, unreadable_cases
from domain.access import Identity, Permission
from domain.pdca import rules as pdca
from domain.policy import PolicySet
from domain.process import Event
from domain.whatif.report import PREDICTABLE_KPIS
from processes.pdca.cycles import CycleRequest, cycle_team, open_cycle, predicted_effect

router = APIRouter(prefix="/pdca-cycles", tags=["improvement"], route_class=CheckedFirst)
ImproverDep = Annotated[Identity, Depends(Caller(Permission.improve))]
Kpi = pdca.TargetableKpi
Stage = Literal["planning", "doing", "acting", "closed"]


class Scope(Model):
    team: str | None = Field(default=None, max_length=80)
    category: str | None = Field(default=None, max_length=80)
    channel: str | None = Field(default=None, max_length=40)
    priority: str | None = Field(default=None, max_length=20)
    tier: Literal["A", "B", "C", "VIP"] | None = None


class Links(Model):
    cases: list[CaseId] = Field(default_factory=list, max_length=500)
    findings: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list,
                                                                   max_length=100)
    review_runs: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list,
                                                                      max_length=100)


class CycleCreate(Model):
    problem: str = Field(min_length=1, max_length=2000,
                         examples=["Billing complaints miss their first response at lunch"])
    kpi: Kpi = Field(examples=["complaint_on_time_rate"])
    target: float = Field(ge=0, le=1, examples=[0.95], description="the share to reach")
    scope: Scope = Field(default_factory=Scope, description="which complaints the KPI covers")
    pilot_period: str | None = Field(default=None, max_length=20, examples=["P14D"],
                                     description="ISO 8601; the policy's default if omitted")
    team: str | None = Field(default=None, max_length=80, description="whose cycle it is; "
                             "the scope's team or the policy's default if omitted")
    owner: str | None = Field(default=None, max_length=120,
                              description="who runs it; the team's supervisor if omitted")
    links: Links = Field(default_factory=Links, description="what caused the cycle")


class FindingPromote(Model):
    """A cycle for a finding: each field left out comes from the finding."""

    problem: str | None = Field(default=None, min_length=1, max_length=2000,
                                description="the finding's title if omitted")
    kpi: Kpi | None = Field(default=None,
                            description="the finding's KPI if omitted")
    target: float | None = Field(default=None, ge=0, le=1,
                                 description="the KPI's own target if omitted")
    scope: Scope = Field(default_factory=Scope, description="the finding's team if omitted")
    pilot_period: str | None = Field(default=None, max_length=20, examples=["P14D"])


class CyclePublic(BaseModel):
    """A cycle: its plan, baseline, pilot and check, beside the case it is stored as."""

    id: int
    stage: Stage
    plan: UtcJson[dict[str, Any]] = Field(description="problem, kpi, target, scope, "
                                                      "pilot_period")
    baseline: UtcJson[dict[str, Any]] | None
    pilot_from: UtcDatetime | None
    pilot_to: UtcDatetime | None
    prediction: UtcJson[dict[str, Any]] | None = Field(
        description="the KPI a what-if replay predicted under candidate policies")
    measured: UtcJson[dict[str, Any]] | None
    verdict: Literal["met", "not_met", "inconclusive"] | None
    outcome: Literal["standardised", "revised", "abandoned"] | None
    parent_cycle: int | None
    follow_up_cycle: int | None
    links: dict[str, list[int]]
    case: CasePublic = Field(description="owner, team, stage clocks, timeline, allowed events")


class CyclePage(BaseModel):
    items: list[CyclePublic]
    next_cursor: int | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CyclePublic,
             responses={**AUTH_ERRORS, 422: {"model": Problem}})
def create_cycle(body: CycleCreate, session: SessionDep, rt: RuntimeDep,
                 caller: ImproverDep) -> CyclePublic | Response:
    """Plan a cycle: its baseline is measured from the case data now, and its plan clock starts."""
    scope = body.scope.model_dump(exclude_none=True)
    request = CycleRequest(
        plan={"problem": body.problem, "kpi": body.kpi, "target": body.target, "scope": scope,
              "pilot_period": body.pilot_period},
        team=body.team, owner=body.owner, links=body.links.model_dump())
    problem = scope_problem(caller, request, rt.policies)
    if problem:
        return field_error(*problem)
    unreadable = unreadable_cases(session, body.links.cases, caller)
    if unreadable:
        return field_error(["body", "links", "cases"], unreadable)
    case = open_cycle(session, request=request, actor=caller.name, actor_kind=caller.kind,
                      policies=rt.policies, calendars=rt.calendars, now=rt.clock.now())
    session.commit()
    assert case.id is not None
    return cycle_public(session, case.id, rt, caller)


@router.get("/{cycle_id}", response_model=CyclePublic, responses={**AUTH_ERRORS,
                                                                   404: {"model": Problem}})
def read_cycle(cycle_id: CaseId, session: SessionDep, rt: RuntimeDep,
               reader: ReaderDep) -> CyclePublic:
    """A cycle with its plan, baseline, pilot, check, outcome and links."""
    return cycle_public(session, cycle_id, rt, reader)


@router.get("", response_model=CyclePage, responses=AUTH_ERRORS)
def search_cycles(
    session: SessionDep, rt: RuntimeDep, reader: ReaderDep,
    stage: Stage | None = None,
    team: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> CyclePage:
    """The cycles in your scope, newest first."""
    rows, cursor = list_cases(session, CaseFilter(process=pdca.NAME, stage=stage, team=team),
                              now=rt.clock.now(), limit=limit, before_id=before_id,
                              reader=reader)
    return CyclePage(items=[cycle_public(session, row.id or 0, rt, reader) for row in rows],
                     next_cursor=cursor)


@router.post("/{cycle_id}/prediction", response_model=CyclePublic,
             responses={**AUTH_ERRORS, 404: {"model": Problem}, 409: {"model": Problem},
                        422: {"model": Problem}})
def predict(cycle_id: CaseId, body: CandidateRun, session: SessionDep, rt: RuntimeDep,
            caller: ImproverDep) -> CyclePublic | Response:
    """Attach a what-if run as the plan's predicted effect: the cycle's KPI over its scope's
    complaints of the period, replayed under the candidate policies. The check after the
    pilot shows it beside the measured figure."""
    if problem := run_problem(body):
        return problem
    cycle = cycle_public(session, cycle_id, rt, caller)
    kpi = str(cycle.plan["kpi"])
    if kpi not in PREDICTABLE_KPIS:
        return field_error(["path", "cycle_id"], f"the cycle's KPI {kpi!r} is not one a "
                           f"what-if predicts: {sorted(PREDICTABLE_KPIS)}")
    candidate = candidate_policies(body, rt)
    if isinstance(candidate, Response):
        return candidate
    now = rt.clock.now()
    prediction = predicted_effect(session, kpi=kpi, scope=cycle.plan.get("scope") or {},
                                  body=body, candidate=candidate, now=now)
    post_event(session, case_id=cycle_id,
               event=Event("predict", caller.name, {"prediction": {
                   **prediction, "requested_by": caller.name}}, by_system=True),
               policies=rt.policies, calendars=rt.calendars, now=now, identity=caller)
    return cycle_public(session, cycle_id, rt, caller)


def scope_problem(caller: Identity, request: CycleRequest, policies: PolicySet
                  ) -> tuple[list[str | int], str] | None:
    """Where a team-scoped caller's cycle would measure or belong outside their teams."""
    plan = pdca.check_plan(request.plan, policies)
    if not caller.team_scoped:
        return None
    mine = sorted(caller.teams)
    if plan["scope"].get("team") not in caller.teams:
        # Without a team, the KPI covers every team: figures a supervisor does not see.
        return ["body", "scope", "team"], f"name one of your teams {mine}"
    team = cycle_team(request, plan["scope"], policies)
    if team not in caller.teams:
        return ["body", "team"], f"the cycle would belong to team {team!r}; yours are {mine}"
    return None


def cycle_public(session: SessionDep, cycle_id: int, rt: RuntimeDep,
                 reader: Identity) -> CyclePublic:
    """A cycle as `reader` may see it; not found outside their scope."""
    view = get_case(session, cycle_id, rt, rt.clock.now(), reader)
    if view is None or view.case.process != pdca.NAME:
        raise CaseNotFound(cycle_id)
    data = view.case.data
    return CyclePublic(
        # A stored cycle's stage is one of its table's (and the model validates it).
        id=cycle_id, stage=cast(Stage, view.case.stage),
        plan={name: data.get(name) for name in pdca.PLAN_FIELDS},
        baseline=data.get("baseline"), pilot_from=data.get("pilot_from"),
        pilot_to=data.get("pilot_to"), prediction=data.get("prediction"),
        measured=data.get("measured"),
        verdict=data.get("verdict"), outcome=data.get("outcome"),
        parent_cycle=data.get("parent_cycle"), follow_up_cycle=data.get("follow_up_cycle"),
        links=data.get("links", {}), case=case_public(view, rt, reader))
