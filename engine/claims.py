"""Claim due rows (timers, outbox messages) in due order, so no two instances take the same.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite has a single writer, so its
UPDATE is already exclusive. A claim is a lease, short (`claim_lease_seconds`) and
renewed while its holder works on it (`Leases`): if its holder dies, the renewals stop
and the rows return to the queue once the lease has run out, and the `claimed_by` check
on the way out makes a late holder's work a no-op.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from engine import metrics
from engine.clock import Clock
from engine.db import session_scope
from engine.models import OutboxMessage, Timer


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
    due_by: datetime | None = None,
) -> list[Any]:
    """Claim up to `limit` rows due by `due_by` (default: now), oldest first; return their
    `returning` columns."""
    due = getattr(model, due_column)
    with session_scope(engine) as session:
        _release_expired(session, model, now - lease, instance)
        candidates = (
            select(model.id)
            .where(model.status == "pending", col(due) <= (due_by or now))
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


def next_due(engine: Engine, model: Any, due_column: str) -> datetime | None:
    """When the earliest pending row falls due; None when none is pending."""
    with session_scope(engine) as session:
        return session.execute(
            select(func.min(getattr(model, due_column))).where(model.status == "pending")
        ).scalar_one()


def held_by(row: Any, instance: str) -> bool:
    """Whether `instance` still holds its claim on `row`: a lease that ran out may have
    passed the row to another instance, whose work it then is."""
    return row.status == "claimed" and row.claimed_by == instance


def _release_expired(session: Session, model: Any, stale_before: datetime,
                     instance: str) -> None:
    """Put rows whose claim outlived its lease back in the queue, to be claimed again:
    another instance's first (counted as taken over), then this one's own."""
    expired = (model.status == "claimed", col(model.claimed_at) < stale_before)
    release = dict(status="pending", claimed_by=None, claimed_at=None)
    taken = session.exec(
        update(model).where(*expired, model.claimed_by != instance).values(**release)
        .execution_options(synchronize_session=False)).rowcount
    session.execute(update(model).where(*expired).values(**release)
                    .execution_options(synchronize_session=False))
    if taken:
        counter = metrics.CLAIMS_TAKEN_OVER.labels("timer" if model is Timer else "outbox")
        metrics.after_commit(session, lambda: counter.inc(taken))


class Leases:
    """Renew the leases of the claims an instance has in hand, while work on them goes on.

    Between `begin` and `end` (a sweeper's tick; the scheduler's firing and its delivery
    may overlap), every row this instance claims is in hand, and `renew` (on a timer, a
    few times per lease) moves its claim to now, so a batch that outlasts the lease is
    never taken over. Rows left claimed by work that is over (work that failed) are
    renewed only while other work begun before their last renewal goes on (seconds, but
    a storm's firing), then return to the queue after the lease.
    """

    def __init__(self, engine: Engine, instance: str, clock: Clock) -> None:
        self.engine, self.instance, self.clock = engine, instance, clock
        self._since: dict[int, datetime] = {}  # the work in hand, by token: when it began
        self._tokens = itertools.count()
        self._lock = threading.Lock()

    def begin(self) -> int:
        """Work begins; its token, for `end`."""
        with self._lock:
            token = next(self._tokens)
            self._since[token] = self.clock.now()
        return token

    def end(self, token: int | None = None) -> None:
        """The work `token` began (default: the latest begun) is over."""
        with self._lock:
            if token is None:
                token = max(self._since, default=None)
            if token is not None:
                self._since.pop(token, None)

    def renew(self) -> int:
        """Move the claims in hand to now; how many rows were renewed."""
        with self._lock:
            since = min(self._since.values(), default=None)
        if since is None:
            return 0
        now, renewed = self.clock.now(), 0
        with session_scope(self.engine) as session:
            for model in (Timer, OutboxMessage):
                # Rows locked by the work itself are skipped: they are being finished.
                in_hand = (select(model.id)
                           .where(model.status == "claimed", model.claimed_by == self.instance,
                                  col(model.claimed_at) >= since)
                           .with_for_update(skip_locked=True))
                result = session.exec(
                    update(model).where(col(model.id).in_(in_hand.scalar_subquery()))
                    .values(claimed_at=now).execution_options(synchronize_session=False))
                renewed += result.rowcount
        return renewed
