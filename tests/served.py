"""An ASGI app under a real uvicorn server in a thread, logging as `caseflow serve` does."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from caseflow.cli import SERVING
from core.logs import configure_logging
from tests.e2e.service import free_port


@contextmanager
def served_with_log(app: Any, log_format: str = "text") -> Iterator[tuple[str, io.StringIO]]:
    """`app` served as `caseflow serve` serves it (log_config=None: the service's logging,
    in `log_format`) and what it logs; its base URL and the log. The logging is put back
    as it was afterwards."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.handlers[:], root.level, access.handlers[:], access.propagate, access.level
    configure_logging("INFO", log_format)
    log = io.StringIO()
    root.handlers[0].setStream(log)  # type: ignore[attr-defined]
    access.handlers, access.propagate = [], True  # as in a fresh process
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="info",
        lifespan="off", **SERVING))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}", log
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        root.handlers[:], access.handlers = saved[0], saved[2]
        root.setLevel(saved[1])
        access.propagate = saved[3]
        access.setLevel(saved[4])
