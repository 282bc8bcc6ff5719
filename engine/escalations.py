"""Fire claimed timers, at most once each: escalation rungs together, the others alone.

A storm of breaches is many escalation rungs due at once. Those are fired a chunk at a
time in one transaction, with the chunk's cases, clocks, customers and timers read in
a few queries and its writes made in one statement per table (`engine.rung_chunks`):
per rung, what is left is the decision. A rung that way cannot take (one turned
obsolete) is fired alone after the chunk. If anything in a chunk fails, the chunk is
rolled back and each of its timers is fired alone, so one bad case never holds back the
rest. Other timers (process timers: survey sends, PDCA checks) read store facts that an
earlier timer of the same chunk could change, so each is fired in its own transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from domain.catalogue import definition
from domain.escalation import step_due
from domain.process import CaseSnapshot
from domain.timers import ESCALATION
from engine import metrics
from engine.claims import held_by
from engine.db import is_retryable, session_scope
from engine.hooks import after_decision, timer_facts
from engine.id_lists import among
from engine.models import Case, Customer, SlaClock, Timer
from engine.rung_chunks import fire_rungs
from engine.store import (
    load_case,
    load_clocks,
    persist_decision,
    snapshot_of,
    sync_timers,
    timers_wanted,
)

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.timers")

# Rungs fired in one transaction: big enough that per-transaction costs fade, small
# enough that the cases it locks are released within a fraction of a second.
CHUNK = 200
# Chunks fired at once on PostgreSQL: while one waits for the server (its reads, its
# writes), the next one's decisions are made, so the sweeper's Python and PostgreSQL
# work side by side. Chunks hold disjoint cases, so they never wait on each other's
# locks. SQLite has a single writer: there they go one after the other.
CHUNKS_AT_ONCE = 2


def fire_timers(runtime: Runtime, timer_ids: list[int]) -> dict[str, int]:
    """Fire each claimed timer; return how many fired, were obsolete or were skipped."""
    outcomes: Counter[str] = Counter()
    with session_scope(runtime.engine) as session:
        rows = session.exec(select(col(Timer.id), col(Timer.kind), col(Timer.case_id))
                            .where(among(runtime.engine, col(Timer.id), timer_ids))).all()
    kinds = {timer_id: kind for timer_id, kind, _ in rows}
    case_of = {timer_id: case_id for timer_id, _, case_id in rows if timer_id is not None}
    chunks = by_case([t for t in timer_ids if kinds.get(t) == ESCALATION], case_of)
    if runtime.engine.dialect.name == "postgresql" and len(chunks) > 1:
        with ThreadPoolExecutor(CHUNKS_AT_ONCE, thread_name_prefix="caseflow-rungs") as pool:
            for outcome in pool.map(lambda chunk: _fire_chunk(runtime, chunk), chunks):
                outcomes.update(outcome)
    else:
        for chunk in chunks:
            outcomes.update(_fire_chunk(runtime, chunk))
    outcomes.update(_fire_alone(runtime, [t for t in timer_ids if kinds.get(t) != ESCALATION]))
    return dict(outcomes)


def by_case(timer_ids: list[int], case_of: dict[int, int]) -> list[list[int]]:
    """The timers in chunks of about CHUNK, each case's all in one chunk and in their
    order: its rungs climb in turn, in one transaction, whichever chunk goes first."""
    per_case: dict[int, list[int]] = {}
    for timer_id in timer_ids:
        per_case.setdefault(case_of[timer_id], []).append(timer_id)
    chunks: list[list[int]] = [[]]
    for rungs in per_case.values():
        if chunks[-1] and len(chunks[-1]) + len(rungs) > CHUNK:
            chunks.append([])
        chunks[-1] += rungs
    return [chunk for chunk in chunks if chunk]


def _fire_chunk(runtime: Runtime, chunk: list[int]) -> Counter[str]:
    try:
        return _fire_together(runtime, chunk)
    except Exception:
        log.warning("firing %s escalation timers together failed; firing each alone",
                    len(chunk), exc_info=True)
        return _fire_alone(runtime, chunk)


def _fire_alone(runtime: Runtime, timer_ids: Iterable[int]) -> Counter[str]:
    return Counter(_fire_with_retry(runtime, timer_id) for timer_id in timer_ids)


def _fire_with_retry(runtime: Runtime, timer_id: int) -> str:
    for attempt in (1, 2):
        try:
            return fire_timer(runtime, timer_id)
        except Exception as exc:
            if attempt == 1 and is_retryable(exc):
                continue  # a deadlock the database broke: the transaction was rolled back
            # Left claimed: the lease runs out and the timer is retried, never lost.
            log.exception("timer %s failed; it will be retried", timer_id)
    return "failed"


def fire_timer(runtime: Runtime, timer_id: int) -> str:
    """Fire one timer this instance holds; 'skipped' if it is not ours any more."""
    now = runtime.clock.now()
    with session_scope(runtime.engine) as session:
        timer = session.exec(
            select(Timer).where(Timer.id == timer_id).with_for_update()).first()
        if timer is None or not held_by(timer, runtime.settings.instance_id):
            return "skipped"
        case = load_case(session, timer.case_id, for_update=True)
        assert case is not None
        # The customer only matters to the messages an escalation sends.
        customer = (session.get(Customer, case.customer_id)
                    if timer.kind == ESCALATION and case.customer_id else None)
        return _fire(session, runtime, timer, case, load_clocks(session, timer.case_id),
                     customer, now=now)


def _fire_together(runtime: Runtime, timer_ids: list[int]) -> Counter[str]:
    """Fire escalation timers in one transaction, with rows and bulk writes; then, each
    alone, those that way could not take (`engine.rung_chunks`)."""
    with session_scope(runtime.engine) as session:
        chunk = fire_rungs(session, runtime, timer_ids, runtime.clock.now())
    return chunk.outcomes + _fire_alone(runtime, chunk.left)


def _fire(session: Session, runtime: Runtime, timer: Timer, case: Case,
          clocks: list[SlaClock], customer: Customer | None, *, now: datetime) -> str:
    """Decide what the timer means for the case at `now`, and write it: 'fired', or
    'obsolete' when it means nothing now (it is then planned again)."""
    snapshot = snapshot_of(case, clocks, customer)
    process = definition(case.process)
    ladder = process.ladder(runtime.policies) if timer.kind == ESCALATION else []
    if timer.kind == ESCALATION:
        decision = step_due(
            snapshot, clock_name=timer.name, step_index=timer.step or 0,
            ladder=ladder, policies=runtime.policies,
            calendars=runtime.calendars, timer_key=timer.key, now=now)
    else:
        facts = timer_facts(session, snapshot, timer.name, now)
        decision = process.on_timer(snapshot, timer.name, runtime.policies,
                                    runtime.calendars, now, facts)
    if decision is None:
        _plan_again(session, runtime, timer, snapshot, now=now)
        return "obsolete"
    persist_decision(session, case, clocks, decision, policies=runtime.policies,
                     calendars=runtime.calendars, now=now)
    after_decision(session, case, decision, policies=runtime.policies,
                   calendars=runtime.calendars, now=now, runtime=runtime)
    if ladder:
        rung = ladder[min(timer.step or 0, len(ladder) - 1)]
        metrics.rung_fired(session, case.process, rung.level, timer.fire_at, now)
    timer.status, timer.fired_at = "fired", now
    session.add(timer)
    return "fired"


def _plan_again(session: Session, runtime: Runtime, timer: Timer, case: CaseSnapshot, *,
                now: datetime) -> None:
    """Give back a timer that came due for nothing, to wait as the case now needs.

    An event that paused, stopped or pushed back its clock while the timer was claimed
    could not reschedule it (a claimed timer is its holder's): the case's timers are
    planned again here, so this one waits for its clock to run again, moves to the new
    due time, or is cancelled, and a resumed clock's rung still fires. One whose
    handler declined it though its plan still wants it now stays obsolete for good,
    lest it be claimed again and again.
    """
    timer.status, timer.claimed_by, timer.claimed_at = "cancelled", None, None
    sync_timers(session, case.id, case.process,
                timers_wanted(case, runtime.policies, runtime.calendars))
    if timer.status == "pending" and timer.fire_at is not None and timer.fire_at <= now:
        timer.status, timer.fired_at = "obsolete", now
    session.add(timer)
