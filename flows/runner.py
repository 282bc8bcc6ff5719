"""The sweeper's work as Prefect flow runs: named and tagged by process, visible in the
Prefect UI, with the same functions inline whenever Prefect cannot run them."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine import hooks
from engine.batches import BatchRun, run_batch_timer
from engine.flow_runs import crash_orphaned_runs, flow_tags, id_ranges
from engine.heap import freeze_long_lived
from engine.sweeper import FlowRunner, InlineRunner
from flows.escalation import batch_tags, process_due_timers
from flows.notifications import deliver_notifications
from flows.warm_up import warm_up
from processes.crisis.flows import run_batch_as_flow as crisis_batch_as_flow

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.sweeper")

# The batch work that has a flow of its own, with its artifacts, by process.
BATCH_FLOWS: Mapping[str, hooks.RunBatch] = {"crisis": crisis_batch_as_flow}


def _run_batch_as_flow(runtime: Runtime, process: str, case_id: int, name: str
                       ) -> Mapping[str, Any]:
    run = BATCH_FLOWS.get(process)
    if run is None:
        return hooks.run_batch(runtime, process, case_id, name)
    return run(runtime, case_id, name)



# The local Prefect API can take a minute to start on a loaded 2-core machine; it is asked
# every few seconds, so that flow runs start soon after it answers.
WARM_UP_SECONDS, WARM_UP_PAUSE_SECONDS = 180.0, 2.0
# How often the leader looks for flow runs left Running by dead instances: a run of an
# instance killed is Crashed within this, plus the time PostgreSQL takes to see it gone
# (at once for a process killed; the TCP keepalive's 11 s for a host vanished).
ORPHAN_CHECK_SECONDS = 5.0


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
        self._orphans_failing = False
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
                _run_a_first_flow(self.inline.runtime)
                log.info("Prefect API ready; batches run as flow runs")
                freeze_long_lived()  # what the warm-up loaded lives as long as the service
                self.ready.set()
                return
            time.sleep(WARM_UP_PAUSE_SECONDS)
        log.warning("Prefect API unavailable after %.0f s (%s); batches run inline",
                    WARM_UP_SECONDS, type(error).__name__)

    def end_orphaned_runs(self) -> int:
        """End `Crashed` the flow runs dead instances left Running, on any host when the
        store is PostgreSQL (the leader calls this every ORPHAN_CHECK_SECONDS); how many.
        Nothing until the Prefect API answers; a failure is logged once until it passes."""
        if not self.ready.is_set():
            return 0
        try:
            crashed = crash_orphaned_runs(
                self.instance_id, self.inline.runtime.engine,
                finder=f"while leading (it looks every {ORPHAN_CHECK_SECONDS:.0f} s)")
        except Exception as exc:
            if not self._orphans_failing:
                log.warning("could not look for the runs of dead instances: %r", exc)
            self._orphans_failing = True
            return 0
        self._orphans_failing = False
        return crashed

    def process_timers(self, process: str, timer_ids: list[int], case_ids: list[int],
                       rungs: list[int] | None = None) -> dict[str, int]:
        if self.ready.is_set():
            try:
                with flow_tags(self.instance_id, *batch_tags(process, rungs or [])):
                    return asyncio.run(process_due_timers(
                        process=process, timer_ids=id_ranges(timer_ids),
                        case_ids=id_ranges(case_ids), rungs=rungs))
            except Exception:
                log.exception("flow run for %s timers failed; finishing inline", process)
        return self.inline.process_timers(process, timer_ids, case_ids)

    def run_batch(self, timer_id: int) -> dict[str, int]:
        """A batch timer's work as its process's flow (with its artifacts), else inline."""
        run: BatchRun = _run_batch_as_flow if self.ready.is_set() else hooks.run_batch
        return run_batch_timer(self.inline.runtime, timer_id, run=run)

    def deliver(self, message_ids: list[int]) -> dict[str, int]:
        if self.ready.is_set():
            try:
                with flow_tags(self.instance_id, "notifications"):
                    return asyncio.run(deliver_notifications(
                        message_ids=id_ranges(message_ids)))
            except Exception:
                log.exception("flow run for notifications failed; finishing inline")
        return self.inline.deliver(message_ids)


def _run_a_first_flow(runtime: Runtime) -> None:
    """End the runs dead instances left Running and run the warm-up flow, so that the
    first batch, perhaps a storm's, runs on a warm engine; if it fails, the batches' own
    runs will tell."""
    instance_id = runtime.settings.instance_id
    try:
        crash_orphaned_runs(instance_id, runtime.engine)
    except Exception:
        log.warning("could not end the runs of dead instances", exc_info=True)
    try:
        with flow_tags(instance_id, "warm-up"):
            asyncio.run(warm_up())
    except Exception:
        log.warning("the warm-up flow run failed", exc_info=True)



def make_runner(runtime: Runtime) -> FlowRunner:
    if runtime.settings.flow_runner == "prefect":
        return PrefectRunner(runtime)
    return InlineRunner(runtime)
