"""The crisis policy (`policies/crisis.yaml`): severity matrix, obligations per severity,
notice channels and templates, spike detection and compensation.

Severity comes from a likelihood x impact matrix (seed 002 §7.1: 風險概率與影響程度);
each severity sets how soon the emergency team must be assembled, how soon the first
public notice must go out (none for a severity without one) and how often a status
update is due until the crisis is resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from domain.policy import Duration, EscalationStep, Role, Strict
from domain.policy_types import placeholders

if TYPE_CHECKING:
    from domain.policy import PolicySet

SEVERITIES = ("S1", "S2", "S3", "S4")
CHANNELS = ("website", "cs_script", "social_media", "internal")
COMPENSATION_KINDS = ("coupon", "points", "free_service")
# What a notice template may say; the values come from the crisis when it is drafted.
NOTICE_FIELDS = frozenset({"title", "severity", "category", "summary", "crisis_id",
                           "next_update"})


class SeverityTargets(Strict):
    """The timed obligations of one severity."""

    team_within: Duration = Field(description="from confirmation to the team assembled")
    first_notice_within: Duration | None = Field(
        default=None, description="from confirmation to the first public notice; "
                                  "omit for a severity with no public notice")
    update_every: Duration = Field(description="a status update is due this long after "
                                               "confirmation and after each update")


class NoticeTemplate(Strict):
    """How a notice on one channel is drafted, and where it is published."""

    public: bool = Field(description="a public notice meets the first-notice obligation")
    notify: list[str] = Field(default_factory=list,
                              description="apprise URLs; none: the notice is logged only")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = placeholders(value) - NOTICE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use "
                             f"{sorted('{' + f + '}' for f in NOTICE_FIELDS)}")
        return value


class SpikePolicy(Strict):
    """N complaints in one category within a window raise one crisis candidate."""

    count: int = Field(ge=2, le=100_000)
    window: Duration
    categories: list[str] = Field(default_factory=list,
                                  description="watched categories; empty: every category")
    notify: list[Role] = Field(min_length=1, description="who hears of the candidate")


class CompensationPolicy(Strict):
    """The compensation batch: what may be given, how much at once, what customers read."""

    kinds: list[str] = Field(min_length=1)
    max_value: float = Field(gt=0, description="per customer, in the kind's own unit")
    chunk_size: int = Field(default=500, ge=1, le=10_000,
                            description="customers per transaction of the batch")
    notify_customers: bool = True
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(COMPENSATION_KINDS)
        if unknown:
            raise ValueError(f"unknown kind(s) {sorted(unknown)}; known: "
                             f"{list(COMPENSATION_KINDS)}")
        return value

    @field_validator("subject", "body")
    @classmethod
    def _message_placeholders(cls, value: str) -> str:
        unknown = placeholders(value) - {"name", "title", "kind", "value"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {{name}}, "
                             "{title}, {kind}, {value}")
        return value


class CrisisPolicy(Strict):
    """Crisis response (seed 002 §7.3, §7.1; seed 004 应急处理团队)."""

    default_team: str = Field(description="whose crisis, when its category routes nowhere")
    calendar: str = Field(description="the calendar of the team, notice and update clocks")
    triage_within: Duration = Field(description="a candidate is confirmed or dismissed by")
    likelihood: list[str] = Field(min_length=2, description="least likely first")
    impact: list[str] = Field(min_length=2, description="least severe first")
    matrix: dict[str, dict[str, str]] = Field(description="likelihood -> impact -> severity")
    severities: dict[str, SeverityTargets]
    review_within: Duration = Field(description="post-crisis review due, from resolution")
    review_calendar: str
    escalation: list[EscalationStep] = Field(min_length=1)
    channels: dict[str, NoticeTemplate]
    spike: SpikePolicy
    compensation: CompensationPolicy
    link_window: Duration = Field(description="how far back a bulk link by filter may reach")

    @model_validator(mode="after")
    def _check(self) -> CrisisPolicy:
        if set(self.severities) != set(SEVERITIES):
            raise ValueError(f"severities must name exactly {list(SEVERITIES)}")
        if set(self.matrix) != set(self.likelihood):
            raise ValueError(f"matrix must have one row per likelihood {self.likelihood}")
        for row, cells in self.matrix.items():
            if set(cells) != set(self.impact):
                raise ValueError(f"matrix.{row} must have one cell per impact {self.impact}")
            bad = {cell for cell in cells.values() if cell not in SEVERITIES}
            if bad:
                raise ValueError(f"matrix.{row}: unknown severity {sorted(bad)}")
        unknown = set(self.channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"channels: unknown channel(s) {sorted(unknown)}; known: "
                             f"{list(CHANNELS)}")
        if not any(c.public for c in self.channels.values()):
            raise ValueError("channels: at least one channel must be public")
        percents = [step.at_percent for step in self.escalation]
        if percents != sorted(set(percents)):
            raise ValueError("escalation steps must have rising, distinct at_percent values")
        return self

    def severity(self, likelihood: str, impact: str) -> str:
        """The matrix's severity for a likelihood and an impact."""
        return self.matrix[likelihood][impact]

    def targets(self, severity: str) -> SeverityTargets:
        return self.severities[severity]


def policy_problems(policies: PolicySet, path: Path) -> list[str]:
    """References to calendars and teams that must exist, naming the file and field."""
    policy = policies.process_policy("crisis", CrisisPolicy)
    problems: list[str] = []
    for field_name in ("calendar", "review_calendar"):
        problems += policies.unknown("calendar", getattr(policy, field_name),
                                     f"{path}: crisis.{field_name}")
    return problems + policies.unknown("team", policy.default_team,
                                       f"{path}: crisis.default_team")
