"""One sweeper tick as a flow: the server-mode safety net when no API instance sweeps."""

from prefect import flow

from core import runtime
from core.settings import Settings
from core.sweeper import InlineRunner, Sweeper


@flow(name="sweep", log_prints=True)
def sweep() -> dict[str, dict[str, int]]:
    """Fire every due timer and deliver every due notification, then report the counts."""
    try:
        rt = runtime.current()
    except RuntimeError:
        rt = runtime.configure(Settings())
    report = Sweeper(rt, InlineRunner(rt)).tick()
    return {"timers": report.timers, "messages": report.messages}
