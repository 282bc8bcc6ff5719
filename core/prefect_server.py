"""The embedded mode's Prefect API and UI: `prefect server start`, a child of `caseflow serve`.

Prefect's own temporary server (what its client starts when `PREFECT_API_URL` is unset)
takes a random port, serves no UI and outlives a service stopped by SIGTERM. This child
listens on a fixed port (`CASEFLOW_PREFECT_PORT`) of 127.0.0.1, since the Prefect server
asks for no credentials, with the UI on. The service stops it after its own shutdown,
and on Linux the kernel kills it if the service dies without one (`kill -9`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.preflight import PortInUse
from core.settings import Settings

HOST = "127.0.0.1"
# How long a port just released (a service restarted after a crash) may take to be free.
PORT_FREE_WAIT_SECONDS = 3.0
STOP_WAIT_SECONDS = 2.0
PR_SET_PDEATHSIG = 1  # prctl(2)


class PortTaken(PortInUse):
    """The Prefect port is in use by another program."""


@dataclass
class PrefectServer:
    """The running child: its process and where it answers."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """Where the UI is; the API is under /api."""
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it is still there after STOP_WAIT_SECONDS."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def needs_embedded_server(settings: Settings) -> bool:
    """Whether this service runs flows and no Prefect server was named for it."""
    return (settings.flow_runner == "prefect" and settings.scheduler_enabled
            and not os.environ.get("PREFECT_API_URL"))


def start_prefect_server(settings: Settings) -> PrefectServer:
    """Start the child on `settings.prefect_port` and point this process's Prefect client
    (and the workers it starts) at it; it answers some seconds later. Call it from the
    main thread: the kernel's parent-death signal follows the thread that started it.

    Raises `PortTaken` when something else listens on the port.
    """
    port = settings.prefect_port
    wait_until_free(port)
    api_url = f"http://{HOST}:{port}/api"
    env = {"PREFECT_SERVER_UI_ENABLED": "true", "PREFECT_UI_API_URL": api_url,
           "PREFECT_SERVER_LOGGING_LEVEL": "WARNING", **os.environ}
    # The service's logging file for Prefect routes to the service's log; the server
    # keeps Prefect's own console logging.
    env.pop("PREFECT_LOGGING_SETTINGS_PATH", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # its metrics are not the service's
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST,
         "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        # Its own session: a Ctrl-C in the terminal reaches the service, which stops this
        # after its last flow run, rather than both at once.
        start_new_session=True, preexec_fn=_die_with(os.getpid()))
    os.environ["PREFECT_API_URL"] = api_url
    return PrefectServer(process, port)


def wait_until_free(port: int) -> None:
    """Return once the Prefect port is free; `PortTaken` if it is not within a few seconds."""
    deadline = time.monotonic() + PORT_FREE_WAIT_SECONDS
    while True:
        with socket.socket() as probe:
            # As the server binds: a port left in TIME_WAIT by closed connections is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise PortTaken(
                        f"{HOST}:{port}, where the Prefect API and UI should listen, is in "
                        f"use by another program; stop it or set CASEFLOW_PREFECT_PORT to a "
                        f"free port") from None
        time.sleep(0.2)


def _die_with(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before the fork, not after

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request: go now
            os._exit(1)
    return hook
