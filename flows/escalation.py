"""Process a batch of due timers of one process: warnings, escalations, auto-closes."""

from prefect import flow
from prefect.runtime import flow_run

from tasks.escalate import fire_timers_task


def _run_name() -> str:
    params = flow_run.parameters
    ids = params["timer_ids"]
    return f"{params['process']}-timers-{ids[0]}-{len(ids)}" if ids else "no-timers"


@flow(name="process-due-timers", flow_run_name=_run_name, log_prints=True)
async def process_due_timers(process: str, timer_ids: list[int]) -> dict[str, int]:
    """Fire each claimed timer of the batch; its decisions are the domain's."""
    return fire_timers_task(timer_ids)
