"""A crisis's compensation batch as a flow: chunk by chunk, with a progress artifact.

The flow decides nothing: each chunk task compensates the next customers who have no
compensation yet, so a re-run or a resumed run after an interruption picks up where the
last one stopped. The progress artifact moves after each chunk; a markdown artifact
gives the total at the end.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.compensation import (
    compensate_chunk_task,
    compensation_progress_task,
    finish_compensation_task,
    publish_progress_task,
    publish_total_task,
)


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
