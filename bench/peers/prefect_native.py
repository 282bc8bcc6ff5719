"""Peer (a): the complaint process built the Prefect-native way, one flow run per complaint.

    python -m bench.peers.prefect_native --port 8100 --database-url sqlite:///peer.db \\
        --notify-url http://127.0.0.1:9000          # needs PREFECT_API_URL of a Prefect server

`POST /cases` starts the async flow `complaint` in the app's event loop and answers 201
once the flow has recorded the complaint (its row in `peer_complaints`, with the flow run
id), so "accepted" means the same as in Caseflow: the complaint is stored and its
deadline is armed. The flow then waits in `apause_flow_run(timeout=...)` until the
first-response due time. `POST /cases/{id}/acknowledge` resumes it (`resume_flow_run`);
on `FlowPauseTimeout` it runs the `escalate` task: an escalation row, then a POST to the
assignee and to the supervisor, one per escalation (no digests).

Why flow runs started in the web app's process rather than `run_deployment`: a
non-rescheduling pause blocks the process that executes the flow run. Served through a
deployment (`flow.serve()` or a worker), each waiting complaint would hold its own
runner subprocess for up to the whole first-response target. A Python process that has
only imported Prefect already has 83 MB resident here, so a thousand open complaints
(83 GB) would not fit on this 24 GB machine. Started in-process, a waiting complaint is
one coroutine that polls the Prefect API every `poll_interval` (Prefect's default,
10 s). That is the cheapest way Prefect can hold these waits, and the most favourable
to this peer. `run_deployment(..., timeout=0)` would also answer before the complaint is
recorded, which measures less than Caseflow's intake does. The flows are async:
DESIGN.md measured a sync flow run at ~1.1 s of overhead (its heartbeat thread is
joined at exit) and an async one at ~0.13 s.

What Prefect does with this (observed with prefect 3.8.8): the timeout is a float of
seconds from the pause, so the due time is turned into "seconds from now" by the flow;
after a timeout the escalation task runs, but the flow run ends `Failed("The flow was
completed and never resumed.")`, because Prefect refuses Paused -> Completed once the
pause has expired. A pause lives only in the process: if the app restarts, the flow
runs stay Paused and nothing escalates them (DESIGN.md, decision 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import anyio
import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, status
from prefect import flow, task
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run, aresume_flow_run
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from bench.peers.base import (
    ComplaintIn,
    as_utc,
    complaints,
    escalations,
    metadata,
    notify_async,
    parse_args,
    parse_duration,
    utcnow,
)
from engine.db import make_engine

ACCEPT_TIMEOUT = 60.0  # seconds a POST waits for its flow run to record the complaint
PAUSE_POLL_SECONDS = 10  # Prefect's default poll_interval for pause_flow_run


class Peer:
    """The process-wide handles the flows use (set at start-up, like a team's settings)."""

    engine: Engine
    notify_url: str
    http: httpx.AsyncClient
    accepted: dict[str, asyncio.Future[tuple[int, str]]] = {}
    running: set[asyncio.Task[Any]] = set()


# --- tasks and the flow --------------------------------------------------------------------

@task(retries=2, retry_delay_seconds=1)
async def record_complaint(subject: str, customer_ref: str | None, tier: str,
                           opened_at: datetime, due_at: datetime, flow_run_id: str) -> int:
    """Store the complaint; return its id."""
    def write() -> int:
        with Peer.engine.begin() as conn:
            return int(conn.execute(insert(complaints).values(
                subject=subject, customer_ref=customer_ref, tier=tier, opened_at=opened_at,
                due_at=due_at, status="waiting", flow_run_id=flow_run_id)).inserted_primary_key[0])
    return await anyio.to_thread.run_sync(write)


@task(retries=2, retry_delay_seconds=1)
async def set_status(complaint_id: int, new_status: str) -> None:
    def write() -> None:
        with Peer.engine.begin() as conn:
            conn.execute(update(complaints).where(complaints.c.id == complaint_id)
                         .values(status=new_status))
    await anyio.to_thread.run_sync(write)


@task(retries=3, retry_delay_seconds=1)
async def escalate(complaint_id: int, subject: str) -> None:
    """Record the escalation (once), then notify the assignee and the supervisor."""
    def write() -> None:
        with Peer.engine.begin() as conn:
            done = conn.execute(select(escalations.c.id).where(
                escalations.c.complaint_id == complaint_id)).first()
            if done is None:
                conn.execute(insert(escalations).values(complaint_id=complaint_id,
                                                        escalated_at=utcnow()))
                conn.execute(update(complaints).where(complaints.c.id == complaint_id)
                             .values(status="escalated"))
    await anyio.to_thread.run_sync(write)
    await notify_async(Peer.http, Peer.notify_url, complaint_id, subject)


@flow(flow_run_name="complaint-{ref}")
async def complaint(ref: str, subject: str, customer_ref: str | None, tier: str,
                    opened_at: datetime, due_at: datetime) -> str:
    """Record a complaint, wait for its acknowledgement until due, escalate on timeout."""
    context = FlowRunContext.get()
    flow_run_id = str(context.flow_run.id) if context and context.flow_run else ""
    complaint_id = await record_complaint(subject, customer_ref, tier, opened_at, due_at,
                                          flow_run_id)
    waiter = Peer.accepted.get(ref)
    if waiter is not None and not waiter.done():
        waiter.set_result((complaint_id, flow_run_id))
    timeout = max(0.001, (due_at - utcnow()).total_seconds())
    try:
        await apause_flow_run(timeout=timeout, poll_interval=PAUSE_POLL_SECONDS,  # type: ignore[arg-type]
                              key="acknowledge")
    except FlowPauseTimeout:
        await escalate(complaint_id, subject)
        return "escalated"
    await set_status(complaint_id, "acknowledged")
    return "acknowledged"


# --- the web app ---------------------------------------------------------------------------

def create_app(database_url: str, notify_url: str, first_response: str) -> FastAPI:
    target = parse_duration(first_response)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        Peer.engine = make_engine(database_url)
        metadata.create_all(Peer.engine)
        Peer.notify_url = notify_url.rstrip("/")
        Peer.http = httpx.AsyncClient(timeout=10)
        try:
            yield
        finally:
            for running in list(Peer.running):  # paused flow runs die with the process
                running.cancel()
            await asyncio.gather(*Peer.running, return_exceptions=True)
            await Peer.http.aclose()
            Peer.engine.dispose()

    app = FastAPI(title="complaints, Prefect-native peer", lifespan=lifespan)

    @app.post("/cases", status_code=status.HTTP_201_CREATED)
    async def open_complaint(body: ComplaintIn) -> dict[str, Any]:
        """Start the complaint's flow run; answer once it has recorded the complaint."""
        opened_at = as_utc(body.opened_at) if body.opened_at else utcnow()
        due_at = opened_at + target
        ref = uuid.uuid4().hex
        waiter: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        Peer.accepted[ref] = waiter
        run = asyncio.create_task(complaint(
            ref=ref, subject=body.subject, customer_ref=body.customer.ref,
            tier=body.customer.tier, opened_at=opened_at, due_at=due_at))
        Peer.running.add(run)

        def finished(done: asyncio.Task[Any]) -> None:
            Peer.running.discard(done)
            if not waiter.done():  # the flow ended before it recorded the complaint
                why = "cancelled" if done.cancelled() else repr(done.exception())
                waiter.set_exception(RuntimeError(f"flow run ended early: {why}"))

        run.add_done_callback(finished)
        try:
            complaint_id, flow_run_id = await asyncio.wait_for(waiter, ACCEPT_TIMEOUT)
        except Exception as exc:
            run.cancel()  # not accepted: the client may try again, so no late duplicate
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                f"not accepted: {type(exc).__name__}: {exc}") from exc
        finally:
            Peer.accepted.pop(ref, None)
        return {"id": complaint_id, "flow_run_id": flow_run_id, "status": "waiting",
                "due_at": due_at.isoformat()}

    @app.get("/cases/{complaint_id}")
    def read_complaint(complaint_id: int) -> dict[str, Any]:
        with Peer.engine.connect() as conn:
            row = conn.execute(select(complaints).where(complaints.c.id == complaint_id)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complaint")
        return dict(row._mapping)

    @app.post("/cases/{complaint_id}/acknowledge", status_code=status.HTTP_202_ACCEPTED)
    async def acknowledge(complaint_id: int) -> dict[str, Any]:
        """Resume the paused flow run; it notices within PAUSE_POLL_SECONDS."""
        with Peer.engine.connect() as conn:
            row = conn.execute(select(complaints.c.flow_run_id, complaints.c.status).where(
                complaints.c.id == complaint_id)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complaint")
        if row.status != "waiting":
            raise HTTPException(status.HTTP_409_CONFLICT, f"complaint is {row.status}")
        await aresume_flow_run(uuid.UUID(row.flow_run_id))
        return {"id": complaint_id, "status": "resumed"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    app = create_app(args.database_url, args.notify_url, args.first_response)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
