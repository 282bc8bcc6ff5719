"""The in-process scheduler (APScheduler): ticks the sweeper and the periodic reviews.

Reviews come from the registry in `policies/reviews.yaml`; `core.review_schedule` says
why APScheduler ticks them rather than holding one cron trigger per review.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from core.review_schedule import InlineReviews, PrefectReviews, ReviewRunner, ReviewTicker
from core.runtime import Runtime
from core.sweeper import PrefectRunner, Sweeper, make_runner

log = logging.getLogger("caseflow.scheduler")


class SweepScheduler:
    """Tick the sweeper every `sweep_interval_seconds`; a slow tick never overlaps the next."""

    def __init__(self, runtime: Runtime) -> None:
        self.sweeper = Sweeper(runtime, make_runner(runtime))
        self.scheduler = BackgroundScheduler(timezone="UTC")
        # The first tick runs at once: deadlines missed while the service was down fire now.
        self.scheduler.add_job(_guarded(self.sweeper.tick), "interval", id="sweeper",
                               seconds=runtime.settings.sweep_interval_seconds,
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self.reviews: ReviewTicker | None = None
        if runtime.settings.review_scheduler_enabled:
            # At once too: a review missed while the service was down runs now, once.
            self.reviews = ReviewTicker(runtime, _review_runner(runtime, self.sweeper))
            self.scheduler.add_job(_guarded(self.reviews.tick), "interval", id="reviews",
                                   seconds=runtime.settings.sweep_interval_seconds,
                                   max_instances=1, coalesce=True,
                                   next_run_time=datetime.now(UTC))
        # A few renewals per lease: a tick's claims outlive the tick's longest batch.
        self.scheduler.add_job(_guarded(self.sweeper.leases.renew), "interval", id="leases",
                               seconds=runtime.settings.claim_lease_seconds / 3,
                               max_instances=1, coalesce=True)

    def start(self) -> SweepScheduler:
        self.scheduler.start()
        return self

    def shutdown(self) -> None:
        """Stop after the batch in hand; claimed work left over is retried after its lease."""
        self.sweeper.stop()
        self.scheduler.shutdown(wait=True)


def _review_runner(runtime: Runtime, sweeper: Sweeper) -> ReviewRunner:
    """Reviews run as flow runs once the sweeper's Prefect runner finds the API ready."""
    if isinstance(sweeper.runner, PrefectRunner):
        return PrefectReviews(runtime, sweeper.runner.ready)
    return InlineReviews(runtime)


def _guarded(tick: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            tick()
        except Exception:
            log.exception("%s failed; the next tick retries", getattr(tick, "__qualname__",
                                                                      "a tick"))
    return run
