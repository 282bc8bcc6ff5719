"""When reviews are due: cron slots on the runtime clock, and the embedded review ticker.

The registry (`policies/reviews.yaml`) gives each review a cron and a timezone. Its
latest slot at or before `now` decides the period it must have covered; a review is due
while that period has no run. So a service that was down over several slots runs the
review once, for the latest period, not once per missed slot.

APScheduler's own cron triggers would fire on the wall clock; the runtime clock may run
faster (`CASEFLOW_CLOCK_SPEED`) or be a test's frozen clock. So APScheduler ticks
`ReviewTicker.tick`, and APScheduler's `CronTrigger`, fed the runtime clock's `now`,
does the cron arithmetic: the same registry, cron and timezone Prefect's deployments get.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Session, col, select

from domain.reviews.model import (
    RETRY_PAUSE,
    SCHEDULED_ATTEMPTS,
    Period,
    RunStatus,
    period_for,
    retry_due,
)
from domain.reviews.policy import ReviewPolicy
from engine.models import ReviewRun
from processes.reviews.publish import publishable

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.reviews")
_LOOKBACK_LIMIT = timedelta(days=800)  # a cron that fires less than every two years: none


@lru_cache(maxsize=64)
def _trigger(cron: str, timezone: str) -> CronTrigger:
    return CronTrigger.from_crontab(cron, timezone=timezone)


def latest_slot(review: ReviewPolicy, now: datetime) -> datetime | None:
    """Find the review's latest cron slot at or before `now` (None if none in two years)."""
    trigger = _trigger(review.cron, review.timezone)
    window = timedelta(days=1)
    while True:
        slot = trigger.get_next_fire_time(None, now - window)
        if slot is not None and slot <= now:
            while (following := trigger.get_next_fire_time(slot, slot)) is not None \
                    and following <= now:
                slot = following
            return slot
        if window >= _LOOKBACK_LIMIT:
            return None
        window = min(window * 2, _LOOKBACK_LIMIT)


def next_slot(review: ReviewPolicy, now: datetime) -> datetime | None:
    """Find the review's first cron slot after `now`."""
    return _trigger(review.cron, review.timezone).get_next_fire_time(
        None, now + timedelta(microseconds=1))


@dataclass(frozen=True)
class Due:
    """A review's latest slot and the period a run at that slot covers."""

    slot: datetime
    period: Period


@dataclass(frozen=True)
class _KnownSlot:
    """A review's due slot, valid until its next slot (or a policy reload changes it)."""

    review: ReviewPolicy
    due: Due | None
    until: datetime | None

    def holds(self, review: ReviewPolicy, now: datetime) -> bool:
        # A clock moved back (tests travel both ways) invalidates it as well as one past.
        after_slot = self.due is None or self.due.slot <= now
        return (self.review == review and after_slot
                and (self.until is None or now < self.until))


def due_at(review: ReviewPolicy, now: datetime) -> Due | None:
    """Say which slot and period a review should have run for by `now`."""
    slot = latest_slot(review, now)
    if slot is None:
        return None
    return Due(slot, period_for(slot, review.period, review.covers, review.timezone))


class ReviewRunner(Protocol):
    @property
    def publishes(self) -> bool:
        """Whether runs get their Prefect artifacts this way."""

    def review(self, name: str) -> None:
        """Run review `name` for its due period, if it has no run yet."""


class ReviewTicker:
    """Run every review whose latest period has no run yet, and publish unpublished runs.

    A slot that passed before this ticker started was missed while the service was down:
    it runs once now, for the latest period, if the review has run before. On a store
    where the review never ran, nothing was missed: it first runs at its next slot.
    """

    def __init__(self, runtime: Runtime, runner: ReviewRunner) -> None:
        self.runtime, self.runner = runtime, runner
        self.started_at = runtime.clock.now()
        # review -> the period start known to be done or skipped: most ticks read nothing.
        self._settled: dict[str, datetime] = {}
        # review -> its due slot until the next one: no cron arithmetic on most ticks.
        self._slots: dict[str, _KnownSlot] = {}
        # review -> when publishing its runs may be tried again, after a failed try.
        self._publish_after: dict[str, datetime] = {}

    def tick(self) -> list[str]:
        """Run what is due at the runtime clock's `now`; return the reviews handed on."""
        rt = self.runtime
        now = rt.clock.now()
        pending: dict[str, Due] = {}
        for name, review in rt.policies.reviews.items():
            due = self._due(name, review, now)
            if due is not None and self._settled.get(name) != due.period.start:
                pending[name] = due
        with Session(rt.engine) as session:
            if pending:
                self._drop_settled(session, pending)
            unpublished = set(session.exec(
                select(col(ReviewRun.review)).distinct().where(*publishable(now))
            )) if self.runner.publishes else set()
            failed = {run.review for run in session.exec(
                select(ReviewRun).where(ReviewRun.status == RunStatus.failed,
                                        col(ReviewRun.attempts) < SCHEDULED_ATTEMPTS))
                      if retry_due(run.status, run.attempts, run.finished_at, now)}
        unpublished = {name for name in unpublished
                       if now >= self._publish_after.get(name, now)}
        handed = sorted((set(pending) | unpublished | failed) & set(rt.policies.reviews))
        for name in handed:
            self.runner.review(name)
            if name in pending:
                # Done, failed or skipped (missed by more than catch_up_within): settled.
                self._settled[name] = pending[name].period.start
            if self.runner.publishes:
                # Handing a run on also publishes it. If that fails, the next tick should
                # not try again at once: the Prefect API that failed it is likely down.
                self._publish_after[name] = now + RETRY_PAUSE
        return handed

    def _due(self, name: str, review: ReviewPolicy, now: datetime) -> Due | None:
        known = self._slots.get(name)
        if known is None or not known.holds(review, now):
            due = due_at(review, now)
            known = _KnownSlot(review, due, next_slot(review, now))
            self._slots[name] = known
        return known.due

    def _drop_settled(self, session: Session, pending: dict[str, Due]) -> None:
        """Remove from `pending` the periods already run, and first-start catch-ups."""
        done = set(session.exec(select(col(ReviewRun.review), col(ReviewRun.period_start))
                                .where(col(ReviewRun.review).in_(pending))))
        ever_ran = set(session.exec(select(col(ReviewRun.review)).distinct()
                                    .where(col(ReviewRun.review).in_(pending))))
        for name, due in list(pending.items()):
            first_start = due.slot < self.started_at and name not in ever_ran
            if (name, due.period.start) in done or first_start:
                if first_start:
                    log.info("review %s: first start, nothing missed; it runs at its next "
                             "slot", name)
                self._settled[name] = due.period.start
                del pending[name]
