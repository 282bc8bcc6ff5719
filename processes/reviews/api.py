"""Reports: the review registry, review runs and their results, trends as JSON and SVG;
and the scheduler's manual trigger of a review."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlmodel import col, select

from api.auth import AUTH_ERRORS, CheckedFirst
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import MAX_ID, Problem
from core.queries import newest_first
from domain.access import Identity
from domain.policy_types import zone_problem
from domain.reviews.model import RunStatus, Trigger
from domain.reviews.policy import PeriodKind
from domain.reviews.reports import scoped_result
from engine.models import ReviewRun
from processes.reviews.access import ReportReaderDep, SchedulerDep, team_scope
from processes.reviews.runs import ReportNotFound, ReviewNotFound, run_due_review
from processes.reviews.schedule import next_slot
from processes.reviews.schemas import (
    AveragePoint,
    RatePoint,
    ReviewPublic,
    ReviewRunPublic,
    ReviewRunSummary,
    RunPage,
    TrendPointPublic,
    TrendPublic,
    TriggerAnswer,
)
from processes.reviews.trend_chart import render_svg
from processes.reviews.trends import MAX_BUCKETS, TrendPoint, trend

router = APIRouter(prefix="/reports", tags=["reports"])
reviews_router = APIRouter(prefix="/reviews", tags=["reports"], route_class=CheckedFirst)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such review or run"}}
ReviewName = Annotated[str, Path(min_length=1, max_length=60)]


@router.get("/reviews", response_model=list[ReviewPublic], responses=AUTH_ERRORS)
def list_reviews(rt: RuntimeDep, _: ReportReaderDep) -> list[ReviewPublic]:
    """The periodic reviews: what each computes, when it runs and what it covers."""
    now = rt.clock.now()
    return [ReviewPublic(
        name=name, title=r.title, computes=r.computes, cron=r.cron, timezone=r.timezone,
        period=r.period, covers=r.covers, findings=list(r.findings),
        catch_up_within=r.catch_up_within,
        next_slot=next_slot(r, now)) for name, r in rt.policies.reviews.items()]


@router.get("/runs", response_model=RunPage, responses={**AUTH_ERRORS, 422: {"model": Problem}})
def list_runs(
    session: SessionDep,
    _: ReportReaderDep,
    review: Annotated[str | None, Query(max_length=60)] = None,
    status: Literal["running", "succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> RunPage:
    """Review runs, newest first (without their results); follow `next_cursor` for more."""
    query = select(ReviewRun)
    if review is not None:
        query = query.where(ReviewRun.review == review)
    if status is not None:
        query = query.where(ReviewRun.status == status)
    page, cursor = newest_first(session, query, col(ReviewRun.id), limit=limit,
                                before_id=before_id)
    return RunPage(items=[ReviewRunSummary.model_validate(r, from_attributes=True)
                          for r in page], next_cursor=cursor)


def _public_run(run: ReviewRun, reader: Identity) -> ReviewRunPublic:
    summary = ReviewRunSummary.model_validate(run, from_attributes=True).model_dump()
    return ReviewRunPublic(**summary, result=scoped_result(run.result, team_scope(reader)))


@router.get("/runs/{run_id}", response_model=ReviewRunPublic,
            responses={**AUTH_ERRORS, **NOT_FOUND})
def read_run(run_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep,
             reader: ReportReaderDep) -> ReviewRunPublic:
    """One review run with its result; supervisors see their teams' sections."""
    run = session.get(ReviewRun, run_id)
    if run is None:
        raise ReportNotFound(f"review run {run_id} not found")
    return _public_run(run, reader)


@router.get("/reviews/{review}/latest", response_model=ReviewRunPublic,
            responses={**AUTH_ERRORS, **NOT_FOUND})
def latest_run(review: ReviewName, session: SessionDep, rt: RuntimeDep,
               reader: ReportReaderDep) -> ReviewRunPublic:
    """The latest period's succeeded run of a review."""
    if review not in rt.policies.reviews:
        raise ReviewNotFound(review)
    run = session.exec(select(ReviewRun).where(
        ReviewRun.review == review, ReviewRun.status == RunStatus.succeeded)
        .order_by(col(ReviewRun.period_start).desc()).limit(1)).first()
    if run is None:
        raise ReportNotFound(f"review {review!r} has no succeeded run yet")
    return _public_run(run, reader)


