"""Complaint intake at volume: the complaints waiting are written together, one commit.

Each `POST /cases` hands its complaint to the service's intake writer and waits for
the answer. The writer takes every complaint waiting (up to `MAX_BATCH`), writes them
in one transaction and commits once, then answers each with the rows it wrote. On
SQLite it writes on the event loop's thread, between requests (see `IntakeWriter.open`);
on PostgreSQL, on a thread of its own. A commit costs more than a complaint's own
statements, and SQLite lets one transaction write at a time anyway: request threads
that each committed their own complaint queued on its lock (a p99 of 2 s at 16
clients), where one writer takes them in turn. Nothing is answered before its commit,
so nothing answered is lost. The writers of several worker processes on one SQLite file
take turns through a `WriteBaton`.

A complaint refused before it wrote anything (an Idempotency-Key reused with another
body) is answered with its refusal and the rest carry on. Any other failure rolls the
whole batch back, and then each of its complaints is written alone, with `open_once`'s
retries, so one bad complaint or a race lost to another instance fails no other.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from core.cases import (
    IdempotencyConflict,
    OpenCase,
    Opened,
    open_once,
    replay_or_open,
    scoped_key,
    write_complaint,
)
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from engine import request_context
from engine.checkpoints import Checkpointer
from engine.db import WriteBaton, begin_writing
from engine.models import Case

if TYPE_CHECKING:
    from core.runtime import Runtime

MAX_BATCH = 100  # complaints in one transaction, so none waits long behind the others
# On the event loop a batch holds up every request of the process while it is written
# (about 0.7 ms a complaint): a smaller one keeps that wait short.
MAX_LOOP_BATCH = 32
IDLE_SECONDS = 5.0  # the writer's thread ends after this long without work

log = logging.getLogger("caseflow.intake")

# A new complaint as written, or the case an Idempotency-Key opened before; and whether new.
IntakeResult = tuple[Opened | Case, bool]


@dataclass(frozen=True)
class Intake:
    """One complaint to open, with who asks and when they asked."""

    request: OpenCase
    actor: str
    actor_kind: ActorKind
    now: datetime
    # The request's id, for the timeline and the log: the writer writes for many requests.
    request_id: str | None = field(default_factory=request_context.current)


@dataclass(frozen=True)
class _Waiting:
    intake: Intake
    answer: Future[IntakeResult]


class IntakeWriter:
    """Writes the complaints that callers `open` (or `submit`), many to a transaction:
    on SQLite on the event loop's thread, else (and for what the loop hands over) on
    a thread of its own.

    The thread starts with the first complaint and ends after `IDLE_SECONDS` without one,
    so a runtime that is dropped (a test's) leaves no thread behind.
    """

    def __init__(self, runtime: Runtime, *, max_batch: int = MAX_BATCH) -> None:
        self._runtime = runtime
        self._max_batch = max_batch
        self._waiting: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._baton = WriteBaton.for_engine(runtime.engine)
        self._checkpointer = Checkpointer(runtime.engine)
        # SQLite: written on the event loop's own thread (see `open`).
        self.on_event_loop = runtime.engine.dialect.name == "sqlite"
        # Each answer is None for a complaint left to the writer's thread.
        self._loop_waiting: list[tuple[Intake, asyncio.Future[IntakeResult | None]]] = []
        self._loop_writing: asyncio.Task[None] | None = None

    async def open(self, intake: Intake) -> IntakeResult:
        """Open a complaint with the others waiting: its result once committed, or its error.

        On SQLite the batch is written on the event loop's thread, between requests. The
        driver lets go of the GIL at every statement, and a writer thread beside the
        event loop then waited for it to come back at each one: with the loop busy, that
        doubled the writer's CPU per complaint (0.73 -> 1.52 ms with a busy thread beside
        it) and its hold on the file's write turn. A PostgreSQL statement is a network
        round trip, during which the loop should go on: there the writer's thread writes.

        The loop never waits for SQLite's lock: when another connection holds it (a
        sweep writing a storm), or anything else goes wrong, the batch is handed whole
        to the writer's thread, which waits for the lock and writes each complaint alone
        if it must, while the loop goes on serving requests.
        """
        if self.on_event_loop:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[IntakeResult | None] = loop.create_future()
            self._loop_waiting.append((intake, answer))
            if self._loop_writing is None:
                # In a context of its own: the writer writes for every request, not the
                # first one's (each complaint sets its own request id, `_open_in_batch`).
                self._loop_writing = loop.create_task(self._write_on_loop(),
                                                      context=contextvars.Context())
            result = await answer
            if result is not None:
                return result
            # Not written: the file was busy with another writer, or the batch failed.
        return await asyncio.wrap_future(self.submit(intake))

    async def _write_on_loop(self) -> None:
        batch: list[tuple[Intake, asyncio.Future[IntakeResult | None]]] = []
        try:
            while self._loop_waiting:
                await asyncio.sleep(0)  # the requests already read join this batch
                await self._take_turn()
                batch = self._loop_waiting[:MAX_LOOP_BATCH]
                del self._loop_waiting[:MAX_LOOP_BATCH]
                # A caller gone before its turn (a client that hung up) is not written.
                batch = [(intake, answer) for intake, answer in batch if not answer.cancelled()]
                try:
                    # Not written here (None): the caller hands it to the writer's thread.
                    outcomes = self._write_batch([intake for intake, _ in batch],
                                                 self._runtime.policies,
                                                 self._runtime.calendars, wait=False)
                finally:
                    self._baton.release()
                settled = outcomes if outcomes is not None else [None] * len(batch)
                for (_, answer), outcome in zip(batch, settled, strict=True):
                    if not answer.cancelled():
                        _settle(answer, outcome)
        except BaseException:  # cancelled, as the loop closes: nobody waits for an answer
            for _, answer in [*batch, *self._loop_waiting]:
                answer.cancel()
            self._loop_waiting.clear()
            raise
        finally:
            self._loop_writing = None
            self._baton.close()

    async def _take_turn(self) -> None:
        """The file's write turn: at once if free, else waited for on a pool thread, so
        that the loop goes on reading requests while another process writes."""
        if self._baton.acquire(blocking=False):
            return
        taken = asyncio.get_running_loop().run_in_executor(None, self._baton.acquire)
        try:
            await asyncio.shield(taken)
        except asyncio.CancelledError:
            taken.add_done_callback(lambda _: self._baton.release())
            raise

    def submit(self, intake: Intake) -> Future[IntakeResult]:
        """Queue a complaint; the future holds its result once committed, or its error."""
        answer: Future[IntakeResult] = Future()
        with self._lock:
            self._waiting.put(_Waiting(intake, answer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="caseflow-intake",
                                                daemon=True)
                self._thread.start()
        return answer

    def _run(self) -> None:
        while True:
            try:
                first = self._waiting.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:  # submit starts a new thread once this one has gone
                    if self._waiting.empty():
                        self._thread = None
                        self._baton.close()
                        return
                continue
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            # A caller that went away before its turn (a client that hung up) is not
            # written; from here on the others' answers can no longer be cancelled.
            batch = [waiting for waiting in batch if waiting.answer.set_running_or_notify_cancel()]
            if batch:
                self._write_answering_all(batch)

    def _write_answering_all(self, batch: list[_Waiting]) -> None:
        """Write the batch; whatever goes wrong, every caller gets an answer and the thread
        goes on with the next batch."""
        try:
            self._write(batch)
        except BaseException as exc:  # noqa: BLE001 - no caller may wait for ever
            log.exception("intake: a batch of %d could not be answered", len(batch))
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)

    def _write(self, batch: list[_Waiting]) -> None:
        with self._baton:
            outcomes = self._outcomes([waiting.intake for waiting in batch])
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _settle(waiting.answer, outcome)

    def _outcomes(self, intakes: list[Intake]) -> list[IntakeResult | BaseException]:
        """Write the complaints in one transaction, or, if that fails, each alone: each
        one's result or error. The caller holds the write turn."""
        rt = self._runtime
        policies, calendars = rt.policies, rt.calendars  # one version for the whole batch
        outcomes = self._write_batch(intakes, policies, calendars, wait=True)
        if outcomes is None:
            outcomes = [_open_alone(rt, intake, policies, calendars) for intake in intakes]
        return outcomes

    def _write_batch(self, intakes: list[Intake], policies: PolicySet,
                     calendars: dict[str, BusinessCalendar], *, wait: bool
                     ) -> list[IntakeResult | BaseException] | None:
        """Write the complaints in one transaction: each one's result, or its refusal.
        None, with nothing written, if it failed, or if another connection held SQLite's
        write lock and the writer was not to `wait` for it."""
        try:
            with Session(self._runtime.engine, expire_on_commit=False) as session:
                # What the batch reads (keys, customers) cannot change before it writes.
                if not begin_writing(session, wait=wait):
                    return None
                outcomes = [_open_in_batch(session, intake, policies, calendars)
                            for intake in intakes]
                session.commit()
            self._checkpointer.poke()
            return outcomes
        except Exception as exc:  # noqa: BLE001 - each complaint is then written again
            log.info("intake: a batch of %d failed (%s: %s)", len(intakes),
                     type(exc).__name__, exc)
            return None


