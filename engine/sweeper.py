"""The sweeper: each tick claims due timers and pending notifications and hands them on.

Work is handed to a `FlowRunner` in batches: the same functions inline (here), or as
Prefect flow runs (`flows/runner.py`). A tick keeps claiming until nothing that was due
when it began is left, so a storm drains in one tick, and a case that was due for
several rungs (after downtime) climbs them all; what falls due meanwhile waits for the
next tick, so that a steady stream of timers never keeps a tick from its notifications.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from domain.timers import BATCH
from engine import metrics
from engine.batches import run_batch_timer
from engine.claims import Leases, claim_due
from engine.delivery import deliver_messages
from engine.escalations import fire_timers
from engine.models import OutboxMessage, Timer

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.sweeper")

# A tick hands the thread back after this many batches; the next tick carries on.
MAX_BATCHES_PER_TICK = 100


class FlowRunner(Protocol):
    def process_timers(self, process: str, timer_ids: list[int], case_ids: list[int],
                       rungs: list[int] | None = None) -> dict[str, int]: ...
    def deliver(self, message_ids: list[int]) -> dict[str, int]: ...
    def run_batch(self, timer_id: int) -> dict[str, int]: ...


class InlineRunner:
    """Run the batch work in this thread, without Prefect (unit tests, benchmarks)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def process_timers(self, process: str, timer_ids: list[int], case_ids: list[int],
                       rungs: list[int] | None = None) -> dict[str, int]:
        return fire_timers(self.runtime, timer_ids)

    def deliver(self, message_ids: list[int]) -> dict[str, int]:
        return deliver_messages(self.runtime, message_ids)

    def run_batch(self, timer_id: int) -> dict[str, int]:
        return run_batch_timer(self.runtime, timer_id)


@dataclass
class TickReport:
    timers: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)

    def add(self, into: dict[str, int], outcome: dict[str, int]) -> None:
        for key, value in outcome.items():
            into[key] = into.get(key, 0) + value


class Sweeper:
    def __init__(self, runtime: Runtime, runner: FlowRunner) -> None:
        self.runtime, self.runner = runtime, runner
        self.leases = Leases(runtime.engine, runtime.settings.instance_id, runtime.clock)
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Finish the batch in hand and claim no more: the rest waits for the next start."""
        self._stopping.set()

    def tick(self) -> TickReport:
        """Fire every due timer, then deliver every due notification (a worker's sweep)."""
        return self._in_hand(self._fire, self._deliver)

    def fire_due(self) -> TickReport:
        """Fire every due timer (the scheduler's tick; `deliver_due` follows in a thread of
        its own, so that sending notifications never holds the next deadline up)."""
        return self._in_hand(self._fire)

    def deliver_due(self) -> TickReport:
        """Deliver every due notification."""
        return self._in_hand(self._deliver)

    def _in_hand(self, *parts: Callable[[TickReport], None]) -> TickReport:
        """Run `parts`; the claims they take meanwhile are in hand, for `leases` to renew."""
        report = TickReport()
        token = self.leases.begin()
        started = time.perf_counter()
        try:
            for part in parts:
                part(report)
        finally:
            self.leases.end(token)
            metrics.SWEEP_TICK.observe(time.perf_counter() - started)
        if report.timers or report.messages:
            log.info("sweep: timers %s, notifications %s", report.timers, report.messages)
        return report

    def _fire(self, report: TickReport) -> None:
        due_by = self.runtime.clock.now()
        for _ in range(MAX_BATCHES_PER_TICK):
            if self._stopping.is_set():
                return
            claimed = self._claim(Timer, "fire_at",
                                  ("id", "process", "case_id", "kind", "step"), due_by)
            by_process: dict[str, list[tuple[int, int, int | None]]] = defaultdict(list)
            for timer_id, process, case_id, kind, step in claimed:
                if kind == BATCH:  # long work, outside any case's transaction
                    report.add(report.timers, self.runner.run_batch(timer_id))
                    continue
                by_process[process].append((timer_id, case_id, step))
            for process, rows in by_process.items():
                timer_ids = [timer_id for timer_id, _, _ in rows]
                case_ids = sorted({case_id for _, case_id, _ in rows})
                # Escalation rungs, counted from 1, so the run's name says which fired.
                rungs = sorted({step + 1 for _, _, step in rows if step is not None})
                report.add(report.timers,
                           self.runner.process_timers(process, timer_ids, case_ids, rungs))
            if not claimed:
                break

    def _deliver(self, report: TickReport) -> None:
        # Every notification due now is claimed before any is sent, and handed on as one
        # delivery: each person then gets one digest per tick, not one per batch, however
        # many breaches a storm brought.
        due_by = self.runtime.clock.now()
        message_ids: list[int] = []
        for _ in range(MAX_BATCHES_PER_TICK):
            if self._stopping.is_set():
                break
            claimed = self._claim(OutboxMessage, "next_attempt_at", ("id",), due_by)
            if not claimed:
                break
            message_ids += [row[0] for row in claimed]
        if message_ids:
            report.add(report.messages, self.runner.deliver(message_ids))

    def _claim(self, model: type, due_column: str, returning: tuple[str, ...],
               due_by: datetime) -> list:
        rt = self.runtime
        return claim_due(rt.engine, model, due_column=due_column, now=rt.clock.now(),
                         limit=rt.settings.sweep_batch_size, instance=rt.settings.instance_id,
                         lease=rt.lease, returning=returning, due_by=due_by)
