"""Caseflow's flow runs as people see them in Prefect: names, common tags, and no run
left `Running` by an instance that died.

Every flow run this service starts carries the `caseflow` tag (as the deployments' do)
and `instance:<id>` naming the instance that runs it. A killed instance cannot end its
runs, so the next one to start on its host ends them `Crashed`: those tagged with its
own instance id (an id set by hand survives a restart) or with an id `<host>-<pid>`
(the default) whose process no longer exists.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("caseflow.flow_runs")

CASEFLOW_TAG = "caseflow"
INSTANCE_PREFIX = "instance:"
REQUEST_PREFIX = "request:"
# Up to this many ids are listed in a run's name; more are counted, never shown as a
# range, which would suggest the ids between.
LISTED = 3


def listed(noun: str, ids: list[int]) -> str:
    """`case-42`, `cases-40,41,45` or `250-cases`: ids listed while few, else counted."""
    if len(ids) == 1:
        return f"{noun}-{ids[0]}"
    if len(ids) <= LISTED:
        return f"{noun}s-{','.join(map(str, ids))}"
    return f"{len(ids)}-{noun}s"


@contextmanager
def flow_tags(instance_id: str, *tags: str) -> Iterator[None]:
    """Tag the flow runs started inside: `caseflow`, the instance, and `tags`; and
    `request:<id>` when they work for a request (`engine.request_context`)."""
    from prefect import tags as prefect_tags

    from engine import request_context

    request_id = request_context.current()
    asked = (REQUEST_PREFIX + request_id,) if request_id else ()
    with prefect_tags(CASEFLOW_TAG, INSTANCE_PREFIX + instance_id, *tags, *asked):
        yield


def is_dead(instance_id: str, me: str) -> bool:
    """Whether the instance that ran a flow run is gone, as far as this host can tell."""
    if instance_id == me:
        return True  # this instance's previous incarnation: this one is starting
    host, _, pid = instance_id.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's, or a named instance's: only it knows
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def crash_orphaned_runs(me: str) -> int:
    """End `Crashed` the flow runs left `Running` by dead instances of this host; how many."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Crashed

    running = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[CASEFLOW_TAG]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    crashed = 0
    with get_client(sync_client=True) as client:
        # Every argument given: the server refuses a null sort or limit.
        for run in client.read_flow_runs(flow_run_filter=running, limit=200, offset=0,
                                         sort=FlowRunSort.START_TIME_ASC):
            owners = [tag.removeprefix(INSTANCE_PREFIX) for tag in run.tags
                      if tag.startswith(INSTANCE_PREFIX)]
            if len(owners) != 1 or not is_dead(owners[0], me):
                continue
            client.set_flow_run_state(run.id, Crashed(
                message=f"instance {owners[0]} stopped during the run; {me} found it "
                        "at its start"), force=True)
            crashed += 1
    if crashed:
        log.warning("%s flow runs of dead instances ended Crashed", crashed)
    return crashed
