"""A second sweeping process for the storm: the `sweep` flow, every second, as a worker.

It runs what a Prefect worker runs for the `caseflow-sweep` deployment (flows/sweep.py:
claims under its own instance id, batches as child flow runs on PREFECT_API_URL), but
every `--interval` seconds instead of every minute, for at most `--seconds`. It needs
the `CASEFLOW_*` settings of a flow run outside the service and a migrated store.
"""

from __future__ import annotations

import argparse
import json
import time

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the Prefect API, http://host:port/api")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=900.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:  # the service's Prefect API starts with it
        try:
            if httpx.get(f"{args.api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    from flows.sweep import sweep

    while time.monotonic() < deadline:
        began = time.monotonic()
        counts = sweep()
        print("sweep: " + json.dumps(counts), flush=True)
        time.sleep(max(0.0, args.interval - (time.monotonic() - began)))


if __name__ == "__main__":
    main()
