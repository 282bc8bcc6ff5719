"""Fire a chunk of escalation rungs in one transaction, with rows and bulk writes.

A storm is thousands of rungs due at once, and each is a small decision: what it costs
is what surrounds it. Here the chunk's timers, cases, clocks and customers are read as
plain rows (no model objects), each rung is decided on the case as the chunk's earlier
rungs left it, and what they change is written with one statement per table: the
cases, clocks and timers updated, the timeline, outbox and new timers inserted: on
PostgreSQL each table's rows as one JSON document (`engine.pg_bulk`), on SQLite an
`executemany` (`Appends` for the inserts).

It writes what `persist_decision` and the ORM write for the same decisions. A rung it
cannot take that way is left to the caller, to fire alone after the chunk's commit
(with every later rung of its case in the chunk, in their order): one that turns out
obsolete (its case is planned again), one whose decision moves the case to another
stage, and one of a process whose `after_decision` hook must see rungs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlmodel import Session

from domain.catalogue import definition
from domain.escalation import step_due
from domain.policy import EscalationStep
from domain.process import CaseSnapshot, Decision
from engine import hooks, metrics
from engine.claims import held_by
from engine.id_lists import among
from engine.models import Timer
from engine.pg_bulk import insert_rows, update_rows
from engine.store import (
    CASES,
    CLOCKS,
    CUSTOMERS,
    EVENTS,
    OUTBOX,
    TIMERS,
    Appends,
    NewTimer,
    adjust_load,
    case_columns,
    clock_columns,
    outbox_rows,
    snapshot_of,
    sync_timers,
    timeline_rows,
    timers_wanted,
)

if TYPE_CHECKING:
    from core.runtime import Runtime

# What a decision may set on the case row, and on a clock's row.
_CASE_SET = ("stage", "priority", "team", "channel", "assignee", "escalation_level",
             "resolved_count", "stage_entered_at", "data", "updated_at", "version",
             "closed_at")
_CLOCK_SET = ("calendar", "target_seconds", "elapsed_seconds", "state", "steps_fired",
              "running_since", "stopped_at", "breached_at", "ladder_stopped_at", "due_at",
              "warn_at")
_TIMER_SET = ("status", "fire_at", "fired_at")
# By id, as `executemany`; the id's parameter is named apart from the columns set.
_UPDATE_CASE = (update(CASES).where(CASES.c.id == bindparam("row_id"))
                .values({name: bindparam(name) for name in _CASE_SET}))
_UPDATE_CLOCK = (update(CLOCKS).where(CLOCKS.c.id == bindparam("row_id"))
                 .values({name: bindparam(name) for name in _CLOCK_SET}))
_UPDATE_TIMER = (update(TIMERS).where(TIMERS.c.id == bindparam("row_id"))
                 .values({name: bindparam(name) for name in _TIMER_SET}))


@dataclass(eq=False)
class StoredTimer(NewTimer):
    """A stored timer row as the chunk changes it (`sync_timers` moves, cancels, revives)."""

    id: int = 0
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    fired_at: datetime | None = None
    stored: tuple[Any, ...] = ()  # status, fire_at and fired_at as read

    @classmethod
    def of(cls, row: Row[Any]) -> StoredTimer:
        return cls(key=row.key, case_id=row.case_id, process=row.process, kind=row.kind,
                   name=row.name, step=row.step, status=row.status, fire_at=row.fire_at,
                   id=row.id, claimed_by=row.claimed_by, claimed_at=row.claimed_at,
                   fired_at=row.fired_at, stored=(row.status, row.fire_at, row.fired_at))

    def changed(self) -> bool:
        return (self.status, self.fire_at, self.fired_at) != self.stored


@dataclass
class _CaseInHand:
    """A case of the chunk as its rungs so far left it."""

    row: Row[Any]
    snapshot: CaseSnapshot
    clocks: dict[str, dict[str, Any]]  # by name: the clock row's columns, as now written
    timers: list[Timer | NewTimer]
    version: int
    closed_at: datetime | None
    stored_clocks: dict[str, dict[str, Any]] = field(default_factory=dict)  # as read
    row_values: dict[str, Any] = field(default_factory=dict)  # its columns, as decided
    decided: bool = False  # a rung of it was fired here: its row is written
    left: bool = False  # a rung of it was left to fire alone: so are its later ones


@dataclass
class ChunkOutcome:
    """What firing the chunk did, and the timers left to fire alone, in their order."""

    outcomes: Counter[str] = field(default_factory=Counter)
    left: list[int] = field(default_factory=list)


def fire_rungs(session: Session, runtime: Runtime, timer_ids: list[int], now: datetime
               ) -> ChunkOutcome:
    """Fire the escalation timers `timer_ids` that this instance holds, in `session`'s
    transaction (the caller commits); those it cannot take this way are in `left`."""
    result = ChunkOutcome()
    connection = session.connection()
    engine = runtime.engine
    # Rows are locked in id order, as single firings and commands lock one case: two
    # instances or an API call never wait on each other in a cycle.
    claimed = connection.execute(
        select(TIMERS.c.id, TIMERS.c.case_id, TIMERS.c.status, TIMERS.c.claimed_by)
        .where(among(engine, TIMERS.c.id, timer_ids)).order_by(TIMERS.c.id)
        .with_for_update()).all()
    me = runtime.settings.instance_id
    held = {row.id: row.case_id for row in claimed if held_by(row, me)}
    mine = [timer_id for timer_id in timer_ids if timer_id in held]
    if len(mine) < len(timer_ids):
        result.outcomes["skipped"] += len(timer_ids) - len(mine)
    if not mine:
        return result
    cases = _load(connection, runtime, sorted(set(held.values())))
    by_id = {timer.id: timer for case in cases.values() for timer in case.timers
             if isinstance(timer, StoredTimer)}
    appends = Appends()
    ladders: dict[str, list[EscalationStep]] = {}
    for timer_id in mine:
        timer = by_id[timer_id]
        case = cases[timer.case_id]
        decision = None if case.left else _decide(runtime, case, timer, ladders, now)
        if decision is None:
            case.left = True
            result.left.append(timer_id)
            continue
        _apply(session, runtime, case, decision, appends, now)
        rung = ladders[timer.process]
        metrics.rung_fired(session, timer.process,
                           rung[min(timer.step or 0, len(rung) - 1)].level, timer.fire_at, now)
        timer.status, timer.fired_at = "fired", now
        result.outcomes["fired"] += 1
    _write(connection, cases.values(), appends)
    return result


def _load(connection: Connection, runtime: Runtime, case_ids: list[int]
          ) -> dict[int, _CaseInHand]:
    """The cases (locked, in id order), with their clocks, customers and every timer,
    by case id."""
    engine = runtime.engine
    case_rows = connection.execute(
        select(CASES).where(among(engine, CASES.c.id, case_ids)).order_by(CASES.c.id)
        .with_for_update()).all()
    clocks: defaultdict[int, list[Row[Any]]] = defaultdict(list)
    for clock in connection.execute(select(CLOCKS).where(among(engine, CLOCKS.c.case_id,
                                                               case_ids))):
        clocks[clock.case_id].append(clock)
    timers: defaultdict[int, list[Timer | NewTimer]] = defaultdict(list)
    for timer in connection.execute(select(TIMERS).where(among(engine, TIMERS.c.case_id,
                                                               case_ids))):
        timers[timer.case_id].append(StoredTimer.of(timer))
    customer_ids = {row.customer_id for row in case_rows if row.customer_id is not None}
    customers: dict[int, Any] = {row.id: row for row in connection.execute(
        select(CUSTOMERS.c.id, CUSTOMERS.c.name, CUSTOMERS.c.phone, CUSTOMERS.c.email)
        .where(among(engine, CUSTOMERS.c.id, customer_ids)))} if customer_ids else {}
    in_hand = {}
    for row in case_rows:
        stored = {clock.name: {"row_id": clock.id, **{name: getattr(clock, name)
                                                      for name in _CLOCK_SET}}
                  for clock in clocks[row.id]}
        in_hand[row.id] = _CaseInHand(
            row=row, snapshot=snapshot_of(row, clocks[row.id], customers.get(row.customer_id)),
            clocks={name: dict(values) for name, values in stored.items()},
            stored_clocks=stored, timers=timers[row.id], version=row.version,
            closed_at=row.closed_at)
    return in_hand


def _decide(runtime: Runtime, case: _CaseInHand, timer: StoredTimer,
            ladders: dict[str, list[EscalationStep]], now: datetime) -> Decision | None:
    """The rung's decision on the case as it now stands; None for one to fire alone."""
    process = case.snapshot.process
    if hooks.installed().of(process).hook_after_rungs():
        return None
    ladder = ladders.get(process)
    if ladder is None:
        ladder = ladders[process] = definition(process).ladder(runtime.policies)
    decision = step_due(case.snapshot, clock_name=timer.name, step_index=timer.step or 0,
                        ladder=ladder, policies=runtime.policies,
                        calendars=runtime.calendars, timer_key=timer.key, now=now)
    if decision is None or decision.after.stage != decision.before.stage:
        return None  # obsolete (planned again), or a closure the hooks must see
    return decision


