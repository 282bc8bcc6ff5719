"""Peer (b): the complaint process on a BPMN engine, SpiffWorkflow, with state in the database.

    python -m bench.peers.spiff --port 8200 --database-url sqlite:///peer.db \\
        --notify-url http://127.0.0.1:9000

The process is `bench/peers/complaint.bpmn`: the user task "acknowledge" with an
interrupting timer boundary event (duration: the first-response target), leading to the
service task "escalate". Built the way the SpiffWorkflow docs and spiff-arena do it:

- `POST /cases` (a sync endpoint, so FastAPI's thread pool) inserts the complaint, makes
  a `BpmnWorkflow`, runs it until it waits (`do_engine_steps`), and stores the
  serialized workflow (`BpmnWorkflowSerializer`, SPIFF_CONFIG) in `peer_workflows`, in
  one transaction. The row keeps `wake_at`, the earliest pending timer from
  `waiting_events()`, so the poller can find due workflows with an index instead of
  deserialising every open one.
- A poller thread in the same process wakes every POLL_SECONDS and takes waiting rows
  with `wake_at <= now` in `wake_at` order, in batches of BATCH. For each, in its own
  transaction (the row locked `FOR UPDATE` on PostgreSQL): deserialise, `refresh_timers()`,
  `do_engine_steps()`, serialize and store. The "escalate" service task calls the
  script engine's `call_service`, which records the escalation row in that transaction
  and POSTs to the assignee and to the supervisor (one post per person and escalation).
- `POST /cases/{id}/acknowledge` completes the user task the same way, which cancels
  the timer.

The timer's duration is the expression `response_window` in the task data: the
first-response target less the time since the complaint was received (all of the
target for a complaint received now). A duration timer starts when the workflow
reaches it, so this is how complaints received at one instant fall due together.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, status
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from bench.peers.base import (
    ComplaintIn,
    as_utc,
    complaints,
    escalations,
    metadata,
    notify_sync,
    parse_args,
    parse_duration,
    utcnow,
    workflows,
)
from engine.db import is_postgres, make_engine

BPMN = Path(__file__).with_name("complaint.bpmn")
PROCESS_ID = "complaint"
POLL_SECONDS = 1.0  # like Caseflow's sweeper tick
BATCH = 200

log = logging.getLogger("peer.spiff")
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def load_spec() -> Any:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return parser.get_spec(PROCESS_ID)


class CaseEngine(PythonScriptEngine):
    """Runs service tasks against the store transaction and the notifier of this step."""

    def __init__(self, conn: Connection, http: httpx.Client, notify_url: str) -> None:
        super().__init__()
        self.conn, self.http, self.notify_url = conn, http, notify_url

    def call_service(self, task: Any, operation_name: str = "",
                     operation_params: dict[str, Any] | None = None, **_: Any) -> str:
        if operation_name != "record_escalation":
            raise ValueError(f"unknown service operation {operation_name!r}")
        complaint_id = int((operation_params or {})["complaint_id"]["value"])
        self.conn.execute(insert(escalations).values(complaint_id=complaint_id,
                                                     escalated_at=utcnow()))
        self.conn.execute(update(complaints).where(complaints.c.id == complaint_id)
                          .values(status="escalated"))
        subject = self.conn.execute(select(complaints.c.subject).where(
            complaints.c.id == complaint_id)).scalar_one()
        notify_sync(self.http, self.notify_url, complaint_id, subject)
        return json.dumps({"escalated": True})


def _wake_at(workflow: BpmnWorkflow) -> Any:
    """The earliest pending timer of the workflow, or None."""
    times = [TimerEventDefinition.get_datetime(event.value)
             for event in workflow.waiting_events() if isinstance(event.value, str)]
    return min(times, default=None)


def _store(conn: Connection, complaint_id: int, workflow: BpmnWorkflow, *, new: bool) -> None:
    values = {"status": "done" if workflow.is_completed() else "waiting",
              "wake_at": _wake_at(workflow), "state": SERIALIZER.serialize_json(workflow),
              "updated_at": utcnow()}
    if new:
        conn.execute(insert(workflows).values(complaint_id=complaint_id, **values))
    else:
        conn.execute(update(workflows).where(workflows.c.complaint_id == complaint_id)
                     .values(**values))


class Service:
    """The store, the parsed process, the notifier and the poller of one app process."""

    def __init__(self, database_url: str, notify_url: str, first_response: str) -> None:
        self.engine: Engine = make_engine(database_url)
        metadata.create_all(self.engine)
        self.spec = load_spec()
        self.target = parse_duration(first_response)
        self.notify_url = notify_url.rstrip("/")
        self.http = httpx.Client(timeout=10)
        self.stopping = threading.Event()
        self.poller = threading.Thread(target=self._poll_forever, name="spiff-poller",
                                       daemon=True)

    def _load(self, conn: Connection, complaint_id: int, lock: bool) -> BpmnWorkflow | None:
        query = select(workflows.c.state, workflows.c.status).where(
            workflows.c.complaint_id == complaint_id)
        if lock and is_postgres(self.engine):
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return None
        workflow = SERIALIZER.deserialize_json(row.state)
        workflow.script_engine = CaseEngine(conn, self.http, self.notify_url)
        return workflow

    def open(self, body: ComplaintIn) -> dict[str, Any]:
        """Record the complaint and start its workflow, in one transaction."""
        now = utcnow()
        opened_at = as_utc(body.opened_at) if body.opened_at else now
        due_at = opened_at + self.target
        window = max(due_at - now, timedelta(milliseconds=1)).total_seconds()
        with self.engine.begin() as conn:
            complaint_id = int(conn.execute(insert(complaints).values(
                subject=body.subject, customer_ref=body.customer.ref, tier=body.customer.tier,
                opened_at=opened_at, due_at=due_at, status="waiting")).inserted_primary_key[0])
            workflow = BpmnWorkflow(self.spec,
                                    script_engine=CaseEngine(conn, self.http, self.notify_url))
            start = workflow.get_tasks(state=TaskState.READY)[0]
            start.data.update(complaint_id=complaint_id, response_window=f"PT{window:.3f}S")
            workflow.do_engine_steps()
            _store(conn, complaint_id, workflow, new=True)
        return {"id": complaint_id, "status": "waiting", "due_at": due_at.isoformat()}

    def acknowledge(self, complaint_id: int) -> dict[str, Any]:
        with self.engine.begin() as conn:
            workflow = self._load(conn, complaint_id, lock=True)
            if workflow is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complaint")
            workflow.refresh_timers()  # a timer already due wins over a late acknowledgement
            workflow.do_engine_steps()
            ready = [t for t in workflow.get_tasks(state=TaskState.READY)
                     if t.task_spec.bpmn_id == "acknowledge"]
            if ready:
                ready[0].run()
                workflow.do_engine_steps()
                conn.execute(update(complaints).where(complaints.c.id == complaint_id)
                             .values(status="acknowledged"))
            _store(conn, complaint_id, workflow, new=False)
        if not ready:
            raise HTTPException(status.HTTP_409_CONFLICT, "not waiting for acknowledgement")
        return {"id": complaint_id, "status": "acknowledged"}

    def advance_due(self) -> int:
        """Advance every workflow whose timer is due; return how many were advanced."""
        query = (select(workflows.c.complaint_id)
                 .where(workflows.c.status == "waiting", workflows.c.wake_at <= utcnow())
                 .order_by(workflows.c.wake_at).limit(BATCH))
        with self.engine.connect() as conn:
            due = list(conn.execute(query).scalars())
        for complaint_id in due:
            try:
                with self.engine.begin() as conn:
                    workflow = self._load(conn, complaint_id, lock=True)
                    if workflow is None:
                        continue
                    workflow.refresh_timers()
                    workflow.do_engine_steps()
                    _store(conn, complaint_id, workflow, new=False)
            except Exception:  # rolled back; the row stays due and is retried next tick
                log.exception("advancing complaint %s failed", complaint_id)
        return len(due)

    def _poll_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                while self.advance_due() == BATCH and not self.stopping.is_set():
                    pass
            except Exception:
                log.exception("poller tick failed")
            self.stopping.wait(POLL_SECONDS)

    def close(self) -> None:
        self.stopping.set()
        if self.poller.is_alive():
            self.poller.join(timeout=30)
        self.http.close()
        self.engine.dispose()


def create_app(database_url: str, notify_url: str, first_response: str) -> FastAPI:
    holder: dict[str, Service] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service = holder["service"] = Service(database_url, notify_url, first_response)
        service.poller.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="complaints, SpiffWorkflow peer", lifespan=lifespan)

    @app.post("/cases", status_code=status.HTTP_201_CREATED)
    def open_complaint(body: ComplaintIn) -> dict[str, Any]:
        return holder["service"].open(body)

    @app.get("/cases/{complaint_id}")
    def read_complaint(complaint_id: int) -> dict[str, Any]:
        service = holder["service"]
        with service.engine.connect() as conn:
            row = conn.execute(select(complaints, workflows.c.wake_at).join(
                workflows, workflows.c.complaint_id == complaints.c.id).where(
                complaints.c.id == complaint_id)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such complaint")
        return dict(row._mapping)

    @app.post("/cases/{complaint_id}/acknowledge")
    def acknowledge(complaint_id: int) -> dict[str, Any]:
        return holder["service"].acknowledge(complaint_id)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(args.database_url, args.notify_url, args.first_response)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
