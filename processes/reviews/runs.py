"""Run a periodic review once per period, and record it: claim, compute, store.

A run is claimed by inserting its row (unique per review and period start), so two
instances, a scheduled and a manual trigger, or a Prefect deployment and the embedded
scheduler never review one period twice. The result, the findings and the queued
notifications are then written in one transaction with the run's success; a run that
fails writes none of them and stays `failed` until a manual trigger retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.redaction import redact
from domain.reviews.model import Period, RunStatus, Trigger, retry_due
from domain.reviews.policy import Computes
from engine.db import session_scope
from engine.models import ReviewRun
from processes.reviews import care
from processes.reviews.compute import (
    ReviewContext,
    ReviewOutput,
    complaint_categories,
    satisfaction,
    service_quality,
    sla_digest,
)
from processes.reviews.findings import add_review_findings
from processes.reviews.schedule import Due, due_at

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.reviews")
# A run still `running` after this long died with its process; a manual trigger retakes it.
ABANDONED_AFTER = timedelta(hours=1)

COMPUTATIONS: dict[Computes, Callable[[ReviewContext], ReviewOutput]] = {
    Computes.sla_digest: sla_digest,
    Computes.complaint_categories: complaint_categories,
    Computes.satisfaction: satisfaction,
    Computes.service_quality: service_quality,
    Computes.skill_assessment_reminder: care.skill_assessment_reminder,
    Computes.greetings: care.greetings,
}


class ReviewNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"review {name!r} not found")
        self.name = name


class ReportNotFound(LookupError):
    """A review run, a review's latest run, or a team outside the reader's scope."""


@dataclass(frozen=True)
class Outcome:
    """What a trigger did: the period's run (new or earlier), or why there is none."""

    run: ReviewRun | None
    created: bool
    skipped: str | None = None


def run_due_review(runtime: Runtime, name: str, *,
                   trigger: Trigger = Trigger.schedule) -> Outcome:
    """Run the review for its latest due period unless that period already has a run."""
    review = runtime.policies.reviews.get(name)
    if review is None:
        raise ReviewNotFound(name)
    now = runtime.clock.now()
    due = due_at(review, now)
    if due is None:
        return Outcome(None, False, "the review has no slot before now")
    late = now - due.slot
    if trigger is Trigger.schedule and review.catch_up_within and late > review.catch_up_within:
        with Session(runtime.engine) as session:
            existing = _existing(session, name, due)
        if existing is not None:
            return Outcome(existing, False)
        log.info("review %s: slot %s missed by %s, more than catch_up_within; skipped",
                 name, due.slot.isoformat(), late)
        return Outcome(None, False, "missed by more than catch_up_within")
    run, created = _claim(runtime, name, review.computes, due, trigger, now)
    if not created:
        return Outcome(run, False)
    return Outcome(_execute(runtime, run), True)


def _claim(runtime: Runtime, name: str, computes: str, due: Due, trigger: Trigger,
           now: datetime) -> tuple[ReviewRun, bool]:
    row = ReviewRun(review=name, computes=computes, period_start=due.period.start,
                    period_end=due.period.end, slot_at=due.slot, trigger=trigger,
                    status=RunStatus.running, started_at=now, result={})
    try:
        with session_scope(runtime.engine) as session:
            session.add(row)
        return row, True
    except IntegrityError:
        pass  # the period has its run already
    with session_scope(runtime.engine) as session:
        existing = _existing(session, name, due)
        assert existing is not None
        retake = (trigger is Trigger.manual and (
            existing.status == RunStatus.failed or (
                existing.status == RunStatus.running
                and existing.started_at < now - ABANDONED_AFTER))) or retry_due(
            existing.status, existing.attempts, existing.finished_at, now)
        if not retake:
            return existing, False
        # Compare and set: of two retries at once, one wins.
        taken = session.exec(
            update(ReviewRun).where(col(ReviewRun.id) == existing.id,
                                    col(ReviewRun.attempts) == existing.attempts)
            .values(status=RunStatus.running, attempts=existing.attempts + 1, started_at=now,
                    trigger=trigger, error=None, finished_at=None)
            .execution_options(synchronize_session=False)).rowcount
    with Session(runtime.engine) as session:
        fresh = session.get(ReviewRun, existing.id)
        assert fresh is not None
        return fresh, bool(taken)


def _existing(session: Session, name: str, due: Due) -> ReviewRun | None:
    return session.exec(select(ReviewRun).where(
        ReviewRun.review == name, ReviewRun.period_start == due.period.start)).first()


def _execute(runtime: Runtime, run: ReviewRun) -> ReviewRun:
    assert run.id is not None
    review = runtime.policies.reviews[run.review]
    now = runtime.clock.now()
    try:
        with session_scope(runtime.engine) as session:
            period = Period(run.period_start, run.period_end, review.timezone)
            ctx = ReviewContext(session=session, policies=runtime.policies, name=run.review,
                                review=review, period=period, now=now, run_id=run.id)
            output = COMPUTATIONS[review.computes](ctx)
            finding_ids = add_review_findings(session, run_id=run.id, specs=output.findings,
                                              now=now)
            session.add_all(output.messages)
            row = session.get(ReviewRun, run.id)
            assert row is not None
            row.status, row.finished_at = RunStatus.succeeded, runtime.clock.now()
            row.publish_after = row.finished_at  # its artifacts are due now
            row.result = {"review": run.review, "title": review.title,
                          "computes": review.computes.value, "period": ctx.period.as_json(),
                          "now": now.astimezone(ctx.zone).isoformat(), **output.result(),
                          "findings": finding_ids}
            session.add(row)
        return row
    except Exception as exc:
        log.exception("review %s for %s failed", run.review, run.period_start.isoformat())
        with session_scope(runtime.engine) as session:
            failed = session.get(ReviewRun, run.id)
            assert failed is not None
            failed.status, failed.finished_at = RunStatus.failed, runtime.clock.now()
            # Report readers see this: no SQL parameters, contact details or secrets.
            first_line = (str(exc).splitlines() or [""])[0]
            failed.error = redact(f"{type(exc).__name__}: {first_line}")[:500]
            session.add(failed)
        return failed