def _apply(session: Session, runtime: Runtime, case: _CaseInHand, decision: Decision,
           appends: Appends, now: datetime) -> None:
    """What `persist_decision` writes for `decision`, kept for the chunk's statements."""
    before, after = decision.before, decision.after
    process = definition(after.process)
    final = process.TABLE.final_stages
    case.version += 1
    if after.stage in final and case.closed_at is None:
        case.closed_at = now
        metrics.case_closed(session, after.process)
    adjust_load(session, before, after, final, appends.loads)
    warn_fraction = process.ladder(runtime.policies)[0].at_percent / 100
    for name, clock in after.clocks.items():
        values = clock_columns(clock, runtime.calendars[clock.calendar], warn_fraction)
        case.clocks.setdefault(name, {"started_at": clock.started_at}).update(values)
    appends.events += timeline_rows(after.id, decision, now)
    appends.messages += outbox_rows(after.id, decision, now)
    sync_timers(session, after.id, after.process,
                timers_wanted(after, runtime.policies, runtime.calendars),
                loaded=case.timers, appends=appends)
    case.snapshot, case.decided = after, True
    case.row_values = {**case_columns(after), "updated_at": now}


def _write(connection: Connection, cases: Any, appends: Appends) -> None:
    """Write what the chunk's rungs changed: a statement per table."""
    case_rows, clock_rows, timer_rows = [], [], []
    for case in cases:
        for timer in case.timers:
            if isinstance(timer, StoredTimer) and timer.changed():
                timer_rows.append({"row_id": timer.id, "status": timer.status,
                                   "fire_at": timer.fire_at, "fired_at": timer.fired_at})
        if not case.decided:
            continue
        case_rows.append({"row_id": case.row.id, **case.row_values, "version": case.version,
                          "closed_at": case.closed_at})
        for name, values in case.clocks.items():
            stored = case.stored_clocks.get(name)
            if stored is None:
                appends.clocks.append({"case_id": case.row.id, "process": case.row.process,
                                       "name": name, **values})
            elif values != stored:  # most of a storm's clocks are as they were
                clock_rows.append(values)
    if connection.dialect.name == "postgresql":
        # A statement a table, its rows as one JSON document (what `Appends.insert`
        # leaves is the rare new clock and the team members' loads).
        update_rows(connection, CASES, case_rows, _CASE_SET)
        update_rows(connection, CLOCKS, clock_rows, _CLOCK_SET)
        update_rows(connection, TIMERS, timer_rows, _TIMER_SET)
        insert_rows(connection, EVENTS, appends.events)
        insert_rows(connection, OUTBOX, appends.messages)
        insert_rows(connection, TIMERS, [timer.columns() for timer in appends.timers])
        appends.events, appends.messages, appends.timers = [], [], []
    else:
        for statement, rows in ((_UPDATE_CASE, case_rows), (_UPDATE_CLOCK, clock_rows),
                                (_UPDATE_TIMER, timer_rows)):
            if rows:
                connection.execute(statement, rows)
    appends.insert(connection)
