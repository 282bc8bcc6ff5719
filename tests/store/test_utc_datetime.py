"""Aware datetimes are stored as SQLAlchemy's SQLite text, and read back aware in UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from engine.models import UtcDateTime

SHANGHAI = timezone(timedelta(hours=8))
DIALECT = sqlite.dialect()


@pytest.mark.parametrize("moment", [
    datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=SHANGHAI),
    datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI),  # no microseconds: still six digits
    datetime(1, 1, 1, 8, 0, tzinfo=SHANGHAI),
])
def test_the_text_is_sqlalchemys_own_and_reads_back_as_the_same_moment(moment):
    """Stored text is compared and ordered in SQL: it must match what SQLAlchemy writes."""
    ours = UtcDateTime().dialect_impl(DIALECT)
    text = ours.bind_processor(DIALECT)(moment)
    theirs = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)(
        moment.astimezone(UTC).replace(tzinfo=None))
    assert text == theirs
    back = ours.result_processor(DIALECT, None)(text)
    assert back == moment and back.tzinfo is UTC


def test_none_stays_none_and_a_naive_datetime_is_refused():
    ours = UtcDateTime().dialect_impl(DIALECT)
    assert ours.bind_processor(DIALECT)(None) is None
    assert ours.result_processor(DIALECT, None)(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        ours.bind_processor(DIALECT)(datetime(2026, 11, 20, 10, 0))


def test_each_value_gets_its_own_text_when_one_value_comes_again_and_again():
    """The processor keeps the last value's text: a value repeated, another between, an
    equal moment in another zone, a naive one after an aware one all come out right."""
    process = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
    later = datetime(2026, 11, 20, 11, 30, 5, 7, tzinfo=SHANGHAI)
    same_moment_in_utc = now.astimezone(UTC)
    texts = [process(value) for value in (now, now, later, now, None, now,
                                          same_moment_in_utc, later)]
    assert texts == ["2026-11-20 02:00:00.000000"] * 2 + ["2026-11-20 03:30:05.000007"] + \
        ["2026-11-20 02:00:00.000000", None] + ["2026-11-20 02:00:00.000000"] * 2 + \
        ["2026-11-20 03:30:05.000007"]
    with pytest.raises(ValueError, match="timezone-aware"):
        process(now.replace(tzinfo=None))


@pytest.mark.parametrize(("stored", "moment"), [
    ("2026-11-20 02:00:00.000007", datetime(2026, 11, 20, 2, 0, 0, 7, tzinfo=UTC)),
    ("2026-11-01 00:00:00", datetime(2026, 11, 1, tzinfo=UTC)),  # the driver's own text
])
def test_stored_text_reads_back_as_that_moment_in_utc(stored, moment):
    back = UtcDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)(stored)
    assert back == moment and back.tzinfo is UTC
