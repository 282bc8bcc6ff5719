"""Run claimed `batch` timers: long work (a crisis's compensation) outside a case's
transaction, through the process's hook (engine/hooks.py).

The timer stays claimed while its batch runs. A batch that fails, or a service that
dies during it, leaves the claim to run out; the sweeper then claims the timer again and
the batch, which must be resumable, carries on where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from engine import hooks, request_context
from engine.claims import held_by
from engine.db import session_scope
from engine.models import CaseEvent, Timer

if TYPE_CHECKING:
    from core.runtime import Runtime

BatchRun = Callable[["Runtime", str, int, str], Mapping[str, Any]]
"""Runs a batch: (runtime, process, case id, timer name) -> where it stands."""

log = logging.getLogger("caseflow.batches")


def run_batch_timer(runtime: Runtime, timer_id: int, *, run: BatchRun = hooks.run_batch
                    ) -> dict[str, int]:
    """Run one claimed batch timer to its end with `run` (the process's hook in this
    thread, unless told otherwise); 'fired', 'failed' or 'skipped'."""
    me = runtime.settings.instance_id
    with session_scope(runtime.engine) as session:
        timer = session.get(Timer, timer_id)
        if timer is None or not held_by(timer, me):
            return {"skipped": 1}
        process, case_id, name = timer.process, timer.case_id, timer.name
        # The request that asked for the batch (the event that started a compensation):
        # its flow run is tagged with it, and its log lines carry it.
        asked_by = session.exec(
            select(CaseEvent.request_id)
            .where(CaseEvent.case_id == case_id, col(CaseEvent.request_id).is_not(None))
            .order_by(col(CaseEvent.id).desc()).limit(1)).first()
    try:
        with request_context.using(asked_by):
            outcome = run(runtime, process, case_id, name)
    except Exception:
        log.exception("batch %s of %s #%s failed; it resumes when its claim runs out",
                      name, process, case_id)
        return {"failed": 1}
    with session_scope(runtime.engine) as session:
        timer = session.exec(select(Timer).where(Timer.id == timer_id)
                             .with_for_update()).one()
        if held_by(timer, me):
            timer.status, timer.fired_at = "fired", runtime.clock.now()
            session.add(timer)
    log.info("batch %s of %s #%s done: %s", name, process, case_id, dict(outcome))
    return {"fired": 1}
