"""The log formats: text lines carry their timezone, JSON lines parse and keep the
redaction, and both carry the request id."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from core.logs import configure_logging
from engine import request_context


@pytest.fixture
def logged() -> Iterator[tuple[io.StringIO, list[str]]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    formats: list[str] = []

    def configure(log_format: str) -> None:
        configure_logging("INFO", log_format)
        root.handlers[0].setStream(out)  # type: ignore[attr-defined]
        formats.append(log_format)

    yield out, configure  # type: ignore[misc]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_text_lines_carry_the_timezone_and_the_request_id(logged):
    out, configure = logged
    configure("text")
    log = logging.getLogger("caseflow.test")
    log.info("outside")
    with request_context.using("req-7"):
        log.info("inside, for wu@example.com")
    first, second = out.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert re.match(stamp + r" INFO caseflow\.test: outside$", first), first
    assert re.match(stamp + r" INFO caseflow\.test: inside, for w\S*@example\.com "
                    r"request_id=req-7$", second), second
    assert "wu@" not in second


def test_json_lines_parse_with_their_context_and_stay_redacted(logged):
    out, configure = logged
    configure("json")
    log = logging.getLogger("caseflow.test")
    with request_context.using("req-8"):
        try:
            raise ValueError("no such customer 13912345678")
        except ValueError:
            log.exception("lookup of %s failed", "wu@example.com",
                          extra={"contact": "+86 139 1234 5678", "attempt": 2})
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line
    assert (line["level"], line["logger"], line["request_id"]) == (
        "ERROR", "caseflow.test", "req-8")
    assert line["message"].startswith("lookup of w") and "wu@" not in line["message"]
    assert line["attempt"] == 2 and "5678" in line["contact"]
    assert "1234" not in line["contact"]  # a context field is masked like the message
    assert "ValueError" in line["exception"] and "12345678" not in line["exception"]
    assert isinstance(line["pid"], int)
