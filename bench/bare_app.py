"""The reference points for intake: a bare FastAPI endpoint, served like Caseflow.

`python bench/bare_app.py --port N` validates the same request body as POST /cases and
answers 201 with a small JSON object, from a sync endpoint (FastAPI's thread pool) under
`uvicorn.run(..., log_level="info")`, which is how `caseflow serve` runs its app.

With `--postgres-url URL` (a database where the service has opened one complaint, see
`bench.pg_reference`) the endpoint also writes that complaint's rows again, with new
keys, and commits before it answers: what any service that takes the same request over
HTTP and stores the same rows durably costs at least, with no decision of its own. Its
`--workers` are server processes, as Caseflow's `CASEFLOW_WORKERS`; each thread of the
pool writes on a psycopg connection of its own.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, status
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/bare_app.py`
    sys.path.insert(0, str(ROOT))

from bench.request_body import CaseCreate, CustomerIn  # noqa: E402


class CaseOut(BaseModel):
    id: int
    subject: str
    stage: str
    customer: CustomerIn


# The database whose complaint each request writes again (`--postgres-url`): through the
# environment, which the worker processes inherit.
POSTGRES_URL = "BENCH_BARE_POSTGRES_URL"

app = FastAPI(title="bare reference")
_ids = itertools.count(1)


class _Writes:
    """A complaint's rows, written again by each request on its thread's connection."""

    def __init__(self, url: str) -> None:
        from bench.pg_reference import ComplaintRows  # psycopg: only when it writes

        self.url, self.rows = url, ComplaintRows(url)
        self._local = threading.local()

    def write(self, n: int) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            import psycopg

            connection = self._local.connection = psycopg.connect(self.url)
        self.rows.write(connection, f"bare-{os.getpid()}-{n}")


_writes: Any = _Writes(os.environ[POSTGRES_URL]) if os.environ.get(POSTGRES_URL) else None


@app.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut)
def create_case(body: CaseCreate) -> CaseOut:
    """Validate and echo, after writing the complaint's rows when there is a database:
    what FastAPI + uvicorn (and psycopg) cost without any work behind them."""
    n = next(_ids)
    if _writes is not None:
        _writes.write(n)
    return CaseOut(id=n, subject=body.subject, stage="new", customer=body.customer)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--postgres-url", help="write a complaint's rows there per request")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.postgres_url:
        os.environ[POSTGRES_URL] = args.postgres_url
    if args.workers == 1 and not args.postgres_url:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)
        return
    # Imported again by name, so that each worker process makes its own app and writer.
    uvicorn.run("bench.bare_app:app", host="127.0.0.1", port=args.port,
                log_level=args.log_level, workers=args.workers)


if __name__ == "__main__":
    main()
