"""The in-process scheduler (APScheduler): ticks the sweeper and the periodic reviews.

Reviews come from the registry in `policies/reviews.yaml`; `processes.reviews.schedule` says
why APScheduler ticks them rather than holding one cron trigger per review.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from core.runtime import Runtime
from engine.claims import next_due
from engine.models import Timer
from engine.sweeper import Sweeper, TickReport
from flows.runner import ORPHAN_CHECK_SECONDS, PrefectRunner, make_runner
from processes.reviews.runners import InlineReviews, PrefectReviews
from processes.reviews.schedule import ReviewRunner, ReviewTicker

log = logging.getLogger("caseflow.scheduler")
# How long a stop waits for the ticks in hand. A flow run whose Prefect API went away
# retries for minutes; its claims are taken over after their lease instead.
SHUTDOWN_GRACE_SECONDS = 3.0
MIN_PAUSE_SECONDS = 0.05  # between two ticks of the sweeper, however soon the next is due


class SweepScheduler:
    """Tick the sweeper; a slow tick never overlaps the next.

    A tick fires the due timers, in a thread of its own that then sleeps until the next
    timer falls due, `sweep_interval_seconds` at most (a timer made meanwhile, perhaps
    by another instance, waits that long at most). So a deadline waits for no tick
    boundary, only for the flow run that records it. The due notifications are
    delivered in a job of their own, every `sweep_interval_seconds`, after the tick in
    progress (`FiringFirst`): sending, a flow run of its own and as slow as the
    recipients, never holds the next deadline up, and a storm's notifications, all
    written by one long tick, still go out together.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sweeper = Sweeper(runtime, make_runner(runtime))
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.running = RunningTicks()
        self.firing = FiringFirst(self.sweeper)
        self._stopping = threading.Event()
        # The first tick runs at once: deadlines missed while the service was down fire now.
        self._ticking = threading.Thread(target=self.running.guard(self._tick_until_stopped),
                                         name="caseflow-sweeper", daemon=True)
        self.scheduler.add_job(self.running.guard(self.firing.deliver), "interval",
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
        self._ticking.start()
        return self

    def _tick_until_stopped(self) -> None:
        interval = self.runtime.settings.sweep_interval_seconds
        while not self._stopping.is_set():
            try:
                fired = self.firing.fire().timers
                pause = self._until_next_due(interval, fired=bool(fired))
            except Exception:
                log.exception("a tick of the sweeper failed; the next tick retries")
                pause = interval
            self._stopping.wait(pause)

    def _until_next_due(self, interval: float, *, fired: bool) -> float:
        """Seconds until the earliest pending timer falls due, `interval` at most. One due
        already goes at once if this tick fired something (more fell due meanwhile);
        else it is not ours to take yet (locked by another sweeper's claim), and waits."""
        due = next_due(self.runtime.engine, Timer, "fire_at")
        if due is None:
            return interval
        clock = self.runtime.clock
        wait = (due - clock.now()).total_seconds() / getattr(clock, "speed", 1.0)
        if wait <= 0:
            return MIN_PAUSE_SECONDS if fired else interval
        return min(interval, max(MIN_PAUSE_SECONDS, wait))

    def shutdown(self) -> None:
        """Claim no more, and wait for the ticks in hand, SHUTDOWN_GRACE_SECONDS at most;
        claimed work left over is retried after its lease."""
        self.sweeper.stop()
        self._stopping.set()
        self.scheduler.shutdown(wait=False)
        if self.running.wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.info("scheduler stopped")
        else:
            log.warning("scheduler stopped with a tick still running after %.0f s (a flow "
                        "run waiting on the Prefect API?); its claims are retried after "
                        "their lease", SHUTDOWN_GRACE_SECONDS)


class Sweeping(Protocol):
    def fire_due(self) -> TickReport: ...
    def deliver_due(self) -> TickReport: ...


class FiringFirst:
    """The sweeper's firing and delivery as two jobs: a delivery waits for the firing in
    progress when it starts, so that it sends what that firing wrote."""

    def __init__(self, sweeper: Sweeping) -> None:
        self.sweeper = sweeper
        self._begun = self._ended = 0
        self._changed = threading.Condition()

    def fire(self) -> TickReport:
        with self._changed:
            self._begun += 1
        try:
            return self.sweeper.fire_due()
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
