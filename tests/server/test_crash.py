"""A killed instance's flow runs end Crashed while it stays dead; a live worker's never.

Two Caseflow instances on one PostgreSQL store and a `prefect server` on PostgreSQL, with
the service's defaults (a sweep every second, a 10 s claim lease), and two flow runs as
a Prefect worker's processes run them (tests/server/worker_flow.py: their runtime from
`runtime.for_flow_run()`). Complaints with second-scale SLAs are opened at a steady pace
from both instances; then, while the leader is in the middle of a flow run (a slow
recipient holds its delivery), it is killed with SIGKILL together with one of the worker
runs, and neither comes back. The survivor ends both dead owners' runs Crashed within
15 s, naming them and itself; the other worker run, alive all along, completes; every
rung fires once and every notice arrives. The rungs' lateness is printed: steady (due
well before the recipient slowed down) and after the kill.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.e2e.service import ServiceProcess
from tests.e2e.test_escalation_end_to_end import FAST_CLOCKS, LADDER, ladder_of
from tests.server.conftest import PrefectServer, stop_group
from tests.server.test_topology import (
    NOTICES_PER_CASE,
    SECRET,
    lateness,
    percentile,
    staff_notices,
    wait_for,
)
from tests.support import REPO, WebhookReceiver, write_policies

pytestmark = pytest.mark.server

OPEN_EVERY = 0.5  # seconds between complaints: a steady pace, not a storm
STEADY_SECONDS = 20.0  # opened at that pace before the recipient slows down
AFTER_SECONDS = 12.0  # and after the kill, on the survivor
SLOW_RECIPIENT = 2.5  # seconds a post waits: under apprise's 4 s read timeout
CRASHED_WITHIN = 15.0
# Rungs due this long before the recipient slows down are the steady ones: the later ones
# may wait for a delivery held up, or for a lease of the instance killed.
STEADY_MARGIN = 5.0
LIVE_RUN_SECONDS = 60.0  # the live worker run spans the kill and several checks


@dataclass
class WorkerRun:
    """A worker's flow run in a process of its own: its instance id and child run."""

    process: subprocess.Popen[str]
    instance: str
    child: str


def _start_worker_run(env: dict[str, str], seconds: float, started: list[WorkerRun]
                      ) -> WorkerRun:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.worker_flow", str(seconds)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert process.stdout is not None
    lines = {}
    while len(lines) < 2:
        line = process.stdout.readline()
        assert line, f"the worker run exited with {process.wait(30)} before its child started"
        word, _, value = line.strip().partition(" ")
        if word in ("instance", "child"):
            lines[word] = value
    started.append(WorkerRun(process, lines["instance"], lines["child"]))
    return started[-1]


@pytest.fixture
def two_instances(deployed: PrefectServer, store_url: str, receiver: WebhookReceiver,
                  tmp_path: Path
                  ) -> Iterator[tuple[list[ServiceProcess], dict[str, str], list[WorkerRun]]]:
    """Two instances with the service's sweep interval and lease; the settings a worker
    would have; the worker runs started. All stopped afterwards."""
    policies = write_policies(tmp_path / "policies", receiver=receiver,
                              complaint={"clocks": FAST_CLOCKS})
    shared = {"CASEFLOW_DATABASE_URL": store_url, "CASEFLOW_POLICIES": str(policies),
              "CASEFLOW_SURVEY_SECRET": SECRET, "PREFECT_API_URL": deployed.api_url}
    instances, worker_runs = [], []
    for name in ("a", "b"):
        data = tmp_path / f"data-{name}"
        data.mkdir()
        instances.append(ServiceProcess(data, policies, **shared,
                                        CASEFLOW_REVIEW_SCHEDULER_ENABLED="false",
                                        CASEFLOW_SWEEP_INTERVAL_SECONDS="1"))
    try:
        for instance in instances:  # one after the other: the first migrates the store
            instance.start(timeout=90)
        yield instances, {**deployed.env, **shared,
                          "PREFECT_HOME": str(tmp_path / "worker-home")}, worker_runs
    finally:
        for run in worker_runs:
            stop_group(run.process)
        for instance in instances:
            instance.stop()


def _runs(client: SyncPrefectClient, state: StateType) -> list[FlowRun]:
    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        tags=FlowRunFilterTags(all_=["caseflow"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))),
        limit=200, offset=0)


def _owned_by(runs: list[FlowRun], instance: str) -> list[FlowRun]:
    return [run for run in runs if f"instance:{instance}" in run.tags]


