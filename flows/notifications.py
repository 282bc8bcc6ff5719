"""Deliver a batch of queued notifications, grouped into one digest per recipient."""

from prefect import flow
from prefect.runtime import flow_run

from engine.flow_runs import ids_in, listed
from tasks.notify import deliver_messages_task


def _run_name() -> str:
    """`notify-message-2875`, `notify-messages-2875,2880` or `notify-633-messages`."""
    return f"notify-{listed('message', ids_in(flow_run.parameters['message_ids']))}"


@flow(name="deliver-notifications", flow_run_name=_run_name)
async def deliver_notifications(message_ids: str) -> dict[str, int]:
    """Send the batch (its ids as ranges, `engine.flow_runs.id_ranges`); failures are
    retried later from the outbox."""
    return deliver_messages_task(message_ids)
