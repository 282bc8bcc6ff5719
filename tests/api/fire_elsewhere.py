"""Fire the due timers of a store from a process of its own, as a Prefect worker would:
`python -m tests.api.fire_elsewhere URL OPTIONS_JSON POLICIES_DIR ISO_TIME` prints the
tick's timer outcomes as JSON. No HTTP endpoint: its counts reach no `/metrics` of its own."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from engine.clock import FrozenClock
from tests.conftest import build_runtime, sweep


def main(url: str, options: str, policies: str, at: str) -> None:
    rt = build_runtime((url, json.loads(options)), Path(policies),
                       FrozenClock(datetime.fromisoformat(at)), instance_id="elsewhere")
    try:
        print(json.dumps(sweep(rt).timers))
    finally:
        rt.engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:])
