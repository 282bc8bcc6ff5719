"""Prometheus metrics: what the service counts, and what a scrape of `/metrics` reads.

Counters and histograms are counted where the thing happens (the request middleware,
the sweeper, the escalations, the deliveries, the claims). What a transaction writes is
counted once that transaction commits (`after_commit`), so a batch rolled back and
written again alone is not counted twice. The outbox gauges are read from the store
at scrape time (`StoreCollector`), with one small grouped query.

Escalation rungs are counted in the store itself, in the firing transaction (a few
upserts into `rung_counts` at its commit, one per process, level and lateness bucket),
because rungs are fired by whichever process holds the timers: an API instance, or a
Prefect worker in server mode, which serves no `/metrics`. The scrape reads that small
table (at most processes x levels x buckets rows): the rung series are the store's
totals, the same in every instance's scrape.

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
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as SqlSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, SQLModel, col

from engine.models import OutboxMessage, RungCount

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
# The rungs are counted in the store (`RungCount`), not in a process's memory: a rung a
# Prefect worker fires is then in every API instance's scrape. Their lateness buckets:
LATENESS_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14_400, 86_400)
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


def rung_fired(session: Session, process: str, level: int, due: datetime | None,
               fired: datetime) -> None:
    """Count a fired rung in `session`'s transaction; written to the store at its commit."""
    late = max((fired - due).total_seconds(), 0.0) if due is not None else None
    bucket = -1 if late is None else bisect_left(LATENESS_BUCKETS, late)
    session.connection()  # within a transaction, so that its rollback forgets this
    pending = session.info.setdefault(_RUNGS, {})
    count, seconds = pending.get((process, level, bucket), (0, 0.0))
    pending[(process, level, bucket)] = (count + 1, seconds + (late or 0.0))


_RUNGS = "caseflow_rungs_pending"


def _write_rungs(session: Session, *_: object) -> None:
    pending = session.info.pop(_RUNGS, None)
    if not pending:
        return
    # The rest of the transaction first: the counter rows are then locked only from here
    # to the commit, and in one order (sorted), so two firing transactions never deadlock.
    session.flush()
    table = SQLModel.metadata.tables[RungCount.__tablename__]
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else \
        sqlite_insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.process, table.c.level, table.c.bucket],
        set_={"fired": table.c.fired + statement.excluded.fired,
              "lateness_seconds": table.c.lateness_seconds
              + statement.excluded.lateness_seconds})
    session.execute(statement, [
        {"process": process, "level": level, "bucket": bucket, "fired": count,
         "lateness_seconds": seconds}
        for (process, level, bucket), (count, seconds) in sorted(pending.items())])


def _forget_rungs(session: Session, previous: SessionTransaction) -> None:
    # Every rollback of the whole transaction, also one that had emitted no SQL yet.
    if not previous.nested:
        session.info.pop(_RUNGS, None)


event.listen(SqlSession, "before_commit", _write_rungs)
event.listen(SqlSession, "after_soft_rollback", _forget_rungs)


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
        yield from self._rungs()

    def _rungs(self) -> Iterator[Any]:
        try:
            with Session(self.runtime.engine) as session:
                rows = session.execute(select(
                    col(RungCount.process), col(RungCount.level), col(RungCount.bucket),
                    col(RungCount.fired), col(RungCount.lateness_seconds))).all()
        except Exception as exc:  # a store behind on its migrations: the rest still answers
            log.warning("metrics: the rung counts could not be read (%s)", type(exc).__name__)
            return
        fired = CounterMetricFamily(
            "caseflow_escalation_rungs_fired",
            "Escalation rungs fired, by process and ladder level (0 is the warning), by "
            "every process on the store, read from the store.", labels=["process", "level"])
        by_level: dict[tuple[str, int], int] = defaultdict(int)
        buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(LATENESS_BUCKETS) + 1))
        sums: dict[str, float] = defaultdict(float)
        for process, level, bucket, count, seconds in rows:
            by_level[(process, level)] += count
            if bucket >= 0:
                buckets[process][min(bucket, len(LATENESS_BUCKETS))] += count
                sums[process] += seconds
        for (process, level), count in sorted(by_level.items()):
            fired.add_metric([process, str(level)], count)
        yield fired
        lateness = HistogramMetricFamily(
            "caseflow_escalation_rung_lateness_seconds",
            "A rung's firing time minus its due time, in the service clock's seconds, read "
            "from the store.", labels=["process"])
        for process, counts in sorted(buckets.items()):
            bounds = [*map(floatToGoString, LATENESS_BUCKETS), "+Inf"]
            lateness.add_metric([process], list(zip(bounds, accumulate(counts), strict=True)),
                                sum_value=sums[process])
        yield lateness

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
