"""The server mode for real: prefect.yaml deployed to a `prefect server` on PostgreSQL.

A lock that lets Prefect's server import is not one that lets it run: with FastAPI
0.154 the Prefect 3.8.8 client's null offset/limit filters got 422 (`prefect deploy
--all` exited 1), and with Prefect 3.8.8 on SQLAlchemy 2.1 the scheduler failed every
loop, so cron schedules never produced runs. This starts the locked Prefect's own
server and checks both.
"""

from __future__ import annotations

import json
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.server.conftest import PrefectServer, deployments, scheduled_runs

pytestmark = pytest.mark.server

SCHEDULE_TIMEOUT = 60


def test_the_cli_reads_every_deployment_back(deployed: PrefectServer) -> None:
    listed = deployed.cli("deployment", "ls", "--output", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    names = {deployment["name"] for deployment in json.loads(listed.stdout)}
    assert names == {deployment["name"] for deployment in deployments()}
    for command in (("work-pool", "ls"), ("flow-run", "ls"), ("artifact", "ls")):
        result = deployed.cli(*command)
        assert result.returncode == 0, f"prefect {' '.join(command)}: {result.stderr}"


def test_cron_schedules_producescheduled_runs(deployed: PrefectServer) -> None:
    scheduled = [d["name"] for d in deployments() if d.get("schedules")]
    assert "caseflow-sweep" in scheduled
    deadline = time.monotonic() + SCHEDULE_TIMEOUT
    with temporary_settings({PREFECT_API_URL: deployed.api_url}), \
            get_client(sync_client=True) as client:
        while True:
            counts = {name: scheduled_runs(client, name) for name in scheduled}
            if all(counts.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert all(counts.values()), (
        f"scheduled runs after {SCHEDULE_TIMEOUT}s: {counts}\nserver log:\n{deployed.log()}")
    assert counts["caseflow-sweep"] >= 2, "an every-minute cron schedules runs ahead"

