"""Reports: stored review runs rendered as tables, and the trend of complaints opened,
their on-time rate and CSAT by day, week or month, with its chart (openable with the
session)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC
from string import Formatter
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.console.web import Visit, VisitDep, render
from domain.access import Permission
from domain.reviews.policy import PeriodKind
from domain.reviews.reports import ReportView, report_view, scoped_result
from domain.reviews.wording import period
from engine.models import ReviewRun
from processes.reviews.access import team_scope
from processes.reviews.trend_chart import ChartWords, render_svg
from processes.reviews.trends import MAX_BUCKETS, TrendPoint, trend

router = APIRouter()
RUNS_SHOWN = 20
BUCKETS = {"day": (PeriodKind.day, 30, "%m-%d"), "week": (PeriodKind.week, 12, "%m-%d"),
           "month": (PeriodKind.month, 12, "%Y-%m")}


def _zone_name(visit: Visit) -> str:
    return getattr(visit.zone, "key", "Asia/Shanghai")


def _trend(visit: Visit, bucket: str, team: str | None
           ) -> tuple[list[TrendPoint], list[str] | None]:
    kind, count, _ = BUCKETS[bucket]
    scope = team_scope(visit.identity)
    teams = ([team] if team and (scope is None or team in scope)
             else sorted(scope) if scope is not None else None)
    with Session(visit.rt.engine) as session:
        points = trend(session, now=visit.rt.clock.now(), kind=kind,
                       count=min(count, MAX_BUCKETS), timezone=_zone_name(visit), teams=teams)
    return points, teams


def _runs(visit: Visit, run_id: int | None) -> dict[str, Any]:
    with Session(visit.rt.engine) as session:
        runs = list(session.exec(select(ReviewRun).order_by(col(ReviewRun.id).desc())
                                 .limit(RUNS_SHOWN)))
        chosen = next((r for r in runs if r.id == run_id), runs[0] if runs else None)
        if run_id is not None and chosen is not None and chosen.id != run_id:
            chosen = session.get(ReviewRun, run_id) or chosen
        report = (_report(visit, scoped_result(chosen.result, team_scope(visit.identity)))
                  if chosen is not None and chosen.result else None)
    return {"runs": runs, "chosen": chosen, "report": report,
            "labels": {r.id: _label(visit, r) for r in [*runs, *([chosen] if chosen else [])]}}


def _report(visit: Visit, result: dict[str, Any]) -> ReportView:
    """The run in the visitor's language, worded as the published report is: the
    service's wording overall, each team's its own."""
    policies = visit.rt.policies
    return report_view(result, visit.words.language, policies.messages,
                       policies.staff_messages)


def _label(visit: Visit, run: ReviewRun) -> str:
    """A run as the picker names it: its review's title and its period as people say it,
    `每日 SLA 摘要 · 2026年12月5日` (the review's key if its policy is gone)."""
    found = visit.rt.policies.reviews.get(run.review)
    if found is None:
        return f"{run.review} · {visit.words.time(run.period_start, visit.zone)[:10]}"
    zone = ZoneInfo(found.timezone)
    start, end = (moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(zone)
                  for moment in (run.period_start, run.period_end))
    language = visit.words.language
    return (f"{visit.rt.policies.messages.translated(language, found.title)} · "
            f"{period(language, start, end)}")


def _bucket(value: str | None) -> str:
    return value if value in BUCKETS else "day"


@router.get("/reports")
async def reports_page(request: Request, visit: VisitDep, bucket: str | None = None,
                       run: int | None = None, team: str | None = None) -> Response:
    if not visit.can(Permission.read_reports):
        return render(visit, request, "reports.html", status=403, allowed=False,
                      problem=visit.words("Your role does not read reports."))
    chosen = _bucket(bucket)
    # One trip to a worker thread for both: on a busy machine each trip waits its turn.
    (points, teams), runs = await run_in_threadpool(
        lambda: (_trend(visit, chosen, team), _runs(visit, run)))
    return render(visit, request, "reports.html", allowed=True, bucket=chosen, points=points,
                  teams=teams, team=team, zone=visit.zone, buckets=list(BUCKETS), **runs)


@router.get("/reports/trends.svg")
async def trends_chart(visit: VisitDep, bucket: str | None = None,
                       team: str | None = None) -> Response:
    """The trend chart for the signed-in person (the API's asks for a bearer token)."""
    if not visit.can(Permission.read_reports):
        return Response(status_code=403)
    chosen = _bucket(bucket)
    points, teams = await run_in_threadpool(_trend, visit, chosen, team)
    scope = ", ".join(teams) if teams else visit.words("all teams")
    title = visit.words("Complaints opened, on-time rate and CSAT per {bucket} ({scope})",
                        bucket=visit.words(chosen), scope=scope)
    return Response(render_svg(points, title=title, label_format=BUCKETS[chosen][2],
                               words=_chart_words(visit)),
                    media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _chart_words(visit: Visit) -> ChartWords:
    """The chart's texts in the visitor's language, their {placeholders} left for the
    chart to fill."""
    english = ChartWords()

    def translated(text: str) -> str:
        kept = {name: f"{{{name}}}" for _, name, _, _ in Formatter().parse(text) if name}
        return visit.words(text, **kept)
    return ChartWords(**{field.name: translated(getattr(english, field.name))
                         for field in fields(ChartWords)})
