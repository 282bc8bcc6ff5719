"""Fire claimed timers: each in its own transaction, at most once."""

from __future__ import annotations

import logging
from collections import Counter

from sqlmodel import select

from core.db import is_retryable, session_scope
from core.models import Customer, Timer
from core.processes import after_decision, timer_facts
from core.runtime import Runtime
from core.store import load_case, load_clocks, persist_decision, snapshot_of
from domain.escalation import step_due
from domain.processes import definition
from domain.timers import ESCALATION

log = logging.getLogger("caseflow.timers")


def fire_timers(runtime: Runtime, timer_ids: list[int]) -> dict[str, int]:
    """Fire each claimed timer; return how many fired, were obsolete or were skipped."""
    outcomes: Counter[str] = Counter()
    for timer_id in timer_ids:
        outcomes[_fire_with_retry(runtime, timer_id)] += 1
    return dict(outcomes)


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
        if timer is None or timer.status != "claimed" or \
                timer.claimed_by != runtime.settings.instance_id:
            return "skipped"
        case = load_case(session, timer.case_id, for_update=True)
        assert case is not None
        clocks = load_clocks(session, timer.case_id)
        # The customer only matters to the messages an escalation sends.
        customer = (session.get(Customer, case.customer_id)
                    if timer.kind == ESCALATION and case.customer_id else None)
        snapshot = snapshot_of(case, clocks, customer)
        process = definition(case.process)
        if timer.kind == ESCALATION:
            decision = step_due(
                snapshot, clock_name=timer.name, step_index=timer.step or 0,
                ladder=process.ladder(runtime.policies), policies=runtime.policies,
                calendars=runtime.calendars, timer_key=timer.key, now=now)
        else:
            facts = timer_facts(session, snapshot, timer.name, now)
            decision = process.on_timer(snapshot, timer.name, runtime.policies,
                                        runtime.calendars, now, facts)
        if decision is not None:
            persist_decision(session, case, clocks, decision, policies=runtime.policies,
                             calendars=runtime.calendars, now=now)
            after_decision(session, case, decision, policies=runtime.policies,
                           calendars=runtime.calendars, now=now, runtime=runtime)
        timer.status = "fired" if decision is not None else "obsolete"
        timer.fired_at = now
        session.add(timer)
        return timer.status
