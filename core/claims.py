"""Claim due rows (timers, outbox messages) in due order, so no two instances take the same.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite has a single writer, so its
UPDATE is already exclusive. A claim is a lease: if its holder dies, the rows return to
the queue once the lease has run out, and the `claimed_by` check on the way out makes
a late holder's work a no-op.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from core.db import session_scope


def claim_due(
    engine: Engine,
    model: Any,
    *,
    due_column: str,
    now: datetime,
    limit: int,
    instance: str,
    lease: timedelta,
    returning: tuple[str, ...] = ("id",),
) -> list[Any]:
    """Claim up to `limit` rows that are due, oldest first; return their `returning` columns."""
    due = getattr(model, due_column)
    with session_scope(engine) as session:
        _release_expired(session, model, now - lease)
        candidates = (
            select(model.id)
            .where(model.status == "pending", col(due) <= now)
            .order_by(due)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = session.execute(
            update(model)
            .where(col(model.id).in_(candidates.scalar_subquery()))
            .values(status="claimed", claimed_by=instance, claimed_at=now)
            .returning(*(getattr(model, name) for name in returning))
            .execution_options(synchronize_session=False)
        )
        rows = result.all()
    return sorted(rows, key=lambda r: r[0])


def held_by(row: Any, instance: str) -> bool:
    """Whether `instance` still holds its claim on `row`: a lease that ran out may have
    passed the row to another instance, whose work it then is."""
    return row.status == "claimed" and row.claimed_by == instance


def _release_expired(session: Session, model: Any, stale_before: datetime) -> None:
    """Put rows whose claim outlived its lease back in the queue."""
    session.execute(
        update(model)
        .where(model.status == "claimed", col(model.claimed_at) < stale_before)
        .values(status="pending", claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