def _trend(session: SessionDep, rt: RuntimeDep, reader: Identity, bucket: str, count: int,
           team: str | None, timezone: str) -> tuple[list[TrendPoint], list[str] | None]:
    scope = team_scope(reader)
    if team is not None and scope is not None and team not in scope:
        raise ReportNotFound(f"team {team!r} not found in your scope")
    teams = [team] if team is not None else (sorted(scope) if scope is not None else None)
    points = trend(session, now=rt.clock.now(), kind=PeriodKind(bucket), count=count,
                   timezone=timezone, teams=teams)
    return points, teams


Bucket = Annotated[Literal["day", "week", "month"], Query(description="bucket size")]
LABELS = {"day": "%m-%d", "week": "%m-%d", "month": "%Y-%m"}  # a bucket's label on the chart
Count = Annotated[int, Query(ge=1, le=MAX_BUCKETS,
                             description="buckets, oldest first, up to the current one")]
TeamQuery = Annotated[str | None, Query(max_length=80, description="one of your teams")]
Zone = Annotated[str, Query(max_length=60, description="draws the buckets' boundaries")]


@router.get("/trends", response_model=TrendPublic,
            responses={**AUTH_ERRORS, **NOT_FOUND, 422: {"model": Problem}})
def trends(session: SessionDep, rt: RuntimeDep, reader: ReportReaderDep,
           bucket: Bucket = "day", count: Count = 30, team: TeamQuery = None,
           timezone: Zone = "Asia/Shanghai",
           ) -> TrendPublic | Response:
    """Complaints opened, the on-time rate and CSAT per day, week or month (your teams,
    if a supervisor): the on-time rate over clocks as the KPI counts and over
    complaints; CSAT over the surveys sent in each bucket."""
    if problem := zone_problem(timezone):
        return field_error(["query", "timezone"], problem)
    points, teams = _trend(session, rt, reader, bucket, count, team, timezone)
    return TrendPublic(bucket=bucket, timezone=timezone, teams=teams, points=[TrendPointPublic(
        start=p.start, end=p.end, opened=p.opened,
        on_time=RatePoint(value=p.on_time.value, numerator=p.on_time.numerator,
                          denominator=p.on_time.denominator, target=p.on_time.target),
        complaints_on_time=RatePoint(
            value=p.complaints_on_time.rate, numerator=p.complaints_on_time.on_time,
            denominator=p.complaints_on_time.decided, target=p.on_time.target),
        csat=AveragePoint(value=p.csat.value, count=p.csat.count, total=p.csat.total))
        for p in points])


@router.get("/trends.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}},
                             "description": "the chart"},
                       **AUTH_ERRORS, **NOT_FOUND, 422: {"model": Problem}})
def trends_chart(session: SessionDep, rt: RuntimeDep, reader: ReportReaderDep,
                 bucket: Bucket = "day", count: Count = 30, team: TeamQuery = None,
                 timezone: Zone = "Asia/Shanghai",
                 ) -> Response:
    """The trend as an SVG chart: bars of complaints opened, a line of the share of
    complaints on time (of those decided), a line of the mean CSAT."""
    if problem := zone_problem(timezone):
        return field_error(["query", "timezone"], problem)
    points, teams = _trend(session, rt, reader, bucket, count, team, timezone)
    scope = ", ".join(teams) if teams else "all teams"
    title = f"Complaints opened, on-time rate and CSAT per {bucket} ({scope})"
    return Response(render_svg(points, title=title, label_format=LABELS[bucket]),
                    media_type="image/svg+xml")


@reviews_router.post("/{review}/runs", status_code=status.HTTP_201_CREATED,
                     response_model=TriggerAnswer,
                     responses={200: {"model": TriggerAnswer, "description": "the period's "
                                      "run already existed"},
                                **AUTH_ERRORS, **NOT_FOUND,
                                409: {"model": Problem, "description": "nothing due yet"}})
def trigger_review(review: ReviewName, response: Response, rt: RuntimeDep,
                   _: SchedulerDep) -> TriggerAnswer | Response:
    """Run a review now for its latest due period; a period is never run twice.

    A failed run of that period is retried. Its Prefect artifacts follow from the next
    scheduler tick (Prefect is never on the request path).
    """
    outcome = run_due_review(rt, review, trigger=Trigger.manual)
    if outcome.run is None:
        return Response(status_code=409, media_type="application/json",
                        content=Problem(detail=outcome.skipped).model_dump_json())
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/reports/runs/{outcome.run.id}"
    return TriggerAnswer(created=outcome.created,
                         run=ReviewRunSummary.model_validate(outcome.run, from_attributes=True))

