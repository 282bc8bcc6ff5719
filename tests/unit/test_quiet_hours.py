"""Quiet hours: a send time inside the window moves to its end, on local wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.quiet_hours import QuietHours, is_quiet, next_allowed
from tests.unit.builders import sh

NIGHT = QuietHours(start=time(21), end=time(9), timezone="Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_survey_due_at_22_00_goes_at_09_00_the_next_morning() -> None:
    assert next_allowed(sh(2026, 11, 21, 22, 0), NIGHT) == sh(2026, 11, 22, 9, 0)


@pytest.mark.parametrize(("due", "sent"), [
    (sh(2026, 11, 21, 20, 59, 59), sh(2026, 11, 21, 20, 59, 59)),  # just before: as due
    (sh(2026, 11, 21, 21, 0), sh(2026, 11, 22, 9, 0)),              # the start is quiet
    (sh(2026, 11, 21, 23, 59), sh(2026, 11, 22, 9, 0)),
    (sh(2026, 11, 22, 0, 0), sh(2026, 11, 22, 9, 0)),                # after midnight: same day
    (sh(2026, 11, 22, 8, 59, 59), sh(2026, 11, 22, 9, 0)),
    (sh(2026, 11, 22, 9, 0), sh(2026, 11, 22, 9, 0)),                # the end is not quiet
    (sh(2026, 12, 31, 22, 30), sh(2027, 1, 1, 9, 0)),                # into the new year
])
def test_the_window_wraps_midnight_in_shanghai(due: datetime, sent: datetime) -> None:
    assert next_allowed(due, NIGHT) == sent
    assert is_quiet(due, NIGHT) == (due != sent)


def test_a_moment_given_in_utc_is_judged_on_shanghai_time_and_stays_in_utc() -> None:
    due = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai (UTC+8, no DST)
    sent = next_allowed(due, NIGHT)
    assert sent == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert sent.tzinfo is UTC


def test_a_window_within_one_day() -> None:
    lunch = QuietHours(start=time(12), end=time(14), timezone="Asia/Shanghai")
    assert next_allowed(sh(2026, 11, 21, 12, 30), lunch) == sh(2026, 11, 21, 14, 0)
    assert next_allowed(sh(2026, 11, 21, 22, 0), lunch) == sh(2026, 11, 21, 22, 0)
    assert not is_quiet(sh(2026, 11, 21, 11, 59), lunch)


def test_the_end_stays_09_00_local_across_daylight_saving_changes() -> None:
    berlin = QuietHours(start=time(21), end=time(9), timezone="Europe/Berlin")
    # Autumn: the night of 24-25 October 2026 has 25 hours; 09:00 is 08:00 UTC after it.
    autumn = next_allowed(datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN), berlin)
    assert autumn.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 25, 9, 0)
    assert autumn.astimezone(UTC) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    # Spring: the night of 28-29 March 2026 has 23 hours; 09:00 is 07:00 UTC after it.
    spring = next_allowed(datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN), berlin)
    assert spring.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_no_window_means_any_time() -> None:
    assert next_allowed(sh(2026, 11, 21, 3, 0), None) == sh(2026, 11, 21, 3, 0)
    assert not is_quiet(sh(2026, 11, 21, 3, 0), None)


@pytest.mark.parametrize(("values", "problem"), [
    ({"start": "21:00", "end": "21:00"}, "start and end are equal"),
    ({"start": "21:00", "end": "09:00", "timezone": "Mars/Olympus"}, "unknown timezone"),
    ({"start": "25:00", "end": "09:00"}, "start"),
])
def test_a_bad_window_is_refused(values: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        QuietHours.model_validate(values)
