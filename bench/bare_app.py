"""The reference point for intake: a bare FastAPI endpoint, no database, served like Caseflow.

`python bench/bare_app.py --port N` validates the same request body as POST /cases and
answers 201 with a small JSON object, from a sync endpoint (FastAPI's thread pool) under
`uvicorn.run(..., log_level="info")`, which is how `caseflow serve` runs its app.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

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


app = FastAPI(title="bare reference")
_ids = itertools.count(1)


@app.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut)
def create_case(body: CaseCreate) -> CaseOut:
    """Validate and echo: what FastAPI + uvicorn cost without any work behind them."""
    return CaseOut(id=next(_ids), subject=body.subject, stage="new", customer=body.customer)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
