"""Fire due timers: record escalations on the timeline and queue their notices."""

from prefect import task
from prefect.artifacts import acreate_table_artifact

from core import runtime
from engine.escalation_report import fired_rungs
from engine.escalations import fire_timers
from engine.flow_runs import ids_in


@task(name="fire-timers", retries=2, retry_delay_seconds=1)
def fire_timers_task(timer_ids: str) -> dict[str, int]:
    """Fire a batch of claimed timers (ids as ranges), each at most once."""
    return fire_timers(runtime.for_flow_run(), ids_in(timer_ids))


@task(name="publish-fired-rungs", retries=1, retry_delay_seconds=1)
async def publish_fired_task(timer_ids: str) -> int:
    """Publish the escalation rungs the batch fired (ids as ranges) as a table artifact;
    how many fired."""
    rows, fired = fired_rungs(runtime.for_flow_run(), ids_in(timer_ids))
    if rows:
        shown = f"the first {len(rows)} of {fired}" if fired > len(rows) else str(fired)
        await acreate_table_artifact(
            table=rows, key="escalations-fired",
            description=f"Escalation rungs fired by this run: {shown}")
    return fired
