"""A real `prefect server` on PostgreSQL with prefect.yaml deployed, for tests/server/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from sqlalchemy import create_engine, make_url, text

from tests.e2e.service import free_port
from tests.support import POSTGRES_URL, REPO, postgres_available

PREFECT = str(Path(sys.executable).parent / "prefect")
STARTUP_TIMEOUT = 90


@dataclass
class PrefectServer:
    """A running `prefect server`, and the environment that points the CLI at it."""

    api_url: str
    env: dict[str, str]
    log_path: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PREFECT, "--no-prompt", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI") == "true" or os.environ.get("CASEFLOW_REQUIRE_POSTGRES") == "1":
        pytest.fail("PostgreSQL is required here but not reachable on 127.0.0.1:5432")
    pytest.skip("PostgreSQL not reachable")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` on a database of its own, stopped and dropped afterwards."""
    _require_postgres()
    database = f"prefect_ci_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    db_url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=database)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": db_url.render_as_string(hide_password=False),
        # No network here: the server's telemetry would only fail.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        # The scheduler looks for deployments to schedule every second, not every minute.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    }
    server = PrefectServer(api_url, env, home / "server.log")
    process = None
    try:
        with server.log_path.open("ab") as log:
            # Its own process group: the server's children go with it on teardown.
            process = subprocess.Popen(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_healthy(process, server)
        yield server
    finally:
        if process is not None:
            stop_group(process)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _wait_healthy(process: subprocess.Popen[bytes], server: PrefectServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server did not answer /health in {STARTUP_TIMEOUT}s:\n{server.log()}")


def stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM a process and its group, SIGKILL after 20 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def deployments() -> list[dict]:
    """prefect.yaml's deployments."""
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


@pytest.fixture(scope="session")
def deployed(prefect_server: PrefectServer) -> PrefectServer:
    """prefect.yaml's deployments on the server, as an operator deploys them."""
    pool = prefect_server.cli("work-pool", "create", "caseflow", "--type", "process")
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deploy = prefect_server.cli("deploy", "--all")
    assert deploy.returncode == 0, (
        f"prefect deploy --all exited {deploy.returncode}:\n{deploy.stdout[-3000:]}"
        f"\n{deploy.stderr[-3000:]}\nserver log:\n{prefect_server.log()}")
    return prefect_server


@pytest.fixture
def store_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the Caseflow store, dropped afterwards."""
    name = f"caseflow_topology_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scheduled_runs(client: SyncPrefectClient, deployment: str) -> int:
    """How many runs of `deployment` are Scheduled."""
    return client.count_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))
