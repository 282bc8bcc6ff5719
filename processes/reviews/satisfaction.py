"""The reviews' satisfaction figures: the monthly satisfaction review's tables and summary,
and the customer-satisfaction indicator of the quarterly evaluation (seed 001 §1.1.19).

Rows are plain JSON, like every review table: a KPI row per figure (value, basis), and
a breakdown row per team, agent, category or channel with all the figures side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from core.kpis_satisfaction import (
    SurveyDimension,
    SurveyFilter,
    satisfaction,
    satisfaction_breakdown,
)
from domain.kpi_definitions import NPS, Average, Satisfaction
from domain.messages import MessageContext
from domain.reviews.model import Period, rate_row
from domain.reviews.wording import Counted, Name, Number, Percent, said

if TYPE_CHECKING:
    from processes.reviews.compute import ReviewContext, ReviewOutput


def survey_filter(period: Period, team: str | None = None) -> SurveyFilter:
    """Select the surveys sent in the period (of one team, if given)."""
    return SurveyFilter(sent_from=period.start, sent_to=period.end, team=team)


def _mean_row(average: Average) -> dict[str, Any]:
    return {"kpi": average.kpi, "unit": "score", "value": average.value,
            "basis": f"n={average.count}", "numerator": None, "denominator": None,
            "target": None, "meets_target": None}


def counted(count: int, noun: str) -> str:
    """`1 detractor`, `2 detractors`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def kpi_rows(figures: Satisfaction) -> list[dict[str, Any]]:
    """One row per satisfaction KPI: response rate, CSAT, share satisfied, NPS, dimensions."""
    nps = figures.nps
    return [rate_row(figures.response_rate), _mean_row(figures.csat),
            rate_row(figures.satisfied),
            {"kpi": NPS.name, "unit": "nps", "value": nps.value,
             "basis": f"{counted(nps.promoters, 'promoter')}, "
                      f"{counted(nps.passives, 'passive')}, "
                      f"{counted(nps.detractors, 'detractor')}",
             "numerator": None, "denominator": None,
             "target": None, "meets_target": None, "promoters": nps.promoters,
             "passives": nps.passives, "detractors": nps.detractors},
            *(_mean_row(average) for average in figures.dimensions.values())]


def _side_by_side(key: str | None, by: SurveyDimension, figures: Satisfaction
                  ) -> dict[str, Any]:
    return {by.value: key, "sent": figures.response_rate.denominator,
            "answered": figures.response_rate.numerator,
            "response_rate": figures.response_rate.value, "csat_average": figures.csat.value,
            "csat_satisfied_share": figures.satisfied.value, "nps": figures.nps.value,
            **{average.kpi: average.value for average in figures.dimensions.values()}}


def breakdown_rows(session: Session, flt: SurveyFilter, by: SurveyDimension
                   ) -> list[dict[str, Any]]:
    """The figures per value of `by`, one row each."""
    return [_side_by_side(key, by, figures)
            for key, figures in satisfaction_breakdown(session, flt, by)]


def summary(m: MessageContext, figures: Satisfaction) -> list[str]:
    """Say what the figures are, in sentences in the staff's languages; never a score
    without answers behind it."""
    sent, answered = figures.response_rate.denominator, figures.response_rate.numerator
    if not sent:
        return [said(m, "No satisfaction surveys were sent in this period.")]
    lines = [said(m, "{sent} sent, {answered} answered: response rate {rate}.",
                  sent=Counted(sent, "{n} survey", "{n} surveys"), answered=answered,
                  rate=Percent(figures.response_rate.value, 0))]
    if figures.csat.count:
        lines.append(said(m, "Average CSAT {csat} of 5 (n={n}); {satisfied} satisfied (CSAT 4 "
                          "or 5).", csat=Number(figures.csat.value), n=figures.csat.count,
                          satisfied=Percent(figures.satisfied.value, 0)))
    if figures.nps.count:
        nps = figures.nps
        lines.append(said(m, "NPS {nps} ({promoters}, {detractors} of {n}).",
                          nps=Number(nps.value, 0, signed=True), n=nps.count,
                          promoters=Counted(nps.promoters, "{n} promoter", "{n} promoters"),
                          detractors=Counted(nps.detractors, "{n} detractor",
                                             "{n} detractors")))
    rated = [(a.kpi.removesuffix("_average"), a.value) for a in figures.dimensions.values()
             if a.value is not None]
    if rated:
        lines.append(m.staff(lambda language: m.text(
            language, "Dimensions (of 5): {rated}.", rated=m.text(language, ", ").join(
                f"{Name('dimension', name).said(m, language)} "
                f"{Number(value).said(m, language)}" for name, value in rated)), "\n"))
    return lines


def satisfaction_sections(ctx: ReviewContext, out: ReviewOutput) -> Satisfaction:
    """Fill `out` with the period's satisfaction, overall and per team; return the totals."""
    figures = satisfaction(ctx.session, survey_filter(ctx.period))
    out.summary += summary(ctx.messages, figures)
    out.tables["kpis"] = kpi_rows(figures)
    for by in SurveyDimension:
        out.tables[f"by_{by.value}"] = breakdown_rows(ctx.session, survey_filter(ctx.period),
                                                      by)
    for team in ctx.teams():
        flt = survey_filter(ctx.period, team)
        team_figures = satisfaction(ctx.session, flt)
        out.teams[team] = {"summary": summary(ctx.team_messages(team), team_figures),
                           "tables": {
            "kpis": kpi_rows(team_figures),
            **{f"by_{by.value}": breakdown_rows(ctx.session, flt, by)
               for by in SurveyDimension if by is not SurveyDimension.team}}}
    out.extra["survey_data"] = figures.response_rate.denominator > 0
    return figures
