"""Process a batch of due timers of one process: warnings, escalations, auto-closes."""

from prefect import flow
from prefect.runtime import flow_run

from tasks.escalate import fire_timers_task


def _run_name() -> str:
    """`complaint-42` for one case's timers; `complaint-3-cases-40-to-42` for a batch."""
    params = flow_run.parameters
    process, cases = params["process"], params["case_ids"]
    if len(cases) == 1:
        return f"{process}-{cases[0]}"
    return f"{process}-{len(cases)}-cases-{cases[0]}-to-{cases[-1]}"


@flow(name="process-due-timers", flow_run_name=_run_name)
async def process_due_timers(process: str, timer_ids: list[int],
                             case_ids: list[int]) -> dict[str, int]:
    """Fire each claimed timer of the batch (of `case_ids`); the decisions are the domain's."""
    return fire_timers_task(timer_ids)
