"""Start and stop the real service process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """`caseflow serve` in its own process group, so a kill takes its Prefect server too."""

    def __init__(self, data_dir: Path, policies: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefect_port = free_port()  # the embedded Prefect API and UI
        self.prefect_url = f"http://127.0.0.1:{self.prefect_port}"
        self.log_path = data_dir / f"service-{self.port}.log"
        self.env = {
            **os.environ,
            "CASEFLOW_DATA_DIR": str(data_dir),
            "CASEFLOW_POLICIES": str(policies),
            "CASEFLOW_PORT": str(self.port),
            "CASEFLOW_SWEEP_INTERVAL_SECONDS": "0.5",
            "CASEFLOW_PREFECT_PORT": str(self.prefect_port),
            "PREFECT_HOME": str(data_dir / "prefect"),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "caseflow.cli", "serve"], cwd=REPO, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"service did not answer /health in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, as in a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM to the service process alone, as docker, systemd and Kubernetes send it;
        its exit code and how long it took to exit."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - began

    def prefect_servers(self) -> list[int]:
        """The Prefect servers this service started: their process ids, from /proc."""
        assert self.process is not None
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (proc / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if parent == self.process.pid and b"prefect\x00server\x00start" in command:
                found.append(int(proc.name))
        return found

    def admin_key(self) -> str:
        """The admin key the first start saved in the data directory."""
        return (Path(self.env["CASEFLOW_DATA_DIR"]) / "admin-key.txt").read_text().strip()

    def client_as(self, role: str, name: str, teams: list[str] | None = None) -> httpx.Client:
        """A client with a fresh key for `name` in `role`, created with the admin key."""
        created = httpx.post(f"{self.url}/admin/keys", timeout=10,
                             headers={"Authorization": f"Bearer {self.admin_key()}"},
                             json={"name": name, "role": role, "teams": teams or []})
        assert created.status_code == 201, created.text
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {created.json()['key']}"})

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""
