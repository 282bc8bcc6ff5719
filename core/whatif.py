"""Read the complaints opened in a period from the store and replay them under a
candidate policy set, beside what was recorded. Reads only: nothing is written.

Cases are read a chunk at a time in id order (cases, then their clocks and timelines,
each with one statement over the chunk's id range), so a month of a busy service
never sits in memory at once; each case is counted into the report as it is replayed
(`domain.whatif.report.Comparison`), and only the changed ones are kept.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from multiprocessing import get_context
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Text, and_, cast, make_url, select

from core.policy_loader import build_calendars, load_policy_texts
from domain.calendars import BusinessCalendar
from domain.catalogue import definitions
from domain.complaint import rules as complaint
from domain.policy import PolicySet, Tier
from domain.whatif.history import (
    DERIVED,
    SET_BY_CALLER,
    RecordedCase,
    RecordedEvent,
)
from domain.whatif.outcome import Outcome, verdict
from domain.whatif.replay import RUNG_ENTRIES, replay, rung_of
from domain.whatif.report import Comparison, WhatIfReport
from engine.db import json_value, make_engine
from engine.store import CASES, CLOCKS, EVENTS

CHUNK = 2000  # cases read and replayed at a time
# The fewest complaints worth a process of their own: starting one (a fresh interpreter,
# the imports, the policies) costs about a second of CPU, the replay of 2,000 about 0.6 s.
MIN_SHARE = 2 * CHUNK
GC_YOUNG_THRESHOLD = 10_000  # allocations between collections while replaying (see below)
# The events people send a complaint; other entries on its timeline are written by other
# processes (a follow-up opened, a link to a crisis) and change nothing the replay counts.
REPLAYED = frozenset(t.event for t in complaint.TABLE.transitions) - DERIVED
# The entries read: the opening's, the rungs (the recorded outcome) and those replayed.
OPENING = ("opened", "classify", "assign")
READ = REPLAYED | RUNG_ENTRIES | frozenset(OPENING)


def replayed_processes() -> dict[str, list[str]]:
    """The processes a what-if replays (complaints) and those it does not: their cases
    are not read, and their candidate policies, validated with the rest, change nothing."""
    return {"replayed": [complaint.NAME],
            "not_replayed": sorted(set(definitions()) - {complaint.NAME})}


@dataclass(frozen=True)
class Period:
    """The cases opened from `start` (inclusive) to `end` (exclusive), in some teams."""

    start: datetime
    end: datetime
    teams: frozenset[str] | None = None  # None: every team
    # Further case columns to match (category, channel, priority, tier): a cycle's scope.
    scope: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_days(cls, first: date, last: date, timezone: str,
                teams: frozenset[str] | None = None,
                scope: Mapping[str, str] | None = None) -> Period:
        """From the start of `first` to the end of `last`, both days in `timezone`."""
        if last < first:
            raise ValueError("the period ends before it starts")
        zone = ZoneInfo(timezone)
        return cls(datetime.combine(first, time(), zone),
                   datetime.combine(last + timedelta(days=1), time(), zone), teams,
                   dict(scope or {}))


def _matching(period: Period) -> list[Any]:
    """The conditions on the cases table that select the period's complaints."""
    matching = [CASES.c.process == complaint.NAME, CASES.c.opened_at >= period.start,
                CASES.c.opened_at < period.end]
    if period.teams is not None:
        matching.append(CASES.c.team.in_(sorted(period.teams)))
    matching += [CASES.c[name] == value for name, value in sorted(period.scope.items())]
    return matching


