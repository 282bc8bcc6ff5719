"""The in-process scheduler (APScheduler): ticks the sweeper and the periodic reviews.

Reviews come from the registry in `policies/reviews.yaml`; `processes.reviews.schedule` says
why APScheduler ticks them rather than holding one cron trigger per review.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from core.runtime import Runtime
from engine.sweeper import Sweeper
from flows.runner import ORPHAN_CHECK_SECONDS, PrefectRunner, make_runner
from processes.reviews.runners import InlineReviews, PrefectReviews
from processes.reviews.schedule import ReviewRunner, ReviewTicker

log = logging.getLogger("caseflow.scheduler")
# How long a stop waits for the ticks in hand. A flow run whose Prefect API went away
# retries for minutes; its claims are taken over after their lease instead.
SHUTDOWN_GRACE_SECONDS = 3.0


class SweepScheduler:
    """Tick the sweeper every `sweep_interval_seconds`; a slow tick never overlaps the next.

    A tick fires the due timers; the due notifications are delivered in a job of their
    own, on the same interval, after the tick in progress (`FiringFirst`): sending, a
    flow run of its own and as slow as the recipients, never holds the next deadline up,
    and a storm's notifications, all written by one long tick, still go out together.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.sweeper = Sweeper(runtime, make_runner(runtime))
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.running = RunningTicks()
        firing = FiringFirst(self.sweeper)
        # The first tick runs at once: deadlines missed while the service was down fire now.
        self.scheduler.add_job(self.running.guard(firing.fire), "interval", id="sweeper",
                               seconds=runtime.settings.sweep_interval_seconds,
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self.scheduler.add_job(self.running.guard(firing.deliver), "interval",
                               id="notifications",
                               seconds=runtime.settings.sweep_interval_seconds,
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self.reviews: ReviewTicker | None = None
        if runtime.settings.review_scheduler_enabled:
            # At once too: a review missed while the service was down runs now, once.
            self.reviews = ReviewTicker(runtime, _review_runner(runtime, self.sweeper))
            self.scheduler.add_job(self.running.guard(self.reviews.tick), "interval",
                                   id="reviews",
                                   seconds=runtime.settings.sweep_interval_seconds,
                                   max_instances=1, coalesce=True,
                                   next_run_time=datetime.now(UTC))
        if isinstance(self.sweeper.runner, PrefectRunner):
            # The leader ends the flow runs of instances that died, on any host.
            self.scheduler.add_job(self.running.guard(self.sweeper.runner.end_orphaned_runs),
                                   "interval", id="orphans", seconds=ORPHAN_CHECK_SECONDS,
                                   max_instances=1, coalesce=True)
        # A few renewals per lease: a tick's claims outlive the tick's longest batch.
        self.scheduler.add_job(self.running.guard(self.sweeper.leases.renew), "interval",
                               id="leases",
                               seconds=runtime.settings.claim_lease_seconds / 3,
                               max_instances=1, coalesce=True)

    def start(self) -> SweepScheduler:
        self.scheduler.start()
        return self

    def shutdown(self) -> None:
        """Claim no more, and wait for the ticks in hand, SHUTDOWN_GRACE_SECONDS at most;
        claimed work left over is retried after its lease."""
        self.sweeper.stop()
        self.scheduler.shutdown(wait=False)
        if self.running.wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.info("scheduler stopped")
        else:
            log.warning("scheduler stopped with a tick still running after %.0f s (a flow "
                        "run waiting on the Prefect API?); its claims are retried after "
                        "their lease", SHUTDOWN_GRACE_SECONDS)


class FiringFirst:
    """The sweeper's firing and delivery as two jobs: a delivery waits for the firing in
    progress when it starts, so that it sends what that firing wrote."""

    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper
        self._begun = self._ended = 0
        self._changed = threading.Condition()

    def fire(self) -> None:
        with self._changed:
            self._begun += 1
        try:
            self.sweeper.fire_due()
        finally:
            with self._changed:
                self._ended += 1
                self._changed.notify_all()

    def deliver(self) -> None:
        with self._changed:
            begun = self._begun
            while self._ended < begun:
                # A stopping sweeper's firing ends with its batch in hand.
                self._changed.wait(1.0)
        self.sweeper.deliver_due()


def _review_runner(runtime: Runtime, sweeper: Sweeper) -> ReviewRunner:
    """Reviews run as flow runs once the sweeper's Prefect runner finds the API ready."""
    if isinstance(sweeper.runner, PrefectRunner):
        return PrefectReviews(runtime, sweeper.runner.ready)
    return InlineReviews(runtime)


class RunningTicks:
    """The ticks running now, so that a stop can wait for them, for a while."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def guard(self, tick: Callable[[], object]) -> Callable[[], None]:
        """`tick`, counted while it runs; a failure is logged and the next tick retries."""
        def run() -> None:
            with self._changed:
                self._count += 1
            try:
                tick()
            except Exception:
                log.exception("%s failed; the next tick retries",
                              getattr(tick, "__qualname__", "a tick"))
            finally:
                with self._changed:
                    self._count -= 1
                    self._changed.notify_all()
        return run

    def wait_idle(self, timeout: float) -> bool:
        """Whether no tick runs, waiting `timeout` seconds at most."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)
