"""The running service's shared pieces: settings, store, clock, policies, notifier.

Prefect tasks take plain ids, so they reach the store and the policies through the
runtime the process configured at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from core.clock import Clock, SystemClock
from core.db import make_engine, migrate, session_scope
from core.notifier import AppriseNotifier, Notifier
from core.policy_loader import build_calendars, load_policies
from core.settings import Settings
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    policies: PolicySet
    calendars: dict[str, BusinessCalendar]
    notifier: Notifier

    @property
    def lease(self) -> timedelta:
        """The claim lease in this clock's time."""
        speed = getattr(self.clock, "speed", 1.0)
        return timedelta(seconds=self.settings.claim_lease_seconds * speed)


_current: Runtime | None = None


def configure(
    settings: Settings,
    *,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    engine: Engine | None = None,
) -> Runtime:
    """Load and check the policies, migrate the store, and make this the current runtime."""
    from core.cases import sync_team_members

    global _current
    policies = load_policies(settings.policies)  # a bad file stops start-up here
    engine = engine or make_engine(settings.resolved_database_url)
    migrate(engine)
    with session_scope(engine) as session:
        sync_team_members(session, policies)
    _current = Runtime(
        settings=settings, engine=engine, clock=clock or SystemClock(settings.clock_speed),
        policies=policies, calendars=build_calendars(policies),
        notifier=notifier or AppriseNotifier(),
    )
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the Caseflow runtime is not configured")
    return _current
