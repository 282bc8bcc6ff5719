"""Fire due timers: record escalations on the timeline and queue their notices."""

from prefect import task

from core import runtime
from core.escalations import fire_timers


@task(name="fire-timers", retries=2, retry_delay_seconds=1)
def fire_timers_task(timer_ids: list[int]) -> dict[str, int]:
    """Fire a batch of claimed timers, each at most once."""
    return fire_timers(runtime.current(), timer_ids)
