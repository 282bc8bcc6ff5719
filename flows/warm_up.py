"""A flow run that does nothing, run once when the service finds its Prefect API ready."""

from prefect import flow


@flow(name="caseflow-warm-up", flow_run_name="warm-up")
async def warm_up() -> str:
    """Nothing to do: the first flow run in a process pays the engine's and the client's
    set-up (3.1 s for a first batch of 10,000 timers here, 0.4 s for the next), and a
    storm's first batch should not be the one that pays it."""
    return "ready"
