"""What each periodic review computes: one function per `Computes` value.

A computation reads the store at the run's `now`, returns the run's result (summary
lines and tables, overall and per team), the findings to add and the notifications to
queue. It writes nothing itself: `processes.reviews.runs` stores all of it in one transaction.
The care reviews (reminders and greetings) are in `processes.reviews.care`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core.kpis import KpiFilter
from core.kpis_satisfaction import satisfaction as satisfaction_figures
from domain.kpi_definitions import ON_TIME, Rate
from domain.messages import MessageContext
from domain.policy import PolicySet
from domain.reviews.model import FindingSpec, Period, below_target
from domain.reviews.policy import ReviewPolicy
from domain.reviews.wording import Counted, Name, Number, Percent, said
from engine.models import OutboxMessage
from processes.reviews.figures import (
    digest_counts,
    digest_lists,
    handoffs_table,
    kpi_table,
    missed_case_ids,
    pareto_table,
    recurrence,
)
from processes.reviews.satisfaction import kpi_rows, satisfaction_sections, summary, survey_filter


@dataclass(frozen=True)
class ReviewContext:
    """What a computation may read: the store, the policies, the period and the time."""

    session: Session
    policies: PolicySet
    name: str
    review: ReviewPolicy
    period: Period
    now: datetime
    run_id: int

    @property
    def zone(self) -> ZoneInfo:
        """The review's timezone."""
        return ZoneInfo(self.review.timezone)

    def kpi_filter(self, team: str | None = None) -> KpiFilter:
        """Select the complaints opened in the period (of one team, if given)."""
        return KpiFilter(opened_from=self.period.start, opened_to=self.period.end, team=team)

    def teams(self) -> list[str]:
        """List the policies' teams, sorted."""
        return sorted(self.policies.teams)

    @property
    def messages(self) -> MessageContext:
        """How the whole report is written: in the service's language, English beside."""
        return self.policies.messages

    def team_messages(self, team: str) -> MessageContext:
        """How a team's section is written: in the team's language, the other beside."""
        return self.policies.staff_messages(team)


@dataclass
class ReviewOutput:
    """A run's result, the findings it adds and the notifications it queues."""

    summary: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    findings: list[FindingSpec] = field(default_factory=list)
    messages: list[OutboxMessage] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """Give the JSON the run stores: summary, tables, teams and any extras."""
        return {"summary": self.summary, "tables": self.tables, "teams": self.teams,
                **self.extra}


def _on_time(m: MessageContext, rate: Rate) -> str:
    return said(m, "Complaint on-time rate {rate} ({met}/{counted}), target {target}.",
                rate=Percent(rate.value), met=rate.numerator, counted=rate.denominator,
                target=Percent(ON_TIME.target, 0))


def _kpi_sections(ctx: ReviewContext, out: ReviewOutput) -> dict[str, Rate]:
    """Put the KPI table overall and per team into `out`; add findings; return the rates."""
    rows, rates = kpi_table(ctx.session, ctx.kpi_filter(), ctx.now)
    out.tables["kpis"] = rows
    team_rates: dict[str, Rate] = {}
    for team in ctx.teams():
        team_rows, by_kpi = kpi_table(ctx.session, ctx.kpi_filter(team), ctx.now)
        team_rates[team] = by_kpi[ON_TIME.name]
        out.teams.setdefault(team, {"summary": [], "tables": {}})["tables"]["kpis"] = team_rows
        out.teams[team]["summary"].append(_on_time(ctx.team_messages(team),
                                                   by_kpi[ON_TIME.name]))
    out.summary.append(_on_time(ctx.messages, rates[ON_TIME.name]))
    if ctx.review.findings:
        missed = tuple(missed_case_ids(ctx.session, ctx.kpi_filter(), ctx.now))
        out.findings = below_target(rates, ctx.review.findings, ctx.period, ctx.review.title,
                                    case_ids=missed, by_team=team_rates, messages=ctx.messages)
    return rates


class _Window(TypedDict):
    start: datetime
    end: datetime
    now: datetime


def sla_digest(ctx: ReviewContext) -> ReviewOutput:
    """Report yesterday's breaches and what is at risk now, per team."""
    out = ReviewOutput()
    window = _Window(start=ctx.period.start, end=ctx.period.end, now=ctx.now)
    counts = digest_counts(ctx.session, **window)
    teams = sorted(set(ctx.teams()) | set(counts))
    zero = {"breached_in_period": 0, "at_risk_now": 0, "overdue_now": 0}
    out.tables["teams"] = [{"team": t, **zero, **counts.get(t, {})} for t in teams]
    out.tables.update(digest_lists(ctx.session, zone=ctx.zone, **window))
    for team in teams:
        figures = {**zero, **counts.get(team, {})}
        out.teams[team] = {
            "summary": [said(ctx.team_messages(team), "{breached} breached in the period, "
                             "{at_risk} at risk now, {overdue} overdue on open cases.",
                             breached=_clocks(figures["breached_in_period"]),
                             at_risk=figures["at_risk_now"], overdue=figures["overdue_now"])],
            "tables": digest_lists(ctx.session, zone=ctx.zone, team=team, **window)}
    total = {key: sum(row[key] for row in out.tables["teams"]) for key in zero}
    out.summary.append(said(ctx.messages, "{breached} breached in the period; {at_risk} at "
                            "risk and {overdue} overdue now.",
                            breached=_clocks(total["breached_in_period"]),
                            at_risk=total["at_risk_now"], overdue=total["overdue_now"]))
    return out


