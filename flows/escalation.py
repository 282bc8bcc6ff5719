"""Process a batch of due timers of one process: warnings, escalations, auto-closes."""

from prefect import flow
from prefect.runtime import flow_run

from engine.flow_runs import ids_in, listed
from tasks.escalate import fire_timers_task, publish_fired_task


def rung_label(rungs: list[int]) -> str:
    """`rung-2` or `rungs-1,2` (1 is the ladder's first rung); empty for other timers."""
    if not rungs:
        return ""
    return f"-rung-{rungs[0]}" if len(rungs) == 1 else f"-rungs-{','.join(map(str, rungs))}"


def batch_tags(process: str, rungs: list[int]) -> list[str]:
    """The tags of a batch's flow run, besides `caseflow` and the instance."""
    return [process, "timers", *(f"rung-{rung}" for rung in rungs)]


def _run_name() -> str:
    """`complaint-case-42-rung-2`, `complaint-cases-40,41-rung-1`, `followup-250-cases`."""
    params = flow_run.parameters
    return (f"{params['process']}-{listed('case', ids_in(params['case_ids']))}"
            f"{rung_label(params.get('rungs') or [])}")


@flow(name="process-due-timers", flow_run_name=_run_name)
async def process_due_timers(process: str, timer_ids: str, case_ids: str,
                             rungs: list[int] | None = None) -> dict[str, int]:
    """Fire each claimed timer of the batch (of `case_ids`; escalation `rungs`, counted
    from 1), then publish what fired as a table; the decisions are the domain's. The
    ids are ranges (`engine.flow_runs.id_ranges`: `3-7,9`)."""
    outcome = fire_timers_task(timer_ids)
    if rungs:
        await publish_fired_task(timer_ids)
    return outcome
