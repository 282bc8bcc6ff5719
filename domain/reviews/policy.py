"""Policy schema of the periodic reviews (`policies/reviews.yaml`): the one review registry.

Each review names what it computes, its cron and timezone, the period it covers and
which KPIs, when below their target, add a finding to the improvement backlog. The
embedded scheduler (`processes.reviews.schedule`) and the Prefect deployments in
`prefect.yaml` (`processes.reviews.deployments`) are both driven by this registry.

Cron expressions are limited to what APScheduler 3 and Prefect (croniter) read alike:
five fields; weekdays by name (APScheduler 3 counts 0 as Monday, cron as Sunday); and
not both day of month and day of week (cron ORs them, APScheduler ANDs them).
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from domain.durations import parse_duration
from domain.kpi_definitions import DEFINITIONS
from domain.policy_types import CountryCode, TimezoneName, placeholders

REVIEW_NAME = r"^[a-z][a-z0-9-]{1,58}[a-z0-9]$"  # a Prefect artifact key and deployment name
_DAY_NAMES = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _optional_duration(value: object) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return parse_duration(value)


class Computes(StrEnum):
    """What a review computes; each has one function in `processes.reviews.compute`."""

    sla_digest = "sla_digest"
    complaint_categories = "complaint_categories"
    satisfaction = "satisfaction"
    service_quality = "service_quality"
    skill_assessment_reminder = "skill_assessment_reminder"
    greetings = "greetings"


class PeriodKind(StrEnum):
    day = "day"
    week = "week"  # Monday to Monday
    month = "month"
    quarter = "quarter"


class Covers(StrEnum):
    """Which period a slot stands for: the one that just ended, or the one it falls in."""

    previous = "previous"
    current = "current"


class ReviewPolicy(_Strict):
    """One periodic review: when it runs, what it covers and what it computes."""

    computes: Computes
    title: str = Field(min_length=1, max_length=120)
    cron: str
    timezone: TimezoneName = "Asia/Shanghai"
    period: PeriodKind
    covers: Covers = Covers.previous
    findings: list[str] = Field(default_factory=list,
                                description="KPIs that add a finding when below target")
    catch_up_within: Annotated[timedelta | None, BeforeValidator(_optional_duration)] = Field(
        default=None, description="a slot missed by more than this is skipped, not run late")

    @field_validator("cron")
    @classmethod
    def _portable_cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("findings")
    @classmethod
    def _kpis_with_targets(cls, value: list[str]) -> list[str]:
        for name in value:
            definition = DEFINITIONS.get(name)
            if definition is None or definition.target is None:
                with_target = sorted(n for n, d in DEFINITIONS.items() if d.target is not None)
                raise ValueError(f"{name!r} is not a KPI with a target; known: {with_target}")
        return value


class Greeting(_Strict):
    """A greeting's text; `{name}` is the customer's name, `{holiday}` the holiday's."""

    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = placeholders(value) - {"name", "holiday"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {{name}}, "
                             "{holiday}")
        return value


class GreetingsPolicy(_Strict):
    """Birthday and holiday greetings (seed 001 §1.1.32), for customers who consented."""

    holidays: CountryCode = Field(default="CN", description="ISO country code; None: none")
    # The holidays package's language for holiday names; None: the service's language's.
    holiday_language: str | None = None
    birthday: Greeting = Greeting(subject="Happy birthday", body="Happy birthday, {name}!")
    holiday: Greeting = Greeting(subject="{holiday}", body="Best wishes for {holiday}, {name}!")
    customer_channels: dict[str, str] = Field(
        default_factory=dict, description="apprise URL templates by contact: email, phone")

    @field_validator("customer_channels")
    @classmethod
    def _channel_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for contact, template in value.items():
            if contact not in ("email", "phone"):
                raise ValueError(f"unknown contact {contact!r}; use email or phone")
            if placeholders(template) != {contact}:
                raise ValueError(f"the {contact} template must use {{{contact}}} and nothing "
                                 "else")
        return value


def review_name_problem(name: str) -> str | None:
    """Say why `name` cannot name a review (it becomes a deployment name and artifact key)."""
    if not re.match(REVIEW_NAME, name):
        return (f"review name {name!r} must be lowercase letters, digits and dashes, "
                "3 to 60 characters")
    return None


def cron_problem(expression: str) -> str | None:
    """Say why a cron expression would not mean the same to APScheduler and Prefect."""
    fields = expression.split()
    if len(fields) != 5:
        return f"cron {expression!r} needs 5 fields (minute hour day month weekday)"
    day_of_month, weekday = fields[2], fields[4]
    if weekday != "*":
        for part in re.split(r"[,-]", weekday.lower()):
            if part not in _DAY_NAMES:
                return (f"cron {expression!r}: name weekdays (mon..sun), not {part!r}: "
                        "APScheduler and cron number them differently")
    if day_of_month != "*" and weekday != "*":
        return (f"cron {expression!r}: restrict the day of month or the weekday, not both "
                "(cron ORs them, APScheduler ANDs them)")
    return None
