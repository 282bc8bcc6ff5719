"""The in-process scheduler (APScheduler) that ticks the sweeper in the embedded mode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from core.runtime import Runtime
from core.sweeper import Sweeper, make_runner

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

    def start(self) -> SweepScheduler:
        self.scheduler.start()
        return self

    def shutdown(self) -> None:
        """Stop after the batch in hand; claimed work left over is retried after its lease."""
        self.sweeper.stop()
        self.scheduler.shutdown(wait=True)


def _guarded(tick: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            tick()
        except Exception:
            log.exception("sweeper tick failed; the next tick retries")
    return run