def recorded_cases(db: Connection, period: Period, *, as_of: datetime,
                   ids: tuple[int, int] | None = None) -> Iterator[RecordedCase | int]:
    """The period's complaints as recorded (those with ids in the range `ids`, both ends
    included, when given), in id order; the id alone of a case whose opening the
    timeline does not hold (it cannot be replayed)."""
    matching = _matching(period)
    if ids is not None:
        matching += [CASES.c.id >= ids[0], CASES.c.id <= ids[1]]
    after = 0
    while True:
        cases = db.execute(
            select(CASES.c.id, CASES.c.stage, CASES.c.assignee, CASES.c.escalation_level,
                   CASES.c.tier, CASES.c.category, CASES.c.channel, CASES.c.subject,
                   CASES.c.description, CASES.c.opened_at, CASES.c.team)
            .where(*matching, CASES.c.id > after).order_by(CASES.c.id).limit(CHUNK)).all()
        if not cases:
            return
        first, last = cases[0].id, cases[-1].id
        in_chunk = and_(CASES.c.id >= first, CASES.c.id <= last, *matching)
        clocks: dict[int, list[Any]] = {}
        for clock in db.execute(
                select(CLOCKS.c.case_id, CLOCKS.c.name, CLOCKS.c.state, CLOCKS.c.breached_at,
                       CLOCKS.c.due_at)
                .join(CASES, CASES.c.id == CLOCKS.c.case_id).where(in_chunk)).all():
            clocks.setdefault(clock.case_id, []).append(clock)
        events: dict[int, list[_Entry]] = {}
        # The details as text, decoded here (json_value): faster than the driver's.
        for case_id, type_, actor, kind, at, details in db.execute(
                select(EVENTS.c.case_id, EVENTS.c.type, EVENTS.c.actor, EVENTS.c.actor_kind,
                       EVENTS.c.at, cast(EVENTS.c.details, Text))
                .join(CASES, CASES.c.id == EVENTS.c.case_id)
                .where(in_chunk, EVENTS.c.type.in_(sorted(READ)))
                .order_by(EVENTS.c.case_id, EVENTS.c.id)).all():
            events.setdefault(case_id, []).append(
                _Entry(type_, actor, kind, at, json_value(details)))
        for case in cases:
            found = _recorded(case, clocks.get(case.id, []), events.get(case.id, []), as_of)
            yield found if found is not None else case.id
        after = last


class _Entry(NamedTuple):
    """A timeline entry as read, its details decoded."""

    type: str
    actor: str
    actor_kind: str
    at: datetime
    details: dict[str, Any]


def _recorded(case: Any, clocks: list[Any], timeline: list[_Entry], as_of: datetime
              ) -> RecordedCase | None:
    by_type: dict[str, _Entry] = {}
    for entry in timeline:
        by_type.setdefault(entry.type, entry)
    opened, classified, assigned = (by_type.get(t) for t in OPENING)
    if opened is None or classified is None or assigned is None:
        return None
    outcome = Outcome(
        stage=case.stage, assignee=case.assignee, escalation_level=case.escalation_level,
        clocks={c.name: verdict(c.state, c.breached_at, c.due_at, as_of) for c in clocks},
        breached_at={c.name: c.breached_at for c in clocks},
        rungs=tuple(sorted(rung_of(e.details) for e in timeline
                           if e.type in RUNG_ENTRIES and e.at <= as_of)))
    return RecordedCase(
        id=case.id, team=str(assigned.details.get("team") or case.team),
        tier=Tier(opened.details.get("tier") or case.tier),
        priority=str(classified.details.get("priority")),
        requested=classified.details.get("reason") == SET_BY_CALLER,
        assignee=str(assigned.details.get("assignee")), opened_at=case.opened_at,
        opened_by=opened.actor, channel=case.channel, category=case.category,
        text=f"{case.subject}\n{case.description}",
        events=tuple(RecordedEvent.from_entry(e.type, e.actor, e.actor_kind, e.at, e.details)
                     for e in timeline if e.type in REPLAYED and e.at <= as_of),
        outcome=outcome)


def what_if(db: Connection, period: Period, *, candidate: PolicySet,
            calendars: Mapping[str, BusinessCalendar], as_of: datetime) -> WhatIfReport:
    """The period's complaints replayed under `candidate`, beside their recorded outcomes."""
    with _FEWER_COLLECTIONS:
        return _compared(db, period, candidate=candidate, calendars=calendars,
                         as_of=as_of).report()