def _clocks(count: int) -> Counted:
    return Counted(count, "{n} clock", "{n} clocks")


def complaint_categories(ctx: ReviewContext) -> ReviewOutput:
    """Report the period's Pareto of categories, repeat complaints and the KPIs."""
    out = ReviewOutput()
    out.tables["pareto"] = pareto_table(ctx.session, ctx.kpi_filter())
    out.tables["recurrence"], summary = recurrence(ctx.session, ctx.kpi_filter())
    out.extra["recurrence"] = summary
    top = out.tables["pareto"][0] if out.tables["pareto"] else None
    m = ctx.messages
    opened = Counted(summary["cases"], "{n} complaint", "{n} complaints")
    if top:
        out.summary.append(said(
            m, "{opened} opened in the period; the most frequent category is {category} "
            "with {cases} ({share}).", opened=opened, cases=top["cases"],
            category=Name("category", top["category"]), share=Percent(top["share"], 0)))
    else:
        out.summary.append(said(m, "{opened} opened in the period.", opened=opened))
    out.summary.append(said(
        m, "{repeats} from {customers}: the same customer, the same category, again within "
        "the period.",
        repeats=Counted(summary["repeat_cases"], "{n} repeat complaint", "{n} repeat complaints"),
        customers=Counted(summary["recurring_customers"], "{n} customer", "{n} customers")))
    # Needless transfers (seed 003) are the other recurring cost a weekly review looks at;
    # a period without service requests has no such table.
    handoffs = handoffs_table(ctx.session, ctx.kpi_filter())
    if handoffs[0]["denominator"]:
        out.tables["handoffs"] = handoffs
        out.summary.append(said(
            m, "{handoffs} over {requests} opened in the period ({per} per request).",
            handoffs=Counted(handoffs[0]["numerator"], "{n} hand-off", "{n} hand-offs"),
            requests=Counted(handoffs[0]["denominator"], "{n} service request",
                             "{n} service requests"),
            per=Number(handoffs[0]["value"])))
    for team in ctx.teams():
        rows, team_summary = recurrence(ctx.session, ctx.kpi_filter(team))
        section = out.teams.setdefault(team, {"summary": [], "tables": {}})
        section["tables"]["pareto"] = pareto_table(ctx.session, ctx.kpi_filter(team))
        section["tables"]["recurrence"] = rows
        team_handoffs = handoffs_table(ctx.session, ctx.kpi_filter(team))
        if team_handoffs[0]["denominator"]:
            section["tables"]["handoffs"] = team_handoffs
        section["recurrence"] = team_summary
    _kpi_sections(ctx, out)
    return out


def satisfaction(ctx: ReviewContext) -> ReviewOutput:
    """Report the month's satisfaction: response rate, CSAT, NPS, dimensions, breakdowns."""
    out = ReviewOutput()
    satisfaction_sections(ctx, out)
    return out


# Seed 001 §1.1.19's indicators and the KPIs that measure them here.
INDICATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("customer satisfaction (§1.1.19(1))", ("csat_average", "csat_satisfied_share", "nps",
                                            "survey_response_rate")),
    ("response speed (§1.1.19(2))", ("first_response_time_avg", "first_response_time_p90",
                                     "complaint_on_time_rate.first_response")),
    ("resolution rate (§1.1.19(3))", ("resolution_rate",)),
    ("process compliance (§1.1.19(4))", ("complaint_on_time_rate", "reopen_rate",
                                         "escalation_rate_l1")),
)


def service_quality(ctx: ReviewContext) -> ReviewOutput:
    """Evaluate seed 001 §1.1.19's indicators over the quarter against their targets."""
    out = ReviewOutput()
    _kpi_sections(ctx, out)
    figures = satisfaction_figures(ctx.session, survey_filter(ctx.period))
    out.summary += summary(ctx.messages, figures)
    out.extra["survey_data"] = figures.response_rate.denominator > 0
    by_name = {row["kpi"]: row for row in [*out.tables["kpis"], *kpi_rows(figures)]}
    indicators = []
    for indicator, kpis in INDICATORS:
        for kpi in kpis:
            row = by_name[kpi]
            indicators.append({"indicator": indicator, "kpi": kpi, "value": row["value"],
                               "basis": row["basis"], "target": row["target"],
                               "meets_target": row["meets_target"]})
    out.tables = {"indicators": indicators, **out.tables}
    return out
