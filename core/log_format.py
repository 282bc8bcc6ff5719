"""How a log line is written: text (the default) or one JSON object a line.

`CASEFLOW_LOG_FORMAT=json`: each line is an object with `time` (UTC, ISO 8601, `Z`),
`level`, `logger`, `message`, and the context known: `request_id` while a request is
handled, `pid`, an access line's `method`, `path` and `status`, an exception's text,
and whatever a caller passed as `extra`. Text lines start with the local time and its
offset (`2026-12-06 13:52:01.123+08:00`) and end with the request id when there is one.

Both come after the redacting filter (`core.redaction.RedactingFilter`): the message and the
exception are masked before either formatter sees them, and the JSON formatter masks the
string context fields it adds too.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from core.redaction import redact
from engine import request_context

# What every LogRecord has: anything else on a record came from a caller's `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "request_id", "access"}
ACCESS_LOGGER = "uvicorn.access"


class ContextFilter(logging.Filter):
    """Put the request id (and an access line's method, path and status) on each record.

    Installed before the redacting filter, which drops the record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_context.current()
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            _, method, path, _, status = record.args
            record.access = {"method": str(method), "path": redact(str(path)),
                             "status": status}
        return True


def _exception(record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record.exc_text or None


class TextFormatter(logging.Formatter):
    """`time level logger: message`, the time local with its offset; ` request_id=...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(
            sep=" ", timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id is None:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} request_id={request_id}{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        entry["pid"] = record.process or os.getpid()
        entry.update(getattr(record, "access", None) or {})
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        exception = _exception(record)
        if exception:
            entry["exception"] = exception
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=_plain).decode()


def _plain(value: object) -> str:
    """Context values JSON has no type for, as text (masked like the message)."""
    return redact(str(value))


class FlowRunFormatter(logging.Formatter):
    """Flow-run and task-run log lines as Prefect stores them, with the request id of
    the request the run works for, when it works for one."""

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        request_id = getattr(record, "request_id", None) or request_context.current()
        return f"{line} [request_id={request_id}]" if request_id else line


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()
