"""Satisfaction KPIs over the surveys: response rate, CSAT, share satisfied, NPS, dimensions.

What each figure means is in `domain.kpi_definitions`. The population is the surveys
*sent* in a period (`SurveyFilter`); their answers count whenever they came, through
the link or on a return-visit call, so a response rate compares like with like. Every
figure comes from one aggregate query (counts and sums; means are taken in Python from
exact integers, the same on SQLite and PostgreSQL), and a breakdown is the same query
grouped, so a total and its breakdown never disagree. Team, category and channel are
the followed case's (copied onto the follow-up); agent is who handled that case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from domain.kpi_definitions import (
    CSAT_AVERAGE,
    CSAT_SATISFIED,
    DETRACTOR_AT_MOST,
    DIMENSION_AVERAGES,
    PROMOTER_AT_LEAST,
    SATISFIED_AT_LEAST,
    SURVEY_RESPONSE_RATE,
    Average,
    NetPromoter,
    Rate,
    Satisfaction,
)
from engine.models import Case, Survey, SurveyAnswer


class SurveyDimension(StrEnum):
    """What satisfaction can be grouped by."""

    team = "team"
    agent = "agent"  # who handled the case the survey followed
    category = "category"
    channel = "channel"  # the case's channel (phone, web...), not the survey's


@dataclass(frozen=True)
class SurveyFilter:
    """Which surveys count: sent in [sent_from, sent_to), and equal fields."""

    sent_from: datetime | None = None
    sent_to: datetime | None = None
    team: str | None = None
    agent: str | None = None
    category: str | None = None
    channel: str | None = None
    tier: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE conditions on surveys joined with their follow-up cases."""
        found: list[ColumnElement[bool]] = []
        for dimension in SurveyDimension:
            value = getattr(self, dimension.value)
            if value is not None:
                found.append(_column(dimension) == value)
        if self.tier is not None:
            found.append(col(Case.tier) == self.tier)
        if self.sent_from is not None:
            found.append(col(Survey.issued_at) >= self.sent_from)
        if self.sent_to is not None:
            found.append(col(Survey.issued_at) < self.sent_to)
        return found


def _column(dimension: SurveyDimension) -> Any:
    if dimension is SurveyDimension.agent:
        return col(Survey.agent)
    return col(getattr(Case, dimension.value))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    # A comparison with NULL (no answer, or no NPS given) is not true: counted 0.
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _scored(column: Any) -> list[ColumnElement[Any]]:
    return [func.count(column), func.coalesce(func.sum(column), 0)]


def _figures() -> list[ColumnElement[Any]]:
    """The aggregate columns every figure is computed from, in `_satisfaction`'s order."""
    csat, nps = col(SurveyAnswer.csat), col(SurveyAnswer.nps)
    columns = [func.count(col(Survey.id)), func.count(col(SurveyAnswer.id)), *_scored(csat),
               _count_if(csat >= SATISFIED_AT_LEAST), func.count(nps),
               _count_if(nps >= PROMOTER_AT_LEAST), _count_if(nps <= DETRACTOR_AT_MOST)]
    for name in DIMENSION_AVERAGES:
        columns += _scored(col(getattr(SurveyAnswer, name)))
    return columns


def _satisfaction(row: Any) -> Satisfaction:
    sent, answered, csat_n, csat_sum, satisfied, nps_n, promoters, detractors, *dims = (
        int(value) for value in row)
    return Satisfaction(
        response_rate=Rate(SURVEY_RESPONSE_RATE.name, answered, sent),
        csat=Average(CSAT_AVERAGE.name, csat_n, csat_sum),
        satisfied=Rate(CSAT_SATISFIED.name, satisfied, csat_n),
        nps=NetPromoter(promoters, nps_n - promoters - detractors, detractors),
        dimensions={name: Average(definition.name, dims[2 * i], dims[2 * i + 1])
                    for i, (name, definition) in enumerate(DIMENSION_AVERAGES.items())})


def surveys_query(columns: list[Any], flt: SurveyFilter) -> Any:
    """Select `columns` over the surveys `flt` selects, joined with their follow-up case
    (for its team, category...) and their answer, if any."""
    return (select(*columns).select_from(Survey)
            .join(Case, col(Case.id) == col(Survey.followup_case_id))
            .outerjoin(SurveyAnswer, col(SurveyAnswer.survey_id) == col(Survey.id))
            .where(*flt.conditions()))


def satisfaction(session: Session, flt: SurveyFilter) -> Satisfaction:
    """Measure every satisfaction KPI over the surveys the filter selects."""
    return _satisfaction(session.exec(surveys_query(_figures(), flt)).one())


def satisfaction_breakdown(session: Session, flt: SurveyFilter, by: SurveyDimension
                           ) -> list[tuple[str | None, Satisfaction]]:
    """Group every satisfaction KPI by one dimension, ordered by it, unset values last."""
    group = _column(by)
    query = surveys_query([group, *_figures()], flt).group_by(group).order_by(
        group.is_(None), group)
    return [(key, _satisfaction(rest)) for key, *rest in session.exec(query)]
