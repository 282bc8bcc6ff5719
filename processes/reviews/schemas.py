"""Request and response models of the findings, reviews and reports endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas import MAX_ID, Model
from api.times import IsoDuration, UtcDatetime, UtcJson

FindingStatusName = Literal["open", "dismissed", "promoted"]
FindingSourceName = Literal["review", "crisis_review", "satisfaction", "manual"]


class FindingCreate(Model):
    title: str = Field(min_length=1, max_length=300,
                       examples=["Refund complaints wait long for a first answer"])
    description: str = Field(default="", max_length=5000)
    kpi: str | None = Field(default=None, max_length=60, examples=["complaint_on_time_rate"])
    team: str | None = Field(default=None, max_length=80,
                             description="one of a supervisor's teams, or left out: "
                                         "the whole service")
    case_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list,
                                                                   max_length=100)
    figures: dict[str, Any] = Field(default_factory=dict, description="numbers you saw")

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class FindingDismiss(Model):
    reason: str = Field(min_length=1, max_length=2000, examples=["a one-off outage, fixed"])

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a dismissal needs a reason")
        return value.strip()


class FindingPublic(BaseModel):
    id: int
    source: str
    status: str
    title: str
    description: str
    kpi: str | None
    figures: UtcJson[dict[str, Any]]
    team: str | None
    review_run_id: int | None
    case_ids: list[int]
    created_at: UtcDatetime
    created_by: str
    dismissed_at: UtcDatetime | None
    dismissed_by: str | None
    dismiss_reason: str | None
    promoted_at: UtcDatetime | None
    pdca_cycle_id: int | None


class FindingPage(BaseModel):
    items: list[FindingPublic]
    next_cursor: int | None = Field(description="pass as `before_id` for the next page")


class ReviewRunSummary(BaseModel):
    id: int
    review: str
    computes: str
    period_start: UtcDatetime
    period_end: UtcDatetime
    slot_at: UtcDatetime = Field(description="the cron slot this run stands for")
    trigger: str
    status: Literal["running", "succeeded", "failed"]
    attempts: int
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    published_at: UtcDatetime | None = Field(description="when its Prefect artifacts were made")
    error: str | None
    published_artifacts: list[str] = Field(description="keys of the artifacts written so far")
    publish_attempts: int = Field(description="failed tries to publish (at most 5, then "
                                              "none until the cause is fixed)")
    publish_error: str | None = Field(description="why the last try to publish failed")
    publish_after: UtcDatetime | None = Field(description="the next try to publish; null once "
                                                       "published or given up")


class ReviewRunPublic(ReviewRunSummary):
    result: UtcJson[dict[str, Any]] = Field(description="summary and tables, overall and per team; "
                                               "supervisors see their teams' sections only")


class RunPage(BaseModel):
    items: list[ReviewRunSummary]
    next_cursor: int | None = Field(description="pass as `before_id` for the next page")


class TriggerAnswer(BaseModel):
    created: bool = Field(description="false: the period had its run already")
    run: ReviewRunSummary


class ReviewPublic(BaseModel):
    name: str
    title: str
    computes: str
    cron: str
    timezone: str
    period: str
    covers: str
    findings: list[str]
    catch_up_within: IsoDuration | None
    next_slot: UtcDatetime | None


class RatePoint(BaseModel):
    value: float | None
    numerator: int
    denominator: int
    target: float | None


class AveragePoint(BaseModel):
    value: float | None = Field(description="the mean; None without any score")
    count: int = Field(description="how many scores")
    total: int = Field(description="their sum")


class TrendPointPublic(BaseModel):
    start: UtcDatetime
    end: UtcDatetime
    opened: int = Field(description="complaints opened in the bucket")
    on_time: RatePoint = Field(description="over their first-response and resolution "
                                           "clocks, as the KPI (a review) counts")
    complaints_on_time: RatePoint = Field(description=(
        "over the complaints themselves: numerator those on time (no clock missed), "
        "denominator those decided (a clock met or missed)"))
    csat: AveragePoint = Field(description="mean CSAT (1 to 5) of the answers to the "
                                           "surveys sent in the bucket")


class TrendPublic(BaseModel):
    bucket: Literal["day", "week", "month"]
    timezone: str
    teams: list[str] | None = Field(description="None: every team")
    points: list[TrendPointPublic]
