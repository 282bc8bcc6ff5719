"""The sweeper: each tick claims due timers and pending notifications and hands them on.

Work is handed to a `FlowRunner` in batches: the Prefect flows in the service, or the
same functions inline. A tick keeps claiming until nothing is due, so a storm drains in
one tick, and a case that was due for several rungs (after downtime) climbs them all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from core import metrics
from core.batches import run_batch_timer
from core.claims import Leases, claim_due
from core.delivery import deliver_messages
from core.escalations import fire_timers
from core.flow_runs import crash_orphaned_runs, flow_tags
from core.heap import freeze_long_lived
from core.models import OutboxMessage, Timer
from core.runtime import Runtime
from domain.timers import BATCH

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


# The local Prefect API can take a minute to start on a loaded 2-core machine; it is asked
# every few seconds, so that flow runs start soon after it answers.
WARM_UP_SECONDS, WARM_UP_PAUSE_SECONDS = 180.0, 2.0


class PrefectRunner:
    """Run each batch as a Prefect flow run, tagged by process, visible in the Prefect UI.

    Deadlines never wait for Prefect: until its API answers (the local one takes seconds
    to start), or when a flow run fails, the batch runs inline. Work already done is not
    done again, since every timer and message is checked against its claim.
    """

    def __init__(self, runtime: Runtime, *, warm_up: bool = True) -> None:
        self.inline = InlineRunner(runtime)
        self.instance_id = runtime.settings.instance_id
        self.ready = threading.Event()
        if warm_up:
            threading.Thread(target=self._warm_up, name="prefect-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        """Wait for the Prefect API, then run a first flow."""
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + WARM_UP_SECONDS
        error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with get_client(sync_client=True) as client:
                    error = client.api_healthcheck()
            except Exception as exc:
                error = exc
            if error is None:
                _run_a_first_flow(self.instance_id)
                log.info("Prefect API ready; batches run as flow runs")
                freeze_long_lived()  # what the warm-up loaded lives as long as the service
                self.ready.set()
                return
            time.sleep(WARM_UP_PAUSE_SECONDS)
        log.warning("Prefect API unavailable after %.0f s (%s); batches run inline",
                    WARM_UP_SECONDS, type(error).__name__)

    def process_timers(self, process: str, timer_ids: list[int], case_ids: list[int],
                       rungs: list[int] | None = None) -> dict[str, int]:
        from flows.escalation import batch_tags, process_due_timers

        if self.ready.is_set():
            try:
                with flow_tags(self.instance_id, *batch_tags(process, rungs or [])):
                    return asyncio.run(process_due_timers(
                        process=process, timer_ids=timer_ids, case_ids=case_ids,
                        rungs=rungs))
            except Exception:
                log.exception("flow run for %s timers failed; finishing inline", process)
        return self.inline.process_timers(process, timer_ids, case_ids)

    def run_batch(self, timer_id: int) -> dict[str, int]:
        """A batch timer's work as its process's flow (with its artifacts), else inline."""
        return run_batch_timer(self.inline.runtime, timer_id, via_prefect=self.ready.is_set())

    def deliver(self, message_ids: list[int]) -> dict[str, int]:
        from flows.notifications import deliver_notifications

        if self.ready.is_set():
            try:
                with flow_tags(self.instance_id, "notifications"):
                    return asyncio.run(deliver_notifications(message_ids=message_ids))
            except Exception:
                log.exception("flow run for notifications failed; finishing inline")
        return self.inline.deliver(message_ids)


def _run_a_first_flow(instance_id: str) -> None:
    """End the runs dead instances left Running, import the flows and run the warm-up
    flow, so that the first batch, perhaps a storm's, runs on a warm engine; if it
    fails, the batches' own runs will tell."""
    import flows.escalation  # noqa: F401 - imported now rather than by the first batch
    import flows.notifications  # noqa: F401
    from flows.warm_up import warm_up

    try:
        crash_orphaned_runs(instance_id)
    except Exception:
        log.warning("could not end the runs of dead instances", exc_info=True)
    try:
        with flow_tags(instance_id, "warm-up"):
            asyncio.run(warm_up())
    except Exception:
        log.warning("the warm-up flow run failed", exc_info=True)


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
        """Fire every due timer, then deliver every due notification; the claims taken
        meanwhile are in hand, for `leases` to renew."""
        self.leases.begin()
        started = time.perf_counter()
        try:
            return self._tick()
        finally:
            self.leases.end()
            metrics.SWEEP_TICK.observe(time.perf_counter() - started)

    def _tick(self) -> TickReport:
        report = TickReport()
        for _ in range(MAX_BATCHES_PER_TICK):
            if self._stopping.is_set():
                return report
            claimed = self._claim(Timer, "fire_at",
                                  ("id", "process", "case_id", "kind", "step"))
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
        # Every notification due now is claimed before any is sent, and handed on as one
        # delivery: each person then gets one digest per tick, not one per batch, however
        # many breaches a storm brought.
        message_ids: list[int] = []
        for _ in range(MAX_BATCHES_PER_TICK):
            if self._stopping.is_set():
                break
            claimed = self._claim(OutboxMessage, "next_attempt_at", ("id",))
            if not claimed:
                break
            message_ids += [row[0] for row in claimed]
        if message_ids:
            report.add(report.messages, self.runner.deliver(message_ids))
        if report.timers or report.messages:
            log.info("sweep: timers %s, notifications %s", report.timers, report.messages)
        return report

    def _claim(self, model: type, due_column: str, returning: tuple[str, ...]) -> list:
        rt = self.runtime
        return claim_due(rt.engine, model, due_column=due_column, now=rt.clock.now(),
                         limit=rt.settings.sweep_batch_size, instance=rt.settings.instance_id,
                         lease=rt.lease, returning=returning)


def make_runner(runtime: Runtime) -> FlowRunner:
    if runtime.settings.flow_runner == "prefect":
        return PrefectRunner(runtime)
    return InlineRunner(runtime)
