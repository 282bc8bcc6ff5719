"""Builders for the pure unit tests: moments in Shanghai, clocks, cases and policies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.policy_loader import build_calendars, load_policies
from domain.calendars import BusinessCalendar
from domain.clocks import Clock, start_clock
from domain.policy import PolicySet, Tier
from domain.process import CaseSnapshot

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"
SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICIES: PolicySet = load_policies(SHIPPED_POLICIES)
LADDER = list(POLICIES.complaint.escalation)


def sh(*args: int) -> datetime:
    """A moment in Shanghai local time: sh(2026, 11, 20, 17, 50)."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


TWENTY_MINUTES = timedelta(minutes=20)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def calendars(policies: PolicySet = POLICIES) -> dict[str, BusinessCalendar]:
    """Fresh calendars built from `policies` (nothing cached from an earlier test)."""
    return build_calendars(policies)


def working_hours() -> BusinessCalendar:
    """A fresh shipped "cn-working-hours" calendar."""
    return calendars()["cn-working-hours"]


def warmed(calendar: BusinessCalendar, years: range = range(2024, 2029)) -> BusinessCalendar:
    """Make the calendar load its holiday years up front (see the fresh-calendar tests)."""
    for year in years:
        calendar.is_working_day(date(year, 1, 1))
    return calendar


def policies_with(**complaint: Any) -> PolicySet:
    """The shipped policies with some `complaint` keys replaced (nested dicts merge)."""
    data = POLICIES.model_dump()
    for key, value in complaint.items():
        if isinstance(value, dict) and isinstance(data["complaint"].get(key), dict):
            data["complaint"][key] = {**data["complaint"][key], **value}
        else:
            data["complaint"][key] = value
    return PolicySet.model_validate(data)


def mixed_policies() -> PolicySet:
    """First response on 24x7, resolution on the working-hours calendar."""
    resolution = POLICIES.complaint.clocks["resolution"].model_dump()
    return policies_with(clocks={"resolution": {**resolution, "calendar": "cn-working-hours"}})


def clock(
    name: str = "first_response",
    *,
    calendar: str = "24x7",
    target: timedelta = TWENTY_MINUTES,
    started: datetime | None = None,
    **changes: Any,
) -> Clock:
    """A running clock (started Friday 2026-11-20 10:00 Shanghai unless told)."""
    made = start_clock(name=name, calendar=calendar, target=target,
                       now=started or sh(2026, 11, 20, 10, 0))
    return replace(made, **changes) if changes else made


def case(
    *,
    stage: str = "in_progress",
    priority: str = "ordinary",
    tier: Tier = Tier.B,
    team: str = "complaints",
    assignee: str | None = "li.wei",
    opened_at: datetime | None = None,
    clocks: dict[str, Clock] | None = None,
    **changes: Any,
) -> CaseSnapshot:
    """A complaint snapshot; clocks default to both shipped clocks, running since opening."""
    opened = opened_at or sh(2026, 11, 20, 10, 0)
    if clocks is None:
        clocks = {
            "first_response": clock("first_response", target=minutes(20), started=opened),
            "resolution": clock("resolution", target=hours(24), started=opened),
        }
    return CaseSnapshot(
        id=changes.pop("id", 7), process="complaint", stage=stage, priority=priority,
        tier=tier, team=team, assignee=assignee, opened_at=opened,
        stage_entered_at=changes.pop("stage_entered_at", opened), clocks=clocks, **changes,
    )
