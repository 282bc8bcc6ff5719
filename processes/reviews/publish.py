"""Publish succeeded review runs as artifacts: each artifact once, failed tries bounded.

A run records the keys of the artifacts written so far, so a retry writes only the
rest and never a second copy. A failed try is recorded on the run (attempts, the error,
when to try next) and logged in one line, without a traceback: the same refusal would
otherwise log one at every try. After `PUBLISH_ATTEMPTS` tries the run is left
unpublished, saying why, until someone fixes the cause (`GET /reports/runs`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from core.redaction import redact
from domain.reviews.model import PUBLISH_ATTEMPTS, RunStatus, next_publish_at
from domain.reviews.reports import Artifact, run_artifacts
from engine.db import session_scope
from engine.models import ReviewRun

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.reviews")
ArtifactWriter = Callable[[Artifact], Awaitable[object]]


def publishable(now: datetime, review: str | None = None) -> list[ColumnElement[bool]]:
    """Conditions selecting the succeeded, unpublished runs (of `review`, if given) whose
    try is due at `now`; a run given up has no next try."""
    conditions = [col(ReviewRun.status) == RunStatus.succeeded,
                  col(ReviewRun.published_at).is_(None), col(ReviewRun.publish_after) <= now]
    if review is not None:
        conditions.append(col(ReviewRun.review) == review)
    return conditions


async def publish_due_runs(runtime: Runtime, review: str, write: ArtifactWriter) -> list[int]:
    """Publish the review's runs whose next try is due; return the ids now published."""
    now = runtime.clock.now()
    with Session(runtime.engine) as session:
        runs = list(session.exec(select(ReviewRun).where(*publishable(now, review))
                                 .order_by(col(ReviewRun.id))))
    return [run.id for run in runs if run.id is not None and await _publish(runtime, run, write)]


async def _publish(runtime: Runtime, run: ReviewRun, write: ArtifactWriter) -> bool:
    done = list(run.published_artifacts)
    policies = runtime.policies
    for artifact in run_artifacts(run.review, run.id, run.result, policies.messages,
                                  policies.staff_messages):
        if artifact.key in done:
            continue  # written by an earlier try
        try:
            await write(artifact)
        except Exception as exc:
            _failed(runtime, run, exc, artifact.key)
            return False
        done.append(artifact.key)
        _record(runtime, run, published_artifacts=list(done))
    _record(runtime, run, published_at=runtime.clock.now(), publish_after=None,
            publish_error=None)
    return True


def _failed(runtime: Runtime, run: ReviewRun, exc: Exception, key: str) -> None:
    attempts = run.publish_attempts + 1
    first_line = (str(exc).splitlines() or [""])[0]
    error = redact(f"artifact {key}: {type(exc).__name__}: {first_line}")[:500]
    retry_at = next_publish_at(attempts, runtime.clock.now())
    _record(runtime, run, publish_attempts=attempts, publish_error=error,
            publish_after=retry_at)
    if retry_at is None:
        log.error("review %s run %s: publishing failed %d times, given up: %s", run.review,
                  run.id, PUBLISH_ATTEMPTS, error)
    else:
        log.warning("review %s run %s: publishing failed (try %d of %d), next at %s: %s",
                    run.review, run.id, attempts, PUBLISH_ATTEMPTS, retry_at.isoformat(),
                    error)


def _record(runtime: Runtime, run: ReviewRun, **changes: object) -> None:
    """Write publication state to the run's row (and to `run`, which the caller holds)."""
    with session_scope(runtime.engine) as session:
        row = session.get(ReviewRun, run.id)
        assert row is not None
        for name, value in changes.items():
            setattr(row, name, value)
            setattr(run, name, value)
        session.add(row)
