"""What a batch of escalation timers fired, as rows for the flow run's table artifact:
case, team, clock, rung and the staff notified (names and roles, no contact data)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlmodel import col, func, select

from domain.catalogue import definition
from domain.timers import ESCALATION
from engine.db import session_scope
from engine.id_lists import among
from engine.models import Case, OutboxMessage, Timer

if TYPE_CHECKING:
    from core.runtime import Runtime

# A storm fires thousands of rungs; the artifact shows the first ones, and says so.
MAX_ROWS = 200


def fired_rungs(runtime: Runtime, timer_ids: list[int]) -> tuple[list[dict[str, Any]], int]:
    """The first `MAX_ROWS` escalation rungs among `timer_ids` that fired, and how many did."""
    fired = (among(runtime.engine, col(Timer.id), timer_ids), Timer.kind == ESCALATION,
             Timer.status == "fired")
    with session_scope(runtime.engine) as session:
        count = session.exec(select(func.count()).select_from(Timer).where(*fired)).one()
        shown = list(session.exec(select(Timer).where(*fired).order_by(col(Timer.id))
                                  .limit(MAX_ROWS)))
        case_ids = sorted({timer.case_id for timer in shown})
        teams = dict(session.exec(select(col(Case.id), col(Case.team))
                                  .where(among(runtime.engine, col(Case.id), case_ids))).all())
        notified: defaultdict[str, list[str]] = defaultdict(list)
        for key, recipient, role in session.exec(
                select(col(OutboxMessage.key), col(OutboxMessage.recipient),
                       col(OutboxMessage.role))
                .where(among(runtime.engine, col(OutboxMessage.case_id), case_ids))):
            notified[key.rpartition(":")[0]].append(f"{recipient} ({role})")
    rows = []
    for timer in shown:
        ladder = definition(timer.process).ladder(runtime.policies)
        step = timer.step or 0
        rung = ladder[step] if step < len(ladder) else None
        rows.append({
            "case": timer.case_id, "process": timer.process, "team": teams.get(timer.case_id),
            "clock": timer.name, "rung": step + 1, "step": rung.name if rung else "",
            "level": rung.level if rung else None,
            "notified": ", ".join(sorted(notified[timer.key])) or "nobody",
        })
    return rows, count