class _FewerCollections:
    """While any replay runs, the cyclic garbage collector looks at its youngest objects
    every `GC_YOUNG_THRESHOLD` allocations instead of Python's 700. A replay allocates
    millions of short-lived objects that reference counting frees, so at 700 the
    collector ran every few cases and took about a sixth of a replay's CPU. Counted, so
    that overlapping replays (the API's threads) restore the setting only when the
    last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: tuple[int, ...] = ()

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(max(GC_YOUNG_THRESHOLD, self._saved[0]), *self._saved[1:])
            self._running += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                gc.set_threshold(*self._saved)


_FEWER_COLLECTIONS = _FewerCollections()


def _compared(db: Connection, period: Period, *, candidate: PolicySet,
              calendars: Mapping[str, BusinessCalendar], as_of: datetime,
              ids: tuple[int, int] | None = None) -> Comparison:
    """The period's complaints' recorded and replayed outcomes, counted a case at a time."""
    comparison = Comparison()
    for case in recorded_cases(db, period, as_of=as_of, ids=ids):
        if isinstance(case, int):
            missing = Outcome(stage="", assignee=None, escalation_level=0, clocks={},
                              breached_at={}, rungs=(),
                              unreplayable="its opening is not on its timeline")
            comparison.add(case, missing, missing)
            continue
        comparison.add(case.id, case.outcome, replay(case, candidate, calendars, until=as_of))
    return comparison


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def what_if_in_processes(url: str, period: Period, *, candidate: Mapping[str, str],
                         as_of: datetime, processes: int,
                         min_share: int = MIN_SHARE) -> WhatIfReport:
    """`what_if` with the complaints split by id over up to `processes` processes, each
    reading its share from the store at `url`, replaying it under the policy files
    `candidate` (contents by file name, validated before) and counting it; each sends
    back its counts and its changed cases, not every case's outcomes. The report is the
    one a single process makes. No process gets fewer than `min_share` complaints, and
    one share is replayed here, without starting a process; so is an in-memory SQLite
    database, which no other process can open."""
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            ids = list(db.execute(select(CASES.c.id).where(*_matching(period))
                                  .order_by(CASES.c.id)).scalars())
    finally:
        engine.dispose()
    processes = max(1, min(processes, len(ids) // max(1, min_share)))
    if _in_memory(url):
        processes = 1
    size = -(-len(ids) // processes) if ids else 1
    shares = [(ids[lo], ids[min(lo + size, len(ids)) - 1]) for lo in range(0, len(ids), size)]
    jobs = [(url, period, dict(candidate), as_of, share) for share in shares]
    if len(jobs) <= 1:
        return _share((url, period, dict(candidate), as_of, None)).report()
    comparison = Comparison()
    # Spawned, not forked: a forked child would share the parent's open connections.
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=get_context("spawn")) as pool:
        for share in pool.map(_share, jobs):
            comparison.merge(share)
    return comparison.report()


def _in_memory(url: str) -> bool:
    """Whether `url` is a SQLite database held in its process's memory."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory")


def _share(job: tuple[str, Period, dict[str, str], datetime, tuple[int, int] | None]
           ) -> Comparison:
    """One process's share of `what_if_in_processes`."""
    url, period, files, as_of, ids = job
    candidate = load_policy_texts(files)
    engine = make_engine(url)
    try:
        with engine.connect() as db, _FEWER_COLLECTIONS:
            return _compared(db, period, candidate=candidate,
                             calendars=build_calendars(candidate), as_of=as_of, ids=ids)
    finally:
        engine.dispose()


class ReplaysBusy(RuntimeError):
    """So many replays are running or waiting that another one is refused for now."""


class ReplayWorkers:
    """Where a server replays: in `processes` spawned processes of its own, started at the
    first replay and kept for the next. In a thread of the server, a replay (up to a
    minute of CPU for a large period) would hold the interpreter's lock against every
    other request the process serves, its event loop included; in another process it
    takes a core the operating system shares out, and the server's thread only waits.
    Up to `waiting` more wait their turn; beyond that `run` refuses (`ReplaysBusy`)."""

    def __init__(self, processes: int = 1, waiting: int = 4) -> None:
        self.processes, self.waiting = processes, waiting
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pending = 0

    def run(self, engine: Engine, period: Period, *, candidate: Mapping[str, str],
            as_of: datetime) -> WhatIfReport:
        """`what_if` of the store `engine` opens, under the policy files `candidate`
        (contents by file name, validated before), replayed in one of the processes
        (which open the store by the engine's URL); the calling thread waits for it. An
        in-memory SQLite database, which no other process can open, is replayed in the
        calling thread."""
        url = engine.url.render_as_string(hide_password=False)
        if _in_memory(url):
            policies = load_policy_texts(candidate)
            with engine.connect() as db:
                return what_if(db, period, candidate=policies,
                               calendars=build_calendars(policies), as_of=as_of)
        with self._lock:
            if self._pending >= self.processes + self.waiting:
                raise ReplaysBusy(f"{self._pending} what-if replays are running or waiting")
            if self._pool is None:
                # Spawned, not forked: a fork would copy the server's threads and connections.
                self._pool = ProcessPoolExecutor(max_workers=self.processes,
                                                 mp_context=get_context("spawn"))
            pool = self._pool
            self._pending += 1
        try:
            return pool.submit(_replayed, url, period, dict(candidate), as_of).result()
        except BrokenProcessPool:
            with self._lock:  # a process died (killed, out of memory): start afresh next time
                if self._pool is pool:
                    self._pool = None
            raise
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        """Stop the processes, dropping the replays that wait (the server is stopping)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _replayed(url: str, period: Period, files: dict[str, str], as_of: datetime
              ) -> WhatIfReport:
    """A `ReplayWorkers` process's replay of a whole period."""
    return _share((url, period, files, as_of, None)).report()
