"""Periodic reviews and the improvement backlog: periods, statuses and finding decisions.

A review runs at a cron *slot* and covers one *period* in its timezone: the day, week
(Monday to Monday), month or quarter that just ended (`previous`), or the one the slot
falls in (`current`). A run is unique per (review, period start), so a period is never
reviewed twice, and a review missed over several slots runs once, for the latest.

Findings (the improvement backlog):

| status    | how it gets there                              | next                    |
|-----------|------------------------------------------------|-------------------------|
| open      | a review finds a KPI below target; added by hand | dismissed or promoted |
| dismissed | a supervisor dismisses it, with a reason       | (final)                 |
| promoted  | promoted to a PDCA cycle (issue 4, item 2)     | (final)                 |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from domain.kpi_definitions import DEFINITIONS, Rate
from domain.messages import EN, MessageContext
from domain.reviews.policy import Covers, PeriodKind
from domain.reviews.wording import Name, Percent
from domain.reviews.wording import period as period_days


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Trigger(StrEnum):
    schedule = "schedule"
    manual = "manual"


class FindingSource(StrEnum):
    review = "review"
    crisis_review = "crisis_review"
    satisfaction = "satisfaction"
    manual = "manual"


class FindingStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    promoted = "promoted"


class FindingClosed(Exception):
    """Only an open finding can be dismissed or promoted (HTTP 409)."""

    def __init__(self, finding_id: int, status: str, action: str) -> None:
        super().__init__(f"finding {finding_id} is {status}; only an open finding can be "
                         f"{action}")
        self.finding_id, self.status = finding_id, status


def check_open(finding_id: int, status: str, action: str) -> None:
    """Refuse to dismiss or promote a finding that is not open any more."""
    if status != FindingStatus.open:
        raise FindingClosed(finding_id, status, action)


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the timezone its boundaries were drawn in."""

    start: datetime
    end: datetime
    timezone: str

    def as_json(self) -> dict[str, str]:
        """Give the period in its own timezone, as ISO 8601 text."""
        zone = ZoneInfo(self.timezone)
        return {"start": self.start.astimezone(zone).isoformat(),
                "end": self.end.astimezone(zone).isoformat(), "timezone": self.timezone}


def floor_period(local: datetime, kind: PeriodKind) -> datetime:
    """Return the start of the `kind` period that naive local time `local` falls in."""
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind is PeriodKind.day:
        return day
    if kind is PeriodKind.week:
        return day - timedelta(days=day.weekday())
    if kind is PeriodKind.month:
        return day.replace(day=1)
    return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)


def shift_period(start: datetime, kind: PeriodKind, count: int) -> datetime:
    """Move a period start by `count` periods, in wall-clock terms (DST-proof)."""
    if kind is PeriodKind.day:
        return start + timedelta(days=count)
    if kind is PeriodKind.week:
        return start + timedelta(weeks=count)
    months = count * (3 if kind is PeriodKind.quarter else 1)
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def period_for(slot: datetime, kind: PeriodKind, covers: Covers, timezone: str) -> Period:
    """Return the period a review run at `slot` covers."""
    zone = ZoneInfo(timezone)
    # Naive local arithmetic, then localise: a day is 00:00 to 00:00 even across DST.
    local = slot.astimezone(zone).replace(tzinfo=None)
    start = floor_period(local, kind)
    if covers is Covers.previous:
        start = shift_period(start, kind, -1)
    end = shift_period(start, kind, 1)
    return Period(start.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")),
                  end.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")), timezone)


@dataclass(frozen=True)
class FindingSpec:
    """A finding a review run adds: one per KPI below target, never twice for a run."""

    kpi: str
    title: str
    description: str
    figures: Mapping[str, Any]
    case_ids: tuple[int, ...] = ()


def rate_row(rate: Rate, *, label: str | None = None) -> dict[str, Any]:
    """Turn a KPI rate into a table row: value, basis, target and verdict."""
    return {"kpi": label or rate.kpi, "unit": "ratio", "value": rate.value,
            "basis": f"{rate.numerator}/{rate.denominator}", "numerator": rate.numerator,
            "denominator": rate.denominator, "target": rate.target,
            "meets_target": rate.meets_target}


def below_target(rates: Mapping[str, Rate], watched: list[str], period: Period,
                 review_title: str, *, case_ids: tuple[int, ...] = (),
                 by_team: Mapping[str, Rate] | None = None,
                 messages: MessageContext | None = None) -> list[FindingSpec]:
    """Decide the findings: one per watched KPI that misses its target (none without data),
    titled and described in the staff's languages (their own first) when `messages` is
    given, in English otherwise."""
    m = messages or MessageContext(language=EN)
    found = []
    for kpi in watched:
        rate = rates.get(kpi)
        if rate is None or rate.meets_target is not False:
            continue
        figures: dict[str, Any] = {
            "value": rate.value, "numerator": rate.numerator, "denominator": rate.denominator,
            "target": rate.target, "period": period.as_json()}
        if by_team:
            figures["by_team"] = {team: {"value": r.value, "numerator": r.numerator,
                                         "denominator": r.denominator}
                                  for team, r in by_team.items()}
        title, description = _finding_text(m, kpi, rate, review_title, period)
        found.append(FindingSpec(
            kpi=kpi, title=title, description=description,
            figures=figures, case_ids=case_ids))
    return found


def _finding_text(m: MessageContext, kpi: str, rate: Rate, review_title: str,
                  period: Period) -> tuple[str, str]:
    zone = ZoneInfo(period.timezone)
    start, end = period.start.astimezone(zone), period.end.astimezone(zone)
    title = m.staff(lambda language: m.text(
        language, "{kpi} {value} below target {target}",
        kpi=Name("kpi", kpi).said(m, language), value=Percent(rate.value).said(m, language),
        target=Percent(rate.target).said(m, language)), " / ")
    description = m.staff(lambda language: m.text(
        language, "{review}, {period}: {met} of {counted} met.",
        review=m.translated(language, review_title), period=period_days(language, start, end),
        met=rate.numerator, counted=rate.denominator), "\n")
    meaning = m.staff(lambda language: m.translated(language, DEFINITIONS[kpi].description),
                      "\n")
    return title, f"{description}\n{meaning}"


# A scheduled run that failed (a locked database, a lost connection) is tried again on
# its own, a little later each time, up to this many attempts; then it waits for a person.
SCHEDULED_ATTEMPTS = 3
RETRY_PAUSE = timedelta(minutes=5)


# Publishing a run's artifacts that fails is tried again after 5, 10, 20 and 40 minutes,
# then left (the run says why): a rule the Prefect API refuses would refuse every try.
PUBLISH_ATTEMPTS = 5


def next_publish_at(attempts: int, now: datetime) -> datetime | None:
    """When to try publishing again after `attempts` failed tries; None: give up."""
    if attempts >= PUBLISH_ATTEMPTS:
        return None
    return now + RETRY_PAUSE * 2 ** (attempts - 1)


def retry_due(status: str, attempts: int, finished_at: datetime | None, now: datetime) -> bool:
    """Whether a failed scheduled run's next automatic try is due."""
    return (status == RunStatus.failed and attempts < SCHEDULED_ATTEMPTS
            and finished_at is not None and finished_at <= now - RETRY_PAUSE * attempts)
