"""The in-process scheduler (APScheduler) that ticks the sweeper in the embedded mode."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from core.runtime import Runtime
from core.sweeper import Sweeper, make_runner

log = logging.getLogger("caseflow.scheduler")


def start_scheduler(runtime: Runtime) -> BackgroundScheduler:
    """Tick the sweeper every `sweep_interval_seconds`; a slow tick is never run twice at once."""
    sweeper = Sweeper(runtime, make_runner(runtime))
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_safe(sweeper), "interval", id="sweeper",
                      seconds=runtime.settings.sweep_interval_seconds,
                      max_instances=1, coalesce=True, next_run_time=None)
    scheduler.start()
    # First tick at once: deadlines missed while the service was down fire now.
    scheduler.modify_job("sweeper", next_run_time=_now())
    return scheduler


def _safe(sweeper: Sweeper):  # type: ignore[no-untyped-def]
    def tick() -> None:
        try:
            sweeper.tick()
        except Exception:
            log.exception("sweeper tick failed; the next tick retries")
    return tick


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
