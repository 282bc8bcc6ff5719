"""Where the server processes of one service leave their metric values for each other.

Kept apart from `engine.metrics`: prometheus_client decides at import whether it runs in
multiprocess mode, so `PROMETHEUS_MULTIPROC_DIR` is set here before anything imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(settings: Settings) -> Path | None:
    """With several workers, point `PROMETHEUS_MULTIPROC_DIR` at `metrics/` in the data
    directory (unless the operator named one) and remove the values a previous run left
    there; return it. One worker keeps its metrics in memory: None."""
    if settings.workers == 1 and not os.environ.get(ENV):
        return None
    directory = Path(os.environ.get(ENV) or settings.data_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # the value files of processes gone
        stale.unlink(missing_ok=True)
    os.environ[ENV] = str(directory)
    return directory
