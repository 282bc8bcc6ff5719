"""A killed instance's flow run ends Crashed, not Running for ever: on a SQLite store
(no engine given) when an instance of its host looks; live instances' and other hosts'
runs are left alone. (On PostgreSQL, any host's: tests/server/test_crash.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.states import Running

from engine.flow_runs import crash_orphaned_runs, flow_tags
from tests.support import REPO

# An instance (default id: host-pid) in the middle of a flow run, until it is killed.
STUCK = """
import os, socket, time
from prefect import flow
from prefect.runtime import flow_run
from engine.flow_runs import flow_tags

@flow(name="stuck-batch")
def stuck():
    print(flow_run.id, flush=True)
    time.sleep(600)

with flow_tags(f"{socket.gethostname()}-{os.getpid()}", "complaint"):
    stuck()
"""


@flow(name="other-batch")
def _other() -> None:
    """Only its flow id is used: runs of it are made and moved by hand."""


def _running_run(client, instance: str):  # type: ignore[no-untyped-def]
    run = client.create_flow_run(_other, tags=["caseflow", f"instance:{instance}"])
    client.set_flow_run_state(run.id, Running(), force=True)
    return run.id


def test_the_next_instance_on_the_host_ends_a_killed_instance_s_run_crashed():
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    killed = subprocess.Popen([sys.executable, "-c", STUCK], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert killed.stdout is not None
    run_id = killed.stdout.readline().strip()
    assert run_id, "the flow run did not start"
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.is_running()  # what the issue saw
        alive = _running_run(client, f"{socket.gethostname()}-{os.getpid()}")
        elsewhere = _running_run(client, "another-host-4242")

        assert crash_orphaned_runs(me="api-restarted") >= 1

        crashed = client.read_flow_run(run_id).state
        assert crashed.is_crashed() and "stopped during the run" in crashed.message
        assert client.read_flow_run(alive).state.is_running()
        assert client.read_flow_run(elsewhere).state.is_running()


def test_an_instance_with_a_fixed_id_ends_its_previous_incarnation_s_runs():
    with get_client(sync_client=True) as client:
        previous = _running_run(client, "api-blue")
        restarted = datetime.now(UTC)
        mine = _running_run(client, "api-blue")  # the restarted instance's own
        crash_orphaned_runs(me="api-blue", since=restarted)
        crashed = client.read_flow_run(previous).state
        assert crashed.is_crashed()
        assert crashed.message == ("instance api-blue stopped during the run; instance "
                                   "api-blue found it at its start")
        assert client.read_flow_run(mine).state.is_running()


def test_flow_tags_mark_every_run_caseflow_and_its_instance():
    @flow(name="tagged")
    def tagged() -> None:
        """Nothing: its tags are the point."""

    with flow_tags("api-9", "complaint"):
        state = tagged(return_state=True)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert set(run.tags) == {"caseflow", "instance:api-9", "complaint"}
