"""`caseflow serve` with its Prefect server: the UI on its port, logs, and how it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import ServiceProcess, free_port
from tests.e2e.test_escalation_end_to_end import FAST_CLOCKS, wait_for
from tests.support import REPO, write_policies

pytestmark = pytest.mark.e2e

STOPS_WITHIN_SECONDS = 10  # what docker gives before its SIGKILL


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    policies = write_policies(tmp_path / "policies", complaint={"clocks": FAST_CLOCKS})
    (tmp_path / "data").mkdir()
    svc = ServiceProcess(tmp_path / "data", policies)
    yield svc
    servers = svc.prefect_servers() if svc.process else []
    svc.stop()
    for pid in servers:  # never leave one behind, whatever the test did
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not reaped yet, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def prefect_ready(svc: ServiceProcess) -> None:
    wait_for(lambda: "Prefect API ready" in svc.log_path.read_text(), 150,
             "the Prefect API", svc)


def test_the_prefect_ui_is_announced_and_served_and_sigterm_stops_everything(service):
    service.start()
    prefect_ready(service)
    [prefect] = service.prefect_servers()
    assert f"Prefect UI on {service.prefect_url}" in service.log()
    ui = httpx.get(service.prefect_url, timeout=10)
    assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
    settings = httpx.get(f"{service.prefect_url}/ui-settings", timeout=10).json()
    assert settings["api_url"] == f"{service.prefect_url}/api"
    runs = httpx.post(f"{service.prefect_url}/api/flow_runs/filter", json={}, timeout=10)
    assert runs.status_code == 200 and runs.json(), runs.text  # the warm-up's, at least
    # Prefect, imported by the sweeper, leaves the service's access log alone.
    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    wait_for(lambda: '"GET /health HTTP/1.1" 200' in service.log_path.read_text()
             .split("Prefect API ready", 1)[1], 10, "an access log line", service)

    code, took = service.terminate()

    log = service.log_path.read_text()
    assert code == 0 and took < STOPS_WITHIN_SECONDS, (code, took, service.log())
    assert not alive(prefect) and not listening(service.prefect_port)
    for line in ("Shutting down", "scheduler stopped", "Application shutdown complete",
                 "the Prefect server stopped"):
        assert line in log, line


class SilentServer:
    """A port that accepts connections and never answers: a Prefect API that hangs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.connections.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for connection in [*self.connections, self.sock]:
            connection.close()


def test_sigterm_stops_in_time_while_a_flow_run_waits_on_a_dead_prefect_api(service):
    service.start()
    prefect_ready(service)
    [prefect] = service.prefect_servers()
    os.kill(prefect, signal.SIGKILL)
    wait_for(lambda: not listening(service.prefect_port), 10, "the Prefect port closed",
             service)
    silent = SilentServer(service.prefect_port)
    try:
        api = service.client_as("agent", "li.wei", ["complaints"])
        opened = api.post("/cases", json={"subject": "router keeps dropping",
                                          "customer": {"ref": "C-9", "tier": "B"}})
        assert opened.status_code == 201, opened.text
        # The warning is due in 6 s; its flow run then waits on the Prefect API for a
        # minute or more (the client's timeout and retries).
        time.sleep(7.5)
        assert silent.connections

        code, took = service.terminate()
    finally:
        silent.close()

    assert code == 0 and took < STOPS_WITHIN_SECONDS, (code, took, service.log())
    assert "a tick still running" in service.log_path.read_text()


def test_a_killed_service_takes_its_prefect_server_with_it(service):
    service.start()
    [prefect] = service.prefect_servers()
    service.process.kill()  # the service alone, as `kill -9 PID` does
    service.process.wait(10)
    wait_for(lambda: not alive(prefect), 10, "the Prefect server gone", service)


def test_a_taken_prefect_port_stops_start_up_before_touching_the_store(tmp_path):
    policies = write_policies(tmp_path / "policies")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "caseflow.cli", "serve"], cwd=REPO, capture_output=True,
            text=True, timeout=60,
            env={"PATH": os.environ["PATH"], "CASEFLOW_POLICIES": str(policies),
                 "CASEFLOW_DATA_DIR": str(tmp_path / "data"), "CASEFLOW_PORT": str(free_port()),
                 "CASEFLOW_PREFECT_PORT": str(port)})
    assert result.returncode == 4, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "CASEFLOW_PREFECT_PORT" in result.stderr
    assert not (tmp_path / "data").exists()
