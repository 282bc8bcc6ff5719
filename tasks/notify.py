"""Deliver queued notifications through apprise, one digest per recipient."""

from prefect import task

from core import runtime
from engine.delivery import deliver_messages
from engine.flow_runs import ids_in


@task(name="deliver-messages", retries=1, retry_delay_seconds=1)
def deliver_messages_task(message_ids: str) -> dict[str, int]:
    """Send a batch of claimed outbox messages (ids as ranges)."""
    return deliver_messages(runtime.for_flow_run(), ids_in(message_ids))
