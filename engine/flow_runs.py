"""Caseflow's flow runs as people see them in Prefect: names, common tags, and no run
left `Running` by an instance that died.

Every flow run this service starts carries the `caseflow` tag (as the deployments' do)
and `instance:<id>` naming the instance that runs it: an API instance (`<host>-<pid>`
unless `CASEFLOW_INSTANCE_ID` names it), or the process of a flow run on a Prefect
worker, whose runtime (`core.runtime.for_flow_run`) has an id of its own. A killed
instance cannot end its runs, so the others do (`crash_orphaned_runs`):

- On PostgreSQL, every process that tags runs holds a shared advisory lock keyed on its
  instance id from before its first run until it exits (engine.coordination), and
  PostgreSQL drops it with the process's connection. An owner nobody holds the lock of
  is dead, whichever host it ran on. The leader (who runs the scheduler) looks when its
  Prefect API first answers and then every few seconds, so a killed instance's runs end
  `Crashed` within about 5 s, a vanished host's within about 16 s (the keepalive's 11 s
  first), and a live worker's never: its flow run holds its lock while it runs.
- On SQLite (one host), an owner with a default id of this host whose process is gone is
  dead; another host's, or an id set by hand, is left alone.
- This instance's own id is dead for runs that started before this process did: a
  previous incarnation's, under an id set by hand (which survives a restart) or a pid
  used again.

The runs' messages name the dead instance and the instance that found it. A Prefect
server serves one Caseflow store (its deployments and work pool say so already): every
`instance:` tag on it names an instance of that store.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.coordination import dead_instances
from engine.db import is_postgres

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("caseflow.flow_runs")
# Every flow run this process tags goes through `flow_tags`, so started after this.
STARTED_AT = datetime.now(UTC)

CASEFLOW_TAG = "caseflow"
INSTANCE_PREFIX = "instance:"
REQUEST_PREFIX = "request:"
# Up to this many ids are listed in a run's name; more are counted, never shown as a
# range, which would suggest the ids between.
LISTED = 3
PAGE = 200  # Running runs read per request


def id_ranges(ids: Iterable[int]) -> str:
    """Ids as a flow run's parameter: `3-7,9,12-15`, in order, each run of consecutive ids
    as a range. A storm's 10,000 timer ids as a list cost Prefect a few tenths of a second
    of CPU at the start of each run and of each of its tasks (it visits, validates and
    serialises every element), before the first deadline was recorded; and they filled
    the run's page in the Prefect UI."""
    parts: list[str] = []
    ordered = sorted(set(ids))
    start = 0
    for i, value in enumerate(ordered):
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            first = ordered[start]
            parts.append(str(first) if first == value else f"{first}-{value}")
            start = i + 1
    return ",".join(parts)


def ids_in(ranges: str) -> list[int]:
    """The ids `id_ranges` wrote, in order; `ValueError` for any other text."""
    ids: list[int] = []
    for part in ranges.split(",") if ranges else []:
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not (last.isdigit() and int(last) > int(first))):
            raise ValueError(f"not ids as ranges (`3-7,9`): {ranges[:80]!r}")
        ids += range(int(first), int(last if dash else first) + 1)
    return ids


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


def is_dead(instance_id: str) -> bool:
    """Whether a process named by a default id (`<host>-<pid>`) of this host is gone;
    False for another host's id or an id set by hand: only PostgreSQL can tell those."""
    host, _, pid = instance_id.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def dead_owners(owners: set[str], me: str, engine: Engine | None) -> set[str]:
    """The owners among `owners` (not this instance) that are gone: on PostgreSQL those
    whose liveness lock nobody holds (and, for a default id of this host, whose process
    is gone too: a process of an older Caseflow holds no lock); else those of this host
    whose process is gone."""
    others = owners - {me}
    if engine is not None and is_postgres(engine):
        unlocked = dead_instances(engine, others)
        return {owner for owner in unlocked if not _this_host(owner) or is_dead(owner)}
    return {owner for owner in others if is_dead(owner)}


def _this_host(instance_id: str) -> bool:
    host, _, pid = instance_id.rpartition("-")
    return host == socket.gethostname() and pid.isdigit()


def crash_orphaned_runs(me: str, engine: Engine | None = None, *,
                        since: datetime | None = None, finder: str = "at its start") -> int:
    """End `Crashed` the flow runs left `Running` by dead instances; how many.

    A run's owner is its one `instance:` tag. This instance's own runs are dead when
    they started before `since` (default: when this process first imported this module,
    which every run it tags goes through): a previous incarnation's, under an id set by
    hand or a pid used again. Other owners are dead as `dead_owners` says: with
    `engine` on PostgreSQL, on any host; else only on this one. `finder` ends the
    runs' message, after who found them.
    """
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

    since = since or STARTED_AT
    running = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[CASEFLOW_TAG]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    crashed = 0
    with get_client(sync_client=True) as client:
        runs, offset = [], 0
        while True:  # every argument given: the server refuses a null sort or limit
            page = client.read_flow_runs(flow_run_filter=running, limit=PAGE, offset=offset,
                                         sort=FlowRunSort.START_TIME_ASC)
            runs += page
            if len(page) < PAGE:
                break
            offset += PAGE
        owned = [(run, owner) for run in runs if (owner := _owner(run.tags)) is not None]
        dead = dead_owners({owner for _, owner in owned}, me, engine)
        for run, owner in owned:
            if owner == me:
                if run.start_time is None or run.start_time >= since:
                    continue  # this process's own, alive
            elif owner not in dead:
                continue
            client.set_flow_run_state(run.id, Crashed(
                message=f"instance {owner} stopped during the run; instance {me} found it "
                        f"{finder}"), force=True)
            crashed += 1
    if crashed:
        log.warning("%s flow runs of dead instances ended Crashed", crashed)
    return crashed


def _owner(tags: list[str]) -> str | None:
    """The instance named by a run's one `instance:` tag, if it has exactly one."""
    owners = [tag.removeprefix(INSTANCE_PREFIX) for tag in tags
              if tag.startswith(INSTANCE_PREFIX)]
    return owners[0] if len(owners) == 1 else None
