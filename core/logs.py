"""The service log: text or JSON lines, redacted (`core.redaction`), with the request's
id (`core.log_format`); and the logging set-up Prefect's flow runs are given."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from core.log_format import ContextFilter, formatter
from core.redaction import RedactingFilter


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr through the redacting filter, as text or JSON lines
    (`core.log_format`), and quiet the chatty libraries."""

    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())  # first: it reads the arguments the next one drops
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Through ours, whatever a library imported earlier gave them (Prefect's default
    # logging file gives uvicorn's loggers a handler of their own, unredacted).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate, logger.disabled = [], True, False
        logger.setLevel(logging.NOTSET)
    for chatty in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # "maximum number of running instances reached" only says a long sweep is still going.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


# Prefect's default logging file gives uvicorn's loggers a console handler of its own at
# WARNING, which would silence the access and shutdown lines (and bypass the redaction)
# from the moment a process imports Prefect. This one configures Prefect's loggers only:
# flow and task run logs still go to the Prefect API, and everything to our handler.
_PREFECT_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Flow-run lines carry the request id of the request a run works for (a crisis's
    # compensation, asked for by the event that started it).
    "formatters": {"caseflow": {"()": "core.log_format.FlowRunFormatter"}},
    "handlers": {"api": {"level": 0, "class": "prefect.logging.handlers.APILogHandler",
                         "formatter": "caseflow"}},
    "loggers": {
        "prefect": {"level": "${PREFECT_LOGGING_LEVEL}"},
        "prefect.flow_runs": {"level": "NOTSET", "handlers": ["api"]},
        "prefect.task_runs": {"level": "NOTSET", "handlers": ["api"]},
    },
}


def write_prefect_logging_config(path: Path) -> Path:
    """Write the logging file for `PREFECT_LOGGING_SETTINGS_PATH`; return its path."""
    path.write_text(yaml.safe_dump(_PREFECT_LOGGING, sort_keys=False), encoding="utf-8")
    return path
