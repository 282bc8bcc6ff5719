"""A flow run as a Prefect worker's process runs one, held open for a while.

Like the `sweep` deployment's run (flows/sweep.py), its flow builds the runtime with
`runtime.for_flow_run()` (which takes the instance's liveness lock on PostgreSQL) and
runs a child flow run tagged `caseflow` and `instance:<its instance id>`; the child
here only waits `seconds`, so that a test can watch it through a crash elsewhere, or
kill the process in the middle of it. Prints `instance <id>`, then `child <flow run id>`.
The parent carries no `caseflow` tag: a deployment's run gets its tags from prefect.yaml,
and a Prefect worker ends it itself when its process dies.

    python -m tests.server.worker_flow SECONDS   (with the CASEFLOW_* and PREFECT_API_URL
                                                  settings of a worker)
"""

from __future__ import annotations

import sys
import time

from prefect import flow
from prefect.runtime import flow_run

from core import runtime
from engine.flow_runs import flow_tags


@flow(name="held-batch")
def held_batch(seconds: float) -> None:
    print(f"child {flow_run.id}", flush=True)
    time.sleep(seconds)


@flow(name="worker-run")
def worker_run(seconds: float) -> None:
    rt = runtime.for_flow_run()
    print(f"instance {rt.settings.instance_id}", flush=True)
    with flow_tags(rt.settings.instance_id, "held"):
        held_batch(seconds)


if __name__ == "__main__":
    worker_run(float(sys.argv[1]))
