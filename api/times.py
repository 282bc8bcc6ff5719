"""The one form of time in API answers: every moment in UTC with `Z`, every duration in
ISO 8601 (`PT20M`).

The store keeps moments in UTC, but policies, reviews and bookings work in local time, and
the data of cases and reviews (timeline details, bookings, review results) holds moments as
they were written, with their offsets. Answers put them all in one form, through the types
here: `UtcDatetime` and `IsoDuration` for typed fields, `UtcJson` for free-form JSON, whose
strings that are moments with an offset are given in UTC. Texts people read (messages,
the survey page) keep local time; they are not answers' fields.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

from domain.durations import format_duration

T = TypeVar("T")
# A moment as Python and the domain write it: a date, a time, and an offset (or Z).
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)")


def utc_text(moment: datetime) -> str:
    """`2026-11-20T02:00:00Z`; a moment without an offset is the store's, in UTC."""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    if moment.utcoffset():
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # before year 1 in UTC: no such UTC moment to give
            return moment.isoformat()
    return moment.isoformat()[:-6] + "Z"  # less its "+00:00"


def utc_json(value: Any) -> Any:
    """`value` (JSON: dicts, lists, strings...) with every moment in it as `utc_text`
    says, every duration in ISO 8601."""
    kind = type(value)
    if kind is str:
        # Cheap tests first: most strings are no moment.
        if len(value) >= 16 and value[10] == "T" and _MOMENT.fullmatch(value):
            try:
                return utc_text(datetime.fromisoformat(value))
            except (ValueError, OverflowError):
                return value
        return value
    if kind is dict:
        return {key: utc_json(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [utc_json(item) for item in value]
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    return value


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC, which pydantic writes with `Z`."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # before year 1 in UTC: given as it is
        return moment


# Put in UTC as the answer is made, rather than as it is written: pydantic's own writing of
# a datetime is several times faster than Python's, and a case answer holds dozens.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
IsoDuration = Annotated[
    timedelta, PlainSerializer(format_duration, return_type=str, when_used="json"),
    # No "format": "duration", which has no sign, and a clock past its due time has -PT5M left.
    WithJsonSchema({"type": "string", "examples": ["PT20M"]}, mode="serialization")]
# Free-form JSON in an answer: UtcJson[dict[str, Any]]. (A lambda: a serializer without a
# return annotation leaves the field's own JSON schema, an object, in the API docs.)
UtcJson = Annotated[T, PlainSerializer(lambda value: utc_json(value), when_used="json")]