def _settle(answer: Future[Any] | asyncio.Future[Any], outcome: Any) -> None:
    """Answer a caller: its result, or the error it gets instead."""
    if isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def _open_in_batch(session: Session, intake: Intake, policies: PolicySet,
                   calendars: dict[str, BusinessCalendar]) -> IntakeResult | BaseException:
    """Write one complaint of a batch, uncommitted; a refusal before any write is returned.

    A retry under a known key, perhaps of a complaint earlier in this batch, is answered
    with that case."""
    request = intake.request
    stored_key = scoped_key(request.idempotency_key, intake.actor, intake.actor_kind)
    # Only a replay under a key compares the request's fingerprint: none made without one.
    fingerprint = request.fingerprint if stored_key else ""
    try:
        with request_context.using(intake.request_id):
            return replay_or_open(session, stored_key, fingerprint,
                                  _writer(session, intake, policies, calendars))
    except IdempotencyConflict as exc:
        return exc


def _open_alone(rt: Runtime, intake: Intake, policies: PolicySet,
                calendars: dict[str, BusinessCalendar]) -> IntakeResult | BaseException:
    """Write one complaint in its own transaction, retrying lost races; or its error."""
    request = intake.request
    try:
        with request_context.using(intake.request_id), \
                Session(rt.engine, expire_on_commit=False) as session:
            return open_once(
                session, idempotency_key=request.idempotency_key, actor=intake.actor,
                actor_kind=intake.actor_kind, fingerprint=request.fingerprint,
                open_new=_writer(session, intake, policies, calendars))
    except Exception as exc:  # noqa: BLE001 - the caller's answer carries it
        return exc


def _writer(session: Session, intake: Intake, policies: PolicySet,
            calendars: dict[str, BusinessCalendar]) -> Callable[[str | None], Opened]:
    """`open_new` for the intake's complaint: write it under the key given."""
    return lambda stored_key: write_complaint(
        session, intake.request, stored_key, (intake.actor, intake.actor_kind), policies,
        calendars, intake.now)
