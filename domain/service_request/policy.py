"""The service-request policy (`policies/service_request.yaml`): every number of the process.

Durations are ISO 8601. SLA clocks run on the calendar of the request's location, so a
store that closes at 21:00 does not use up a confirmation deadline overnight.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from domain.policy import Duration, EscalationStep, Strict
from domain.policy_types import placeholders
from domain.quiet_hours import QuietHours
from domain.service_request.handoffs import TransferPolicy
from domain.service_request.locations import LocationPolicy

if TYPE_CHECKING:
    from domain.policy import PolicySet

PLACEHOLDERS = {"location", "time", "service"}


class CustomerMessage(Strict):
    """A message to the customer; `{location}`, `{time}` (local) and `{service}` are filled."""

    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = placeholders(value) - PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use "
                             f"{sorted('{' + p + '}' for p in PLACEHOLDERS)}")
        return value


class BookingPolicy(Strict):
    """How far ahead slots are offered, and how many alternatives a refusal lists."""

    horizon: Duration = Field(description="the latest slot bookable, from now")
    alternatives: int = Field(default=3, ge=1, le=20)


class ServiceRequestPolicy(Strict):
    """Service requests across channels: book online, served at a location, or the reverse."""

    channels: list[str] = Field(min_length=1, description="where requests come from")
    services: list[str] = Field(min_length=1, description="what can be requested")
    confirm_within: Duration = Field(description="from the request to its acceptance")
    wait_within: Duration = Field(description="from check-in to the start of service")
    complete_within: Duration = Field(description="from the start of service to completion")
    reminders_before: list[Duration] = Field(description="before the appointment")
    no_show_after: Duration = Field(description="after the slot's start, without check-in")
    reschedule_offer_for: Duration = Field(description="a no-show's offer to reschedule")
    quiet_hours: QuietHours | None = None
    booking: BookingPolicy
    transfers: TransferPolicy
    escalation: list[EscalationStep] = Field(min_length=1)
    reminder: CustomerMessage
    reschedule_offer: CustomerMessage
    locations: dict[str, LocationPolicy] = Field(min_length=1)

    @field_validator("reminders_before")
    @classmethod
    def _distinct(cls, value: list[timedelta]) -> list[timedelta]:
        if len(set(value)) != len(value):
            raise ValueError("each reminder time once")
        return sorted(value, reverse=True)

    @model_validator(mode="after")
    def _ladder(self) -> ServiceRequestPolicy:
        percents = [step.at_percent for step in self.escalation]
        if percents != sorted(set(percents)):
            raise ValueError("escalation steps must have rising, distinct at_percent values")
        return self


def policy_problems(policies: PolicySet, path: Path) -> list[str]:
    """Locations must name known calendars and teams."""
    policy = policies.process_policy("service_request", ServiceRequestPolicy)
    problems: list[str] = []
    for name, location in policy.locations.items():
        where = f"{path}: service_request.locations.{name}"
        problems += policies.unknown("calendar", location.calendar, f"{where}.calendar")
        problems += policies.unknown("team", location.team, f"{where}.team")
    return problems
