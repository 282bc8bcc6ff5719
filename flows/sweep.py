"""One sweeper tick as a flow: the work a Prefect worker does in the server mode.

It claims due timers and notifications under its own instance id, as an API instance
does, and runs each batch as a flow run under it (named and tagged like the service's,
compensation batches with their progress artifact); more workers add capacity, since
instances never claim the same rows. It builds its runtime from the `CASEFLOW_*`
settings and refuses to start without the store, policies and secret it needs.
"""

from prefect import flow
from prefect.runtime import flow_run

from core import runtime
from engine.sweeper import Sweeper
from flows.runner import PrefectRunner


def _run_name() -> str:
    """`sweep-0841`: the minute it was scheduled for."""
    return f"sweep-{flow_run.scheduled_start_time:%H%M}"


@flow(name="sweep", flow_run_name=_run_name, log_prints=True)
def sweep() -> dict[str, dict[str, int]]:
    """Fire every due timer and deliver every due notification, then report the counts."""
    rt = runtime.for_flow_run()
    runner = PrefectRunner(rt, warm_up=False)
    runner.ready.set()  # this flow run answers for the Prefect API; a failed batch run inline
    report = Sweeper(rt, runner).tick()
    return {"timers": report.timers, "messages": report.messages}
