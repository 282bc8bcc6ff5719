"""`POST /reports/what-if`: a period's complaints replayed under candidate policies.

The replay runs in a process of the server's own (`core.whatif.ReplayWorkers`), one at a
time, a few more waiting their turn: a large period takes up to a minute of CPU, which in
a thread of the server would compete with every other request for the interpreter."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import AUTH_ERRORS, CheckedFirst
from api.deps import RuntimeDep
from api.errors import field_error
from api.schemas import Model, Problem
from api.times import UtcDatetime
from core.policy_loader import PolicyError, load_policy_texts, policy_file_names
from core.runtime import Runtime, message_settings
from core.whatif import Period, ReplaysBusy, ReplayWorkers, replayed_processes
from domain.access import Identity
from domain.policy import PolicySet
from domain.policy_types import zone_problem
from domain.whatif.report import as_json
from processes.reviews.access import ReportReaderDep, team_scope

router = APIRouter(prefix="/reports", tags=["reports"], route_class=CheckedFirst)
CHANGES_LISTED = 500  # changed cases in an answer; `changed_cases` counts them all
MAX_DAYS = 366
# One replay at a time a server process (a worker of `caseflow serve`), four waiting:
# each replay takes a core while it runs, and the server's requests need the others.
REPLAYS = ReplayWorkers(processes=1, waiting=4)
PolicyText = Annotated[str, Field(max_length=200_000)]


class CandidateRun(Model):
    """Candidate policies and the period whose complaints are replayed under them."""

    policies: dict[str, PolicyText] = Field(
        max_length=20,
        description="policy files' contents (YAML) by file name, e.g. {\"complaint.yaml\": "
                    "\"complaint: ...\"}; a file left out is the service's own. The set is "
                    "validated as at start-up; an error names the file and the field.",
        examples=[{"complaint.yaml": "complaint:\n  priorities: [urgent, ordinary]\n  ..."}])
    start: date = Field(alias="from", description="first day of the period, in `timezone`")
    end: date = Field(alias="to", description="last day of the period (included)")
    timezone: str = Field(default="Asia/Shanghai", max_length=60,
                          description="the zone the period's days are read in")


class WhatIfRequest(CandidateRun):
    """The candidate policies and the cases to replay under them."""

    teams: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        default_factory=list, max_length=50,
        description="only these teams' complaints; by default every team in your scope")


class ClockRatePublic(BaseModel):
    met: int
    decided: int
    undecided: int
    rate: float | None


class FiguresPublic(BaseModel):
    cases: int
    on_time: dict[str, ClockRatePublic]
    breaches: int = Field(description="clocks missed: breached, or running past due")
    rungs_by_level: dict[str, int]
    rungs_by_person: dict[str, int] = Field(description="rungs each person was told of")
    escalated: dict[str, int] = Field(description="cases that reached each level or above")
    unreplayable: int
    skipped_events: int = Field(description="recorded events the policies would not allow")


class ChangePublic(BaseModel):
    case_id: int
    differences: dict[str, Any] = Field(description="each field that differs: "
                                                    "[recorded, candidate]")


class WhatIfPublic(BaseModel):
    """Recorded beside candidate figures, and the complaints whose outcome changes."""

    policy_version: str = Field(description="the candidate policy set's version")
    period_start: UtcDatetime = Field(description="the first day's start, in UTC")
    period_end: UtcDatetime = Field(description="the last day's end, in UTC")
    timezone: str = Field(description="the zone the period's days were read in")
    as_of: UtcDatetime = Field(description="the moment both sides are judged at: now")
    teams: list[str] | None
    replayed: list[str] = Field(description="the processes whose cases were replayed")
    not_replayed: list[str] = Field(
        description="the processes whose cases were not replayed: their candidate policies "
                    "were validated with the rest but change nothing here")
    recorded: FiguresPublic
    candidate: FiguresPublic
    changed_cases: int
    changes: list[ChangePublic] = Field(description=f"the first {CHANGES_LISTED}, by case id")


@router.post("/what-if", response_model=WhatIfPublic,
             responses={**AUTH_ERRORS, 422: {"model": Problem},
                        503: {"model": Problem, "description": "too many replays at once; "
                                                               "try again later"}})
def post_what_if(body: WhatIfRequest, rt: RuntimeDep, reader: ReportReaderDep
                 ) -> WhatIfPublic | JSONResponse:
    """Replay the complaints opened in the period (your teams', if a supervisor) under the
    candidate policies; nothing is written to the cases."""
    if problem := _request_problem(body, reader):
        return problem
    files = candidate_files(body, rt)
    candidate = candidate_policies(body, rt, files)
    if isinstance(candidate, JSONResponse):
        return candidate
    unknown = sorted(set(body.teams) - set(candidate.teams))
    if unknown:
        return field_error(["body", "teams"], f"unknown team(s) {unknown}")
    scope = team_scope(reader)
    teams = frozenset(body.teams) if body.teams else scope
    period = Period.of_days(body.start, body.end, body.timezone, teams)
    now = rt.clock.now()
    try:
        report = REPLAYS.run(rt.engine, period, candidate=files, as_of=now)
    except ReplaysBusy as exc:
        return JSONResponse(status_code=503, headers={"Retry-After": "30"},
                            content={"detail": f"{exc}; try again later"})
    processes = replayed_processes()
    return WhatIfPublic(policy_version=candidate.version,
                        period_start=period.start, period_end=period.end,
                        timezone=body.timezone, as_of=now,
                        teams=sorted(teams) if teams is not None else None,
                        replayed=processes["replayed"],
                        not_replayed=processes["not_replayed"],
                        **as_json(report, changes_limit=CHANGES_LISTED))


def candidate_files(body: CandidateRun, rt: Runtime) -> dict[str, str]:
    """The candidate's policy files: those posted over the service's own."""
    files = {name: path.read_text(encoding="utf-8") for name in policy_file_names()
             if (path := rt.settings.policies / name).is_file()}
    return {**files, **body.policies}


def candidate_policies(body: CandidateRun, rt: Runtime, files: dict[str, str] | None = None
                       ) -> PolicySet | JSONResponse:
    """The candidate policy set: its files (`candidate_files`), validated as at start-up;
    or the 422 naming each file and field that is wrong."""
    try:
        return load_policy_texts(files if files is not None else candidate_files(body, rt),
                                 **message_settings(rt.settings))
    except PolicyError as exc:
        return JSONResponse(status_code=422, content={"detail": policy_problems(exc)})


def run_problem(body: CandidateRun) -> JSONResponse | None:
    """What is wrong with a run's period or files, as a 422 naming the field."""
    if problem := zone_problem(body.timezone):
        return field_error(["body", "timezone"], problem)
    if body.end < body.start:
        return field_error(["body", "to"], "the period ends before it starts")
    if (body.end - body.start).days >= MAX_DAYS:
        return field_error(["body", "to"], f"a period of at most {MAX_DAYS} days")
    known = policy_file_names()
    for name in body.policies:
        if name not in known:
            return field_error(["body", "policies", name], f"not a policy file; the files "
                                                            f"are {known}")
    return None


def _request_problem(body: WhatIfRequest, reader: Identity) -> JSONResponse | None:
    if problem := run_problem(body):
        return problem
    scope = team_scope(reader)
    outside = sorted(set(body.teams) - scope) if scope is not None else []
    if outside:
        return field_error(["body", "teams"], f"not in your scope: {outside}")
    return None


def policy_problems(exc: PolicyError) -> list[dict[str, Any]]:
    """A policy error's lines as 422 details, each located at the file it names."""
    lines = [line.strip() for line in str(exc).splitlines()]
    found = [line for line in lines if line and line != "invalid policy:"]
    details = []
    for line in found:
        file, _, reason = line.partition(": ")
        details.append({"loc": ["body", "policies", file], "msg": reason or line,
                        "type": "policy_error"})
    return details
