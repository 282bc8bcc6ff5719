"""Deliver queued notifications through apprise, one digest per recipient."""

from prefect import task

from core import runtime
from engine.delivery import deliver_messages


@task(name="deliver-messages", retries=1, retry_delay_seconds=1)
def deliver_messages_task(message_ids: list[int]) -> dict[str, int]:
    """Send a batch of claimed outbox messages."""
    return deliver_messages(runtime.for_flow_run(), message_ids)
