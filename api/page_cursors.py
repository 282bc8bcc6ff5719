"""The cursors of `GET /cases` and the console's queue: where the next page starts, as
one opaque string that the client hands back unchanged.

Inside, a cursor is the sort it pages and the key of the last row shown (base64url of a
small JSON list), so that it survives a service restart and needs no state; a cursor
that does not decode to a key of the expected sort is refused with the reason. A cursor
only says where to start: the reader's scope and filters are applied to every page
again, so a cursor from anyone, or made up, shows no case its reader may not read.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal

from api.schemas import MAX_ID
from core.worklists import QueueKey

Sort = Literal["newest", "due"]
MAX_LENGTH = 200  # a cursor is about 60 characters; anything longer is not one of ours
_QUEUE_PARTS = {"due": True, "rest": False}  # a queue key's part of the queue, by name


class BadCursor(ValueError):
    """A cursor that is not one this service gave for this sort; the message says why."""


def newest_cursor(before_id: int) -> str:
    """The cursor of a newest-first page ending just before case `before_id`."""
    return _encode(["newest", before_id])


def queue_cursor(key: QueueKey) -> str:
    """The cursor of a queue page ending at `key`."""
    part = next(name for name, due in _QUEUE_PARTS.items() if due == key.due)
    return _encode([part, key.at.isoformat(), key.id])


def read_newest(cursor: str) -> int:
    """The case id a newest-first page starts before."""
    kind, *rest = _decode(cursor)
    if kind != "newest":
        raise BadCursor(_other_sort("due", "newest"))
    if len(rest) != 1:
        raise BadCursor("is not a cursor this service gave")
    return _row_id(rest[0])


def read_queue(cursor: str) -> QueueKey:
    """The key a queue page (sort=due) starts after."""
    kind, *rest = _decode(cursor)
    if kind == "newest":
        raise BadCursor(_other_sort("newest", "due"))
    if kind not in _QUEUE_PARTS or len(rest) != 2 or not isinstance(rest[0], str):
        raise BadCursor("is not a cursor this service gave")
    try:
        at = datetime.fromisoformat(rest[0])
    except ValueError:
        raise BadCursor("is not a cursor this service gave") from None
    if at.tzinfo is None:
        raise BadCursor("is not a cursor this service gave")
    return QueueKey(due=_QUEUE_PARTS[kind], at=at, id=_row_id(rest[1]))


def _other_sort(given: str, wanted: str) -> str:
    return f"was given by a list with sort={given}; this one has sort={wanted}"


def _encode(parts: list[Any]) -> str:
    text = json.dumps(parts, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    if len(cursor) > MAX_LENGTH:
        raise BadCursor(f"is longer than a cursor ({MAX_LENGTH} characters at most)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("is not a cursor this service gave") from None
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], str):
        raise BadCursor("is not a cursor this service gave")
    return parts


def _row_id(value: Any) -> int:
    # bool is an int to Python; a cursor never holds one.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadCursor("is not a cursor this service gave")
    return value
