"""ISO 8601 durations as written in the policy files."""

from __future__ import annotations

import random
from datetime import timedelta

import isodate
import pytest

from domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("PT20M", timedelta(minutes=20)),
    ("PT10M", timedelta(minutes=10)),
    ("PT2H", timedelta(hours=2)),
    ("PT24H", timedelta(hours=24)),
    ("P3D", timedelta(days=3)),
    ("P1W", timedelta(days=7)),
    ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
    ("PT1.5H", timedelta(minutes=90)),
    ("PT45S", timedelta(seconds=45)),
])
def test_valid_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "P2M3D"])
def test_months_and_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="years or months"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["PT0S", "P0D", "PT0M"])
def test_zero_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize("text", [
    "20 minutes", "garbage", "", "P", "20", "pt20m", "-PT5M", "PT-5M", None, 20, 1.5,
])
def test_garbage_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["PT20M", "P3D", "PT2H", "P1DT2H"])
def test_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_durations_are_formatted_as_isodate_formats_them() -> None:
    """Our formatter is a faster copy of `isodate.duration_isoformat`: same text."""
    rng = random.Random(7)
    samples = [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=500_000),
               timedelta(days=1), timedelta(hours=24, seconds=1), timedelta(minutes=20),
               timedelta(days=400, hours=3, minutes=4, seconds=5, microseconds=60)]
    samples += [timedelta(microseconds=rng.randrange(-10**13, 10**13)) for _ in range(2000)]
    samples += [timedelta(seconds=rng.randrange(-10**7, 10**7)) for _ in range(2000)]
    for value in samples:
        assert format_duration(value) == isodate.duration_isoformat(value), value
