"""Quiet hours: when no message may reach a customer, and the next moment one may.

The window is wall-clock time in its own timezone and may wrap midnight (21:00-09:00)
or not (12:00-14:00); its start is quiet, its end is not. A send time that falls in
the window is postponed to the window's end, never dropped. Arithmetic is done on
local dates, so a window ends at 09:00 local time even on a day a DST change makes 23
or 25 hours long. An end that falls in a DST gap resolves the way zoneinfo reads a
non-existent time (fold=0): the gap's length later.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, model_validator

from domain.policy_types import TimezoneName


class QuietHours(BaseModel):
    """A daily window of wall-clock time in `timezone` when customers are left alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time
    timezone: TimezoneName = "Asia/Shanghai"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal; omit quiet_hours for none")
        return self


def is_quiet(moment: datetime, quiet: QuietHours | None) -> bool:
    """Whether `moment` falls in the quiet window."""
    if quiet is None:
        return False
    local = moment.astimezone(ZoneInfo(quiet.timezone)).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def next_allowed(moment: datetime, quiet: QuietHours | None) -> datetime:
    """Return `moment` if a message may go then, else the end of its quiet window."""
    if not is_quiet(moment, quiet):
        return moment
    assert quiet is not None
    zone = ZoneInfo(quiet.timezone)
    local = moment.astimezone(zone)
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)  # 22:00 is quiet until 09:00 the next morning
    return datetime.combine(day, quiet.end, tzinfo=zone).astimezone(moment.tzinfo)
