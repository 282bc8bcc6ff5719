"""Aware datetimes are stored as SQLAlchemy's SQLite text, and read back aware in UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from core.models import UtcDateTime

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
