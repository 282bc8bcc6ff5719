"""Compensation batch steps: where it stands, the next chunk, the totals at the end, and
the artifacts that show them (made in tasks, so the Prefect UI files them under the run)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)

from core import runtime
from engine.db import session_scope
from processes.crisis import compensation as crisis_compensation


@task(name="compensation-progress")
def compensation_progress_task(crisis_id: int) -> dict[str, Any]:
    """Customers affected and compensated so far."""
    rt = runtime.for_flow_run()
    with session_scope(rt.engine) as session:
        return crisis_compensation.progress(session, crisis_id).as_dict()


@task(name="compensate-chunk", retries=2, retry_delay_seconds=1)
def compensate_chunk_task(crisis_id: int) -> dict[str, int]:
    """Compensate the next chunk of customers; a retry never compensates one twice.
    Returns how many it compensated and how many still wait."""
    chunk = crisis_compensation.issue_chunk(runtime.for_flow_run(), crisis_id)
    return {"issued": chunk.issued, "pending": chunk.pending}


@task(name="finish-compensation", retries=1, retry_delay_seconds=1)
def finish_compensation_task(crisis_id: int, issued_now: int) -> dict[str, Any]:
    """Record the totals on the crisis once every customer is compensated."""
    return crisis_compensation.finish(runtime.for_flow_run(), crisis_id,
                                      issued_now=issued_now).as_dict()


@task(name="publish-compensation-progress", retries=1, retry_delay_seconds=1)
async def publish_progress_task(crisis_id: int, state: dict[str, Any],
                                artifact_id: UUID | None = None) -> UUID:
    """Create the batch's progress artifact, or move it; return its id."""
    if artifact_id is None:
        return await acreate_progress_artifact(
            progress=float(state["percent"]), key=f"crisis-{crisis_id}-compensation",
            description=f"Crisis #{crisis_id}: customers compensated of {state['total']}")
    return await aupdate_progress_artifact(artifact_id, progress=float(state["percent"]))


@task(name="publish-compensation-total", retries=1, retry_delay_seconds=1)
async def publish_total_task(crisis_id: int, state: dict[str, Any], issued_now: int) -> None:
    """The batch's total, as a markdown artifact."""
    await acreate_markdown_artifact(
        key=f"crisis-{crisis_id}-compensation-total",
        description=f"Crisis #{crisis_id}: compensation total",
        markdown=(f"# Crisis #{crisis_id}: compensation\n\n"
                  "| customers affected | compensated | issued by this run | value |\n"
                  f"|---|---|---|---|\n| {state['total']} | {state['issued']} | "
                  f"{issued_now} | {state['value']:g} |\n\nStage: {state['stage']}."))
