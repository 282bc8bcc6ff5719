"""Answers of the supervisors' worklists: team overviews, workload, facets, SLA rows."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import CaseRow, CaseSummary, NextRungPublic, SlaSummaryPublic
from api.times import IsoDuration, UtcDatetime
from core.worklists import CaseRate, Facets, PersonLoad, QueueRow, SlaSummary, TeamOverview


class CaseRatePublic(BaseModel):
    """Complaints on time out of those decided: both counts are cases, not clocks."""

    value: float | None = Field(description="on_time / decided; None when none is decided")
    on_time: int = Field(description="complaints with no missed clock")
    decided: int = Field(description="complaints with at least one decided clock")
    target: float


class TeamOverviewPublic(BaseModel):
    team: str
    timezone: str = Field(description="where the team's day starts (breached today)")
    open: int
    at_risk: int = Field(description="open cases with a clock due within the horizon, "
                                     "not yet breached")
    breached_today: int = Field(description="cases with a clock breached since the team's "
                                            "local midnight")
    on_time_today: CaseRatePublic = Field(description="complaints opened today")
    on_time_week: CaseRatePublic = Field(description="complaints opened this week (Monday on)")


class OverviewPublic(BaseModel):
    now: UtcDatetime
    horizon: IsoDuration
    teams: list[TeamOverviewPublic]


class PersonLoadPublic(BaseModel):
    assignee: str | None = Field(description="None: the open cases nobody is assigned")
    open: int
    at_risk: int = Field(description="open cases with a clock past its warning, not yet due")
    breached: int = Field(description="open cases with a running clock past due")
    oldest_case_id: int
    oldest_opened_at: UtcDatetime


class FacetCount(BaseModel):
    value: str | None
    count: int


class FacetsPublic(BaseModel):
    """How many cases the filters select, and per value of each dimension (most first)."""

    total: int
    team: list[FacetCount]
    assignee: list[FacetCount]
    process: list[FacetCount]
    priority: list[FacetCount]
    stage: list[FacetCount]


def rate_public(rate: CaseRate, target: float) -> CaseRatePublic:
    return CaseRatePublic(value=rate.rate, on_time=rate.on_time, decided=rate.decided,
                          target=target)


def overview_public(team: TeamOverview) -> TeamOverviewPublic:
    return TeamOverviewPublic(
        team=team.team, timezone=team.timezone, open=team.open, at_risk=team.at_risk,
        breached_today=team.breached_today,
        on_time_today=rate_public(team.on_time_today, team.target),
        on_time_week=rate_public(team.on_time_week, team.target))


def load_public(load: PersonLoad) -> PersonLoadPublic:
    return PersonLoadPublic(assignee=load.assignee, open=load.open, at_risk=load.at_risk,
                            breached=load.breached, oldest_case_id=load.oldest_case_id,
                            oldest_opened_at=load.oldest_opened_at)


def facets_public(facets: Facets) -> FacetsPublic:
    return FacetsPublic(total=facets.total, **{
        name: [FacetCount(value=value, count=count)
               for value, count in getattr(facets, name).items()]
        for name in ("team", "assignee", "process", "priority", "stage")})


def sla_public(sla: SlaSummary | None) -> SlaSummaryPublic | None:
    if sla is None:
        return None
    rung = sla.next_rung
    return SlaSummaryPublic(
        clock=sla.clock, due_at=sla.due_at, time_left=sla.time_left,
        overdue_by=sla.overdue_by, breached=sla.breached, paused=sla.paused,
        escalation_level=sla.escalation_level,
        next_rung=NextRungPublic(name=rung.name, level=rung.level, at=rung.at,
                                 notify=rung.notify, reaches=rung.reaches) if rung else None)


def row_public(row: QueueRow) -> CaseRow:
    summary = {name: getattr(row.case, name) for name in CaseSummary.model_fields}
    return CaseRow(**summary, sla=sla_public(row.sla))
