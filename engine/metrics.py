"""Prometheus metrics: what the service counts, and what a scrape of `/metrics` reads.

Counters and histograms are counted where the thing happens (the request middleware,
the sweeper, the escalations, the deliveries, the claims). What a transaction writes is
counted once that transaction commits (`after_commit`), so a batch rolled back and
written again alone is not counted twice. The outbox gauges are read from the store
at scrape time (`StoreCollector`), with one small grouped query.

Labels are bounded: route templates (never raw paths), methods, status codes, process
names, ladder levels (0-3), recipient kinds. No team, person, customer or case is ever a
label.

Several server processes (`CASEFLOW_WORKERS` > 1): `caseflow serve` points
`PROMETHEUS_MULTIPROC_DIR` at `metrics/` in the data directory and empties it at start
(`core.metrics_dir`), before any process imports prometheus_client; each process then
writes its values to its own files there, and a scrape, whichever worker answers it,
adds up every process's (`MultiProcessCollector`). One process keeps them in memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, event, func, select
from sqlmodel import Session, col

from engine.models import OutboxMessage

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.metrics")

# Requests whose path matched no route share one label, so a scan of random URLs
# cannot grow the series.
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "caseflow_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "caseflow_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["method", "route"])
CASES_OPENED = Counter("caseflow_cases_opened", "Cases opened, by process.", ["process"])
CASES_CLOSED = Counter("caseflow_cases_closed", "Cases that reached a final stage, by process.",
                       ["process"])
RUNGS_FIRED = Counter(
    "caseflow_escalation_rungs_fired",
    "Escalation rungs fired, by process and ladder level (0 is the warning).",
    ["process", "level"])
RUNG_LATENESS = Histogram(
    "caseflow_escalation_rung_lateness_seconds",
    "A rung's firing time minus its due time, in the service clock's seconds.",
    ["process"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14_400, 86_400))
DELIVERIES_FAILED = Counter(
    "caseflow_deliveries_failed",
    "Outbox messages whose sending failed (each failed attempt; retried or dead-lettered).",
    ["recipient_kind"])
DELIVERIES_DEAD = Counter(
    "caseflow_deliveries_dead_lettered",
    "Outbox messages given up after their last attempt (status dead).", ["recipient_kind"])
DELIVERIES_DONE = Counter(
    "caseflow_deliveries_delivered", "Outbox messages delivered.", ["recipient_kind"])
SWEEP_TICK = Histogram(
    "caseflow_sweeper_tick_duration_seconds",
    "How long a sweeper tick took: claiming and firing due timers, then delivering.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
CLAIMS_TAKEN_OVER = Counter(
    "caseflow_claims_taken_over",
    "Claims of another instance whose lease ran out, taken back into the queue to be "
    "claimed again, by kind of row.", ["kind"])


def recipient_kind(recipient: str) -> str:
    """`customer`, `channel` or `staff`: who an outbox message is for, without naming them."""
    head = recipient.partition(":")[0]
    return head if head in ("customer", "channel") else "staff"


# --- counted when the transaction commits ---------------------------------------------

_PENDING = "caseflow_metrics_pending"


def after_commit(db: Session | Connection, count: Callable[[], None]) -> None:
    """Call `count` when `db`'s transaction commits; never if it rolls back."""
    connection = db.connection() if isinstance(db, Session) else db
    connection.info.setdefault(_PENDING, []).append(count)


def _forget(connection: Connection) -> None:
    connection.info.pop(_PENDING, None)


def _apply(connection: Connection) -> None:
    for count in connection.info.pop(_PENDING, ()):
        try:
            count()
        except Exception:  # a metric never fails a commit
            log.exception("a metric could not be counted")


# Engine-wide: every engine's transactions. `Connection.info` lives as long as the DBAPI
# connection, so what a transaction left is dropped at the next one's beginning too.
event.listen(Engine, "begin", _forget)
event.listen(Engine, "commit", _apply)
event.listen(Engine, "rollback", _forget)


def case_opened(db: Session | Connection, process: str, *, closed: bool = False) -> None:
    after_commit(db, CASES_OPENED.labels(process).inc)
    if closed:
        after_commit(db, CASES_CLOSED.labels(process).inc)


def case_closed(db: Session | Connection, process: str) -> None:
    after_commit(db, CASES_CLOSED.labels(process).inc)


def rung_fired(db: Session | Connection, process: str, level: int, due: datetime | None,
               fired: datetime) -> None:
    rungs, lateness = RUNGS_FIRED.labels(process, str(level)), RUNG_LATENESS.labels(process)

    def count() -> None:
        rungs.inc()
        if due is not None:
            lateness.observe(max((fired - due).total_seconds(), 0.0))

    after_commit(db, count)


# --- the scrape -------------------------------------------------------------------------

class StoreCollector(Collector):
    """The outbox gauges, read from the store at each scrape with one grouped query."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("caseflow_store_up",
                               "1 if the store answered this scrape's query, else 0.")
        try:
            rows = self._read()
        except Exception as exc:  # the scrape still answers, with the store down
            log.warning("metrics: the store did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "caseflow_outbox_depth", "Outbox messages by status: pending (due or waiting "
            "for a retry), claimed (being delivered), dead (given up).", labels=["status"])
        by_status = {status: (count, oldest) for status, count, oldest in rows}
        for status in ("pending", "claimed", "dead"):
            depth.add_metric([status], by_status.get(status, (0, None))[0])
        yield depth
        oldest = [at for status, (_, at) in by_status.items()
                  if status in ("pending", "claimed") and at is not None]
        age = GaugeMetricFamily(
            "caseflow_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest message not delivered yet (pending or claimed), in the "
            "service clock's seconds; 0 when there is none.")
        now = self.runtime.clock.now()
        age.add_metric([], max((now - min(oldest)).total_seconds(), 0.0) if oldest else 0.0)
        yield age

    def _read(self) -> list[tuple[str, int, datetime | None]]:
        with Session(self.runtime.engine) as session:
            rows = session.execute(
                select(col(OutboxMessage.status), func.count(),
                       func.min(col(OutboxMessage.created_at)))
                .where(col(OutboxMessage.status).in_(("pending", "claimed", "dead")))
                .group_by(col(OutboxMessage.status))).all()
        return [(status, int(count), _utc(oldest)) for status, count, oldest in rows]


def _utc(value: datetime | str | None) -> datetime | None:
    """min() of a UTC column: aware already, or (should a driver give it) the stored text."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def multiprocess() -> bool:
    """Whether this process writes its values for the others (`PROMETHEUS_MULTIPROC_DIR`)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render(runtime: Runtime) -> tuple[bytes, str]:
    """The text exposition of every metric: every process's counters, and the store's
    gauges as they are now; and its content type."""
    store = CollectorRegistry()
    store.register(StoreCollector(runtime))
    if multiprocess():
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(store), CONTENT_TYPE_LATEST
