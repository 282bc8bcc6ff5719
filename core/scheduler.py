"""The in-process scheduler (APScheduler) that ticks the sweeper in the embedded mode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from core.runtime import Runtime
from core.sweeper import Sweeper, make_runner

log = logging.getLogger("caseflow.scheduler")


def start_scheduler(runtime: Runtime) -> BackgroundScheduler:
    """Tick the sweeper every `sweep_interval_seconds`; a slow tick never overlaps the next."""
    scheduler = BackgroundScheduler(timezone="UTC")
    # The first tick runs at once: deadlines missed while the service was down fire now.
    scheduler.add_job(_guarded(Sweeper(runtime, make_runner(runtime)).tick), "interval",
                      id="sweeper", seconds=runtime.settings.sweep_interval_seconds,
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
    scheduler.start()
    return scheduler


def _guarded(tick: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            tick()
        except Exception:
            log.exception("sweeper tick failed; the next tick retries")
    return run
