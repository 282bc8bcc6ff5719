"""The one rule for what a client sends that the service stores: it must read back.

Checked on every request body before anything is written (`api.schemas.Model`). A NUL
character is refused by PostgreSQL's text and JSON columns; a lone surrogate (valid in
JSON text as an escape, but no UTF-8 can carry it) is written and then fails every read
and every answer that shows it; NaN and infinity are not JSON; and nesting deeper than
`MAX_DEPTH` is beyond what the JSON writers and readers take (orjson stops at 255).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # objects and lists within a body; what clients send is a few levels deep
_SURROGATE = re.compile("[\ud800-\udfff]")


class Unstorable(Exception):
    """A request value that could not be stored and read back; `loc` says where.

    Not a ValueError on purpose: raised in a pydantic validator, it leaves pydantic as
    it is, so that the answer names the value's own place instead of the model's.
    """

    def __init__(self, loc: list[str | int], reason: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {reason}")
        self.loc, self.reason = loc, reason


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in value:
        return "NUL characters are not allowed"
    # An ASCII string (a flag CPython keeps: no scan) holds no surrogate.
    if not value.isascii() and _SURROGATE.search(value):
        return "lone surrogates (\\ud800-\\udfff) are not text; send UTF-8"
    return None


def check_storable(value: Any, loc: list[str | int]) -> None:
    """Raise `Unstorable` naming the first value under `loc` that could not be stored."""
    found = _problem(value, 0)
    if found is not None:
        path, reason = found
        raise Unstorable([*loc, *reversed(path)], reason)


def _problem(value: Any, depth: int) -> tuple[list[str | int], str] | None:
    """The path (innermost first) and reason of the first bad value, or None.

    Every request body goes through this: the path is built only for a bad value, and
    the common case (ASCII text without NUL) costs two cheap tests per string.
    """
    if isinstance(value, str):
        problem = text_problem(value)
        return ([], problem) if problem else None
    if isinstance(value, float):
        return None if math.isfinite(value) else ([], "only finite numbers are allowed")
    if not isinstance(value, (dict, list)):
        return None
    if depth >= MAX_DEPTH:
        return [], f"nested more than {MAX_DEPTH} levels deep"
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(key, str) and (problem := text_problem(key)):
            # The key itself is left out of the answer: it could not be written there.
            return [], f"a key: {problem}"
        found = _problem(item, depth + 1)
        if found is not None:
            found[0].append(key)
            return found
    return None


def load_json(raw: bytes) -> Any:
    """A body read as JSON, where the app reads it itself; `ValueError` for anything but
    JSON text, including nesting past the parser's recursion limit (a RecursionError
    raised inside it would otherwise end the request as a 500)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deep") from None