def test_a_killed_instance_s_runs_end_crashed_while_it_stays_dead_and_a_live_worker_s_never(
        two_instances, deployed: PrefectServer, receiver: WebhookReceiver, store_url: str
) -> None:
    instances, worker_env, worker_runs = two_instances

    def logs() -> str:
        return "\n".join(f"--- instance {i.port} ---\n{i.log()}" for i in instances)

    leader = next((i for i in instances if "runs the scheduler" in i.log()), None)
    assert leader is not None, logs()
    survivor = instances[1] if leader is instances[0] else instances[0]
    leader_id = httpx.get(f"{leader.url}/health", timeout=5).json()["instance"]
    survivor_id = httpx.get(f"{survivor.url}/health", timeout=5).json()["instance"]
    live = _start_worker_run(worker_env, LIVE_RUN_SECONDS, worker_runs)
    doomed = _start_worker_run(worker_env, 600, worker_runs)
    wait_for(lambda: "Prefect API ready" in leader.log(), 120, "the leader's flow runs", logs)

    # The first instance saved the admin key; the keys are the store's, good on both.
    manager = instances[0].client_as("manager", "liu.yang")
    agent = instances[0].client_as("agent", "web-form", ["complaints"])
    openers = {i.url: httpx.Client(base_url=i.url, timeout=10, headers=agent.headers)
               for i in instances}
    targets = [i.url for i in instances]
    ids: list[int] = []
    failures: list[str] = []
    stop_opening = threading.Event()

    def open_steadily() -> None:
        n = 0
        while not stop_opening.is_set():
            began = time.monotonic()
            url = targets[n % len(targets)]
            try:
                response = openers[url].post("/cases", json={
                    "subject": "router keeps dropping",
                    "customer": {"ref": f"c-{n}", "tier": "B"}})
                if response.status_code == 201:
                    ids.append(response.json()["id"])
                else:
                    failures.append(f"{url}: {response.status_code} {response.text}")
            except httpx.HTTPError as exc:  # the leader, killed under a request
                if url != leader.url:
                    failures.append(f"{url}: {exc!r}")
            n += 1
            time.sleep(max(0.0, OPEN_EVERY - (time.monotonic() - began)))

    opener = threading.Thread(target=open_steadily, daemon=True)
    opener.start()
    with temporary_settings({PREFECT_API_URL: deployed.api_url}), \
            get_client(sync_client=True) as client:
        time.sleep(STEADY_SECONDS)
        slowed_at = datetime.now(UTC)
        receiver.delay = SLOW_RECIPIENT
        in_flight: list[FlowRun] = []

        seen: set[str] = set()

        def delivering() -> bool:  # the leader's delivery, held up by the slow recipient
            running = _runs(client, StateType.RUNNING)
            seen.update(f"{run.name} {sorted(run.tags)}" for run in running)
            in_flight[:] = [run for run in _owned_by(running, leader_id)
                            if "notifications" in run.tags]
            return bool(in_flight)

        wait_for(delivering, 30, "a delivery of the leader in progress",
                 lambda: f"leader {leader_id}, Running seen: {sorted(seen)}\n{logs()}")
        leader.kill()
        os.killpg(doomed.process.pid, 9)
        killed_at, killed = datetime.now(UTC), time.monotonic()
        targets.remove(leader.url)
        receiver.delay = 0.0
        doomed.process.wait(10)

        def crashed_runs() -> list[FlowRun]:
            return _runs(client, StateType.CRASHED)

        wait_for(lambda: not _owned_by(_runs(client, StateType.RUNNING), leader_id)
                 and doomed.child in {str(r.id) for r in crashed_runs()},
                 CRASHED_WITHIN, "the dead instances' runs Crashed", logs)
        took = time.monotonic() - killed
        crashed = crashed_runs()
        by_leader = _owned_by(crashed, leader_id)
        assert {str(run.id) for run in in_flight} <= {str(run.id) for run in by_leader}
        for run in by_leader + _owned_by(crashed, doomed.instance):
            owner = leader_id if run in by_leader else doomed.instance
            # Found as the survivor took the lead, or at one of its checks since.
            assert run.state is not None and run.state.message.startswith(
                f"instance {owner} stopped during the run; instance {survivor_id} found it "
            ), run.state
        assert leader.process is not None and leader.process.poll() is not None  # still dead
        print(f"\nthe dead instances' {len(by_leader)} + 1 runs Crashed {took:.1f} s after "
              f"the kill")

        time.sleep(AFTER_SECONDS)
        stop_opening.set()
        opener.join(30)
        assert failures == [], failures
        reader = httpx.Client(base_url=survivor.url, timeout=10, headers=manager.headers)

        def cases() -> list[dict]:
            return [reader.get(f"/cases/{i}").json() for i in ids]

        wait_for(lambda: all(len(ladder_of(c)) == 4 for c in cases()), 90,
                 "every rung of every case", logs)
        # A digest of more than 50 lines names only the lines it shows (docs/messages.md),
        # and the survivor's first digests carry the backlog: the store says whether every
        # notice went out.
        every_notice = {"delivered": len(ids) * NOTICES_PER_CASE}
        wait_for(lambda: staff_notices(store_url) == every_notice, 60, "every notice", logs)
        # The live worker run completes, never Crashed, though it ran through the checks.
        wait_for(lambda: live.process.poll() is not None, LIVE_RUN_SECONDS + 30,
                 "the live worker run's end", logs)
        assert live.process.returncode == 0
        state = client.read_flow_run(live.child).state
        assert state is not None and state.is_completed(), state
        owners = {tag for run in crashed_runs() for tag in run.tags
                  if tag.startswith("instance:")}
        assert owners == {f"instance:{leader_id}", f"instance:{doomed.instance}"}
        assert _owned_by(_runs(client, StateType.RUNNING), leader_id) == []

    final = cases()
    assert all(ladder_of(c) == LADDER for c in final)
    assert staff_notices(store_url) == every_notice
    late = [rung for c in final for rung in lateness(c)]
    steady = [s for due, s in late if (slowed_at - due).total_seconds() > STEADY_MARGIN]
    after = [s for due, s in late if due >= killed_at]
    for name, values in (("steady", steady), ("after the kill", after)):
        print(f"rung lateness {name}, {len(values)} rungs: p50 {percentile(values, 50):.2f} s,"
              f" p99 {percentile(values, 99):.2f} s, max {max(values):.2f} s")
    assert percentile(after, 99) <= 15, "a crash delays a rung by a lease and a tick at most"
