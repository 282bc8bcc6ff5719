"""The reference point for intake: a bare FastAPI endpoint, no database, served like Caseflow.

`python bench/bare_app.py --port N` validates the same request body as POST /cases and
answers 201 with a small JSON object, from a sync endpoint (FastAPI's thread pool) under
`uvicorn.run(..., log_level="info")`, which is how `caseflow serve` runs its app.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Literal

import uvicorn
from fastapi import FastAPI, status
from pydantic import BaseModel, ConfigDict, Field


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(default=None, max_length=120)
    name: str | None = Field(default=None, max_length=200)
    tier: Literal["A", "B", "C", "VIP"] = "C"


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    customer: CustomerIn
    channel: str | None = Field(default=None, max_length=40)
    category: str | None = Field(default=None, max_length=80)
    priority: str | None = None


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
