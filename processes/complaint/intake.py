"""Complaint intake at volume: the complaints waiting are written together, one commit.

Each `POST /cases` hands its complaint to the service's intake writer and waits for
the answer. The writer takes every complaint waiting (up to `MAX_BATCH`), writes them
in one transaction and commits once, then answers each with the rows it wrote. A
commit costs more than a complaint's own statements, and SQLite lets one transaction
write at a time anyway: request threads that each committed their own complaint queued
on its lock (a p99 of 2 s at 16 clients), where one writer takes them in turn. Nothing
is answered before its commit, so nothing answered is lost. The writers of several
worker processes on one SQLite file take turns through a `WriteBaton`.

On PostgreSQL a batch is two round trips, whatever its size: its BEGIN goes with every
read it needs (its keys' revocation, its ids, customers, the owners of the phones and
e-mails they give, idempotency keys and team loads), and its COMMIT with the one
statement that writes its rows (`engine.pg_pipeline`); it was seven, and three more
for each complaint that gave a phone.

A complaint refused before it wrote anything (an Idempotency-Key reused with another
body) is answered with its refusal and the rest carry on. Any other failure rolls the
whole batch back, and then each of its complaints is written alone, with `open_once`'s
retries, so one bad complaint or a race lost to another instance fails no other.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlmodel import Session

from core.cases import (
    KEYS_USED,
    IdempotencyConflict,
    OpenCase,
    Opened,
    complaint_team,
    open_once,
    replay_or_open,
    scoped_key,
    write_complaint,
)
from core.customers import BY_REFS, OWNERS, KnownCustomers
from core.keys import REVOKED, VALID_KEYS, Unauthenticated, valid_key_ids
from domain.access import ActorKind
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from engine import request_context
from engine.checkpoints import Checkpointer
from engine.db import WriteBaton, begin_writing, connection_of
from engine.models import Case
from engine.pg_pipeline import DriverQuery, begin_with, commit_with
from engine.store import NEXT_IDS, TEAMS_LOADS, Appends

if TYPE_CHECKING:
    from core.runtime import Runtime

# How long the writer keeps a connection it has not used (see `IntakeWriter._session`):
# past it, one from the pool, whose checkout tests it, so that a connection that a
# PostgreSQL restart or an idle timeout closed meanwhile is not the next batch's.
HELD_IDLE_SECONDS = 5.0

# Complaints in one transaction. On the event loop a batch holds up every request of the
# process while it is written (about 0.7 ms a complaint): a small one keeps that wait short.
MAX_BATCH = 32

log = logging.getLogger("caseflow.intake")

# The timeline entries a complaint's opening writes (opened, classify, assign): their ids
# are taken with the batch's case ids, one round trip for both (`Appends.events_each`).
OPENING_ENTRIES = 3

# A new complaint as written, or the case an Idempotency-Key opened before; and whether new.
IntakeResult = tuple[Opened | Case, bool]
Outcome = IntakeResult | BaseException


@dataclass(frozen=True)
class Intake:
    """One complaint to open, with who asks and when they asked."""

    request: OpenCase
    actor: str
    actor_kind: ActorKind
    now: datetime
    # The request's id, for the timeline and the log: the writer writes for many requests.
    request_id: str | None = field(default_factory=request_context.current)
    # The caller's API key, when it came from a cache that no revocation empties (see
    # `core.keys.KeyCache`): the transaction that writes the complaint checks it first.
    unchecked_key: int | None = None

    @cached_property
    def stored_key(self) -> str | None:
        """The Idempotency-Key as stored (`scoped_key`): read with the batch's other reads,
        then looked up or written, hashed once."""
        return scoped_key(self.request.idempotency_key, self.actor, self.actor_kind)


class IntakeWriter:
    """Writes the complaints that callers `open`, many to a transaction, one batch at a
    time: on the event loop's own thread on SQLite, else on a thread of the loop's pool.

    The batches are written by a task that runs while complaints wait, so a runtime that
    is dropped (a test's) leaves nothing running behind.
    """

    def __init__(self, runtime: Runtime, *, max_batch: int = MAX_BATCH) -> None:
        self._runtime = runtime
        self._max_batch = max_batch
        self._baton = WriteBaton.for_engine(runtime.engine)
        self._checkpointer = Checkpointer(runtime.engine)
        # SQLite: written on the event loop's own thread (see `open`).
        self.on_event_loop = runtime.engine.dialect.name == "sqlite"
        self._waiting: list[tuple[Intake, asyncio.Future[IntakeResult]]] = []
        self._writing: asyncio.Task[None] | None = None
        # Off the loop (PostgreSQL), the connection the batches are written on, and when
        # it was last used (`_session`).
        self._held: Connection | None = None
        self._held_at = 0.0

    async def open(self, intake: Intake) -> IntakeResult:
        """Open a complaint with the others waiting: its result once committed, or its error.

        On SQLite the batch is written on the event loop's thread, between requests. The
        driver lets go of the GIL at every statement, and a writer thread beside the
        event loop then waited for it to come back at each one: with the loop busy, that
        doubled the writer's CPU per complaint (0.73 -> 1.52 ms with a busy thread beside
        it) and its hold on the file's write turn. A PostgreSQL statement is a network
        round trip, during which the loop should go on: there a pool thread writes.

        The loop never waits for SQLite's lock: when another connection holds it (a
        sweep writing a storm), or anything else goes wrong, the batch goes whole to a
        pool thread, which waits for the lock and writes each complaint alone if it
        must, while the loop goes on serving requests.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[IntakeResult] = loop.create_future()
        self._waiting.append((intake, answer))
        if self._writing is None:
            # In a context of its own: the writer writes for every request, not the
            # first one's (each complaint sets its own request id, `_open_in_batch`).
            self._writing = loop.create_task(self._write_waiting(),
                                             context=contextvars.Context())
        return await answer

    async def _write_waiting(self) -> None:
        """Write batches while complaints wait, each answered once committed."""
        batch: list[tuple[Intake, asyncio.Future[IntakeResult]]] = []
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the requests already read join this batch
                rt = self._runtime
                policies, calendars = rt.policies, rt.calendars  # one version for the batch
                written = None
                if self.on_event_loop:
                    # Taken first: the requests read while another process writes join too.
                    await self._take_turn()
                    try:
                        batch = self._take_batch()
                        if batch:
                            written = self._write_batch([intake for intake, _ in batch],
                                                        policies, calendars, wait=False)
                    finally:
                        self._baton.release()
                else:
                    batch = self._take_batch()
                if batch and written is None:
                    written = await self._write_off_loop([intake for intake, _ in batch],
                                                         policies, calendars)
                for (_, answer), outcome in zip(batch, written or [], strict=True):
                    if not answer.cancelled():
                        _settle(answer, outcome)
                batch = []
        except BaseException:  # cancelled, as the loop closes: nobody waits for an answer
            for _, answer in [*batch, *self._waiting]:
                answer.cancel()
            self._waiting.clear()
            raise
        finally:
            self._writing = None
        self._baton.close()  # idle: the next batch opens the lock file again

    def _take_batch(self) -> list[tuple[Intake, asyncio.Future[IntakeResult]]]:
        """The next complaints to write; a caller gone before its turn (a client that hung
        up) is not written."""
        batch = self._waiting[:self._max_batch]
        del self._waiting[:self._max_batch]
        return [(intake, answer) for intake, answer in batch if not answer.cancelled()]

    async def _write_off_loop(self, intakes: list[Intake], policies: PolicySet,
                              calendars: dict[str, BusinessCalendar]) -> list[Outcome]:
        """Each complaint's result or error, once written on a pool thread. Whatever goes
        wrong, every caller gets an answer."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                None, self._write_waiting_for_the_store, intakes, policies, calendars)
        except Exception as exc:  # noqa: BLE001 - no caller may wait for ever
            log.exception("intake: a batch of %d could not be answered", len(intakes))
            return [exc] * len(intakes)

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

    def _write_waiting_for_the_store(self, intakes: list[Intake], policies: PolicySet,
                                     calendars: dict[str, BusinessCalendar]) -> list[Outcome]:
        """Write the complaints in one transaction, or, if that fails, each alone, waiting
        for the write turn and the store's lock (on a pool thread): each one's result or
        error."""
        with self._baton:
            outcomes = self._write_batch(intakes, policies, calendars, wait=True)
            if outcomes is None:
                outcomes = [_open_alone(self._runtime, intake, policies, calendars)
                            for intake in intakes]
        return outcomes

    def _write_batch(self, intakes: list[Intake], policies: PolicySet,
                     calendars: dict[str, BusinessCalendar], *, wait: bool
                     ) -> list[Outcome] | None:
        """Write the complaints in one transaction: each one's result, or its refusal.
        None, with nothing written, if it failed, or if another connection held SQLite's
        write lock and the writer was not to `wait` for it. The caller holds the turn."""
        try:
            with self._session() as session:
                # What the batch reads (keys, customers) cannot change before it writes.
                if not begin_writing(session, wait=wait):
                    return None
                outcomes = write_together(session, intakes, policies, calendars)
            self._checkpointer.poke()
            return outcomes
        except Exception as exc:  # noqa: BLE001 - each complaint is then written again
            self.let_go()  # perhaps broken: the next batch takes one from the pool
            log.info("intake: a batch of %d failed (%s: %s)", len(intakes),
                     type(exc).__name__, exc)
            return None

    def _session(self) -> Session:
        """A session for the next batch. Off the loop (PostgreSQL), on the connection the
        writer holds between batches: a checkout from the pool cost a round trip of its
        own (its ping), and the pool's bookkeeping, at every batch. Batches are written
        one at a time, so one connection serves them all. It is in autocommit mode: each
        batch begins and commits its transaction with statements of its own
        (`write_together`)."""
        engine = self._runtime.engine
        if self.on_event_loop:
            return Session(engine, expire_on_commit=False)
        now = time.monotonic()
        if self._held is not None and (self._held.invalidated
                                       or now - self._held_at > HELD_IDLE_SECONDS):
            self.let_go()
        if self._held is None:
            # Its transactions are begun and committed by the batch's own statements.
            self._held = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._held_at = now
        # Bound to a connection outside a transaction, the session begins and commits
        # its own on it.
        return Session(bind=self._held, expire_on_commit=False)

    def let_go(self) -> None:
        """Give back the connection held between batches, if any."""
        held, self._held = self._held, None
        if held is not None:
            held.close()


def write_together(session: Session, every: list[Intake], policies: PolicySet,
                   calendars: dict[str, BusinessCalendar]) -> list[Outcome]:
    """Write the complaints in `session`'s transaction and commit: each one's result, or
    its refusal. What they read is read once for all (their customers by ref, and on
    PostgreSQL their case ids, a block from the sequence); what they append (clocks,
    timelines, timers, notifications, their assignees' loads) goes in with one statement
    for each table, at the end. A complaint whose unchecked key is revoked is refused
    (`Unauthenticated`) and not written.

    On a connection in autocommit mode (the writer's on PostgreSQL), the transaction is
    begun with every read above and the idempotency keys' and team loads' (one round
    trip), and committed with the statement that writes (another): see
    `engine.pg_pipeline`."""
    connection = connection_of(session)
    together = _sends_together(connection)
    appends = Appends(ids=True, id_block=len(every), events_each=OPENING_ENTRIES)
    if together:
        read = _read_together(connection, every, policies, appends)
    else:
        read = _BatchReads(_revoked_keys(session, every), None, None)
    intakes = [intake for intake in every if intake.unchecked_key not in read.refused]
    known = KnownCustomers(session, [intake.request.customer.ref for intake in intakes],
                           appends, found=read.customers, owners=read.owners)
    written = iter([_open_in_batch(session, intake, policies, calendars, appends, known,
                                   read.keys_used)
                    for intake in intakes])
    if together:
        commit_with(connection, lambda: appends.insert(connection))
    else:
        appends.insert(session)
    session.commit()
    return [Unauthenticated(REVOKED) if intake.unchecked_key in read.refused
            else next(written) for intake in every]


def _sends_together(connection: Connection) -> bool:
    """Whether the batch's transaction is begun and committed with its statements: on
    PostgreSQL, on a connection in autocommit mode."""
    return (connection.dialect.name == "postgresql"
            and connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


@dataclass(frozen=True)
class _BatchReads:
    """What a batch read before it writes: the unchecked keys it found revoked, and when
    read together, its customers by ref, which of its idempotency keys are used, and the
    owners of the identities its customers give."""

    refused: set[int]
    customers: list[Any] | None
    keys_used: set[str] | None
    owners: dict[tuple[str, str], int | None] | None = None


def _read_together(connection: Connection, intakes: list[Intake], policies: PolicySet,
                   appends: Appends) -> _BatchReads:
    """Begin the batch's transaction with its reads (`engine.pg_pipeline.begin_with`):
    its keys' revocation, its ids (into `appends`), its customers and the owners of
    the phones and e-mails they give, its idempotency keys, and its teams' loads (into
    `appends.loads`, unlocked: see `TEAMS_LOADS`)."""
    unchecked = _unchecked_keys(intakes)
    refs = KnownCustomers.wanted([intake.request.customer.ref for intake in intakes])
    stored = {intake.stored_key for intake in intakes if intake.stored_key}
    teams = sorted({complaint_team(policies, intake.request.category) for intake in intakes})
    reads: dict[str, tuple[DriverQuery, Mapping[str, Any]]] = {
        "ids": (NEXT_IDS, appends.ids_wanted()), "loads": (TEAMS_LOADS, {"teams": teams})}
    if unchecked:
        reads["valid"] = (VALID_KEYS, {"ids": sorted(unchecked)})
    if refs:
        reads["customers"] = (BY_REFS, {"refs": sorted(refs)})
    if stored:
        reads["used"] = (KEYS_USED, {"keys": sorted(stored)})
    identities = {identity for intake in intakes
                  for identity in intake.request.customer.claim().identities()}
    if identities:
        reads["owners"] = (OWNERS, {"values": sorted({value for _, value in identities})})
    read = begin_with(connection, reads)
    appends.use_ids(read["ids"])
    appends.loads.read(teams, read["loads"])
    return _BatchReads(unchecked - {row.id for row in read.get("valid", [])},
                       read.get("customers", []),
                       {row.idempotency_key for row in read.get("used", [])},
                       KnownCustomers.owners_of(identities, read.get("owners", [])))


def _unchecked_keys(intakes: list[Intake]) -> set[int]:
    """The cached keys that `intakes` came with, whose revocation the batch checks."""
    return {intake.unchecked_key for intake in intakes if intake.unchecked_key is not None}


def _revoked_keys(session: Session, intakes: list[Intake]) -> set[int]:
    """The unchecked keys of `intakes` that are revoked (or gone), as the transaction sees
    them: before it writes, so that a key revoked on one host is refused at once on
    every other, though its cache still holds it."""
    unchecked = _unchecked_keys(intakes)
    if not unchecked:
        return set()
    return unchecked - valid_key_ids(connection_of(session), unchecked)


def _settle(answer: asyncio.Future[IntakeResult], outcome: Outcome) -> None:
    """Answer a caller: its result, or the error it gets instead."""
    if isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def _open_in_batch(session: Session, intake: Intake, policies: PolicySet,
                   calendars: dict[str, BusinessCalendar], appends: Appends,
                   known: KnownCustomers, keys_used: set[str] | None) -> Outcome:
    """Write one complaint of a batch, uncommitted; a refusal before any write is returned.

    A retry under a known key, perhaps of a complaint earlier in this batch, is answered
    with that case. With the `keys_used` that the batch read (which learns the batch's
    own), a key not among them is not looked up."""
    request = intake.request
    stored_key = intake.stored_key
    # Only a replay under a key compares the request's fingerprint: none made without one.
    fingerprint = request.fingerprint if stored_key else ""
    if stored_key and appends.pending_key(stored_key):
        appends.insert_cases(session)  # a retry of one earlier in the batch finds it
    unused = keys_used is not None and stored_key not in keys_used
    if stored_key and keys_used is not None:
        keys_used.add(stored_key)
    try:
        with request_context.using(intake.request_id):
            return replay_or_open(session, stored_key, fingerprint,
                                  _writer(session, intake, policies, calendars, appends,
                                          known), unused=unused)
    except IdempotencyConflict as exc:
        return exc


def _open_alone(rt: Runtime, intake: Intake, policies: PolicySet,
                calendars: dict[str, BusinessCalendar]) -> Outcome:
    """Write one complaint in its own transaction, retrying lost races; or its error."""
    request = intake.request
    try:
        with request_context.using(intake.request_id), \
                Session(rt.engine, expire_on_commit=False) as session:
            if _revoked_keys(session, [intake]):
                return Unauthenticated(REVOKED)
            return open_once(
                session, idempotency_key=request.idempotency_key, actor=intake.actor,
                actor_kind=intake.actor_kind, fingerprint=request.fingerprint,
                open_new=_writer(session, intake, policies, calendars))
    except Exception as exc:  # noqa: BLE001 - the caller's answer carries it
        return exc


def _writer(session: Session, intake: Intake, policies: PolicySet,
            calendars: dict[str, BusinessCalendar], appends: Appends | None = None,
            known: KnownCustomers | None = None) -> Callable[[str | None], Opened]:
    """`open_new` for the intake's complaint: write it under the key given (its clocks,
    timeline, timers and notifications left to `appends`, and its customer looked up in
    `known`, when given)."""
    return lambda stored_key: write_complaint(
        session, intake.request, stored_key, (intake.actor, intake.actor_kind), policies,
        calendars, intake.now, appends=appends, known=known)
