"""A crisis's compensation batch as a flow: chunk by chunk, with a progress artifact.

The flow decides nothing: each chunk task compensates the next customers who have no
compensation yet, so a re-run or a resumed run after an interruption picks up where the
last one stopped. The progress artifact moves after each chunk; a markdown artifact
gives the total at the end.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from prefect import flow

from domain.crisis import rules as crisis
from engine.flow_runs import flow_tags
from processes.crisis import hooks
from processes.crisis.tasks import (
    compensate_chunk_task,
    compensation_progress_task,
    finish_compensation_task,
    publish_progress_task,
    publish_total_task,
)

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.crisis")


@flow(name="crisis-compensation", flow_run_name="crisis-{crisis_id}-compensation")
async def compensate_customers(crisis_id: int) -> dict[str, Any]:
    """Compensate every affected customer of the crisis once; publish progress and total."""
    state = compensation_progress_task(crisis_id)
    artifact = await publish_progress_task(crisis_id, state)
    issued_now, pending = 0, state["total"] - state["issued"]
    while pending > 0:
        chunk = compensate_chunk_task(crisis_id)
        issued_now, pending = issued_now + chunk["issued"], chunk["pending"]
        state = compensation_progress_task(crisis_id)
        await publish_progress_task(crisis_id, state, artifact)
    final = finish_compensation_task(crisis_id, issued_now)
    await publish_total_task(crisis_id, final, issued_now)
    return {**final, "issued_now": issued_now}


def run_batch_as_flow(runtime: Runtime, case_id: int, name: str) -> dict[str, Any]:
    """A crisis's batch as a flow run, with its artifacts; inline when the flow run fails
    (the batch resumes where the flow stopped: nobody is compensated twice)."""
    if name != "compensation":
        raise LookupError(f"crisis has no batch {name!r}")
    try:
        with flow_tags(runtime.settings.instance_id, crisis.NAME, "compensation",
                       f"case-{case_id}"):
            result = asyncio.run(compensate_customers(crisis_id=case_id))
    except Exception:
        log.exception("compensation flow of crisis %s failed; finishing inline", case_id)
        return hooks.run_batch(runtime, case_id, name)
    return hooks.require_finished(case_id, result)
