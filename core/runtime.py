"""The running service's shared pieces: settings, store, clock, policies, notifier.

Prefect tasks take plain ids, so they reach the store and the policies through the
runtime the process configured at start-up.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.keys import KeyCache
from core.limits import Limits
from core.oidc import OidcVerifier
from core.policy_loader import PolicyError, build_calendars, load_policies
from core.settings import Settings
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from engine import hooks
from engine.clock import Clock
from engine.clock_epoch import shared_clock
from engine.db import make_engine, migrate, schema_revisions, session_scope
from engine.models import SlaClock
from engine.notifier import AppriseNotifier, Notifier
from processes.complaint.intake import IntakeWriter
from processes.followup.survey_links import resolve_secret
from processes.registry import HOOKS

if TYPE_CHECKING:
    from engine.coordination import AdvisoryLock, ReloadSignal


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    policies: PolicySet
    calendars: dict[str, BusinessCalendar]
    notifier: Notifier
    oidc: OidcVerifier | None = None
    survey_secret: bytes = field(default=b"", repr=False)  # signs survey links
    _reloading: threading.Lock = field(default_factory=threading.Lock, repr=False)
    intake: IntakeWriter = field(init=False, repr=False)  # writes the complaints opened
    keys: KeyCache = field(init=False, repr=False)  # the API keys checked lately
    limits: Limits = field(init=False, repr=False)  # failed authentications, survey links
    # Set when other processes share the store: a reload here tells them (core.workers).
    reload_stamp: ReloadSignal | None = field(default=None, repr=False)
    # On PostgreSQL, held while this process may run flow runs under its instance id, so
    # that no other instance takes them for a dead one's (engine.coordination).
    liveness: AdvisoryLock | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.intake = IntakeWriter(self)
        self.keys = KeyCache(self.engine)
        self.limits = Limits.from_settings(self.settings)

    @property
    def lease(self) -> timedelta:
        """The claim lease in this clock's time."""
        speed = getattr(self.clock, "speed", 1.0)
        return timedelta(seconds=self.settings.claim_lease_seconds * speed)


    def reload_policies(self, *, stamp: bool = True) -> tuple[str, str]:
        """Load the policy files again; return the old and new versions.

        A bad file raises `PolicyError` and the running policies stay as they were.
        `stamp=False` when following another worker's reload, which stamped it already.
        """
        from core.cases import sync_team_members

        with self._reloading:
            policies = load_policies(self.settings.policies, **message_settings(self.settings))
            with session_scope(self.engine) as session:
                check_against_store(session, policies, self.settings.policies)
                sync_team_members(session, policies)
                if stamp and self.reload_stamp is not None:
                    self.reload_stamp.write(policies.version, session)
            previous = self.policies.version
            # Calendars first: the new policies may name calendars the old ones lacked.
            self.calendars = {**self.calendars, **build_calendars(policies)}
            self.policies = policies
        log.info("policies reloaded: %s -> %s", previous, policies.version)
        return previous, policies.version


log = logging.getLogger("caseflow.runtime")
_current: Runtime | None = None
LIVENESS_CHECK_SECONDS = 1.0


def message_settings(settings: Settings) -> dict[str, str]:
    """The settings messages are written with: the service's language, where links start."""
    return {"language": settings.language, "public_url": settings.resolved_public_url}


def check_against_store(session: Session, policies: PolicySet, directory: Path) -> None:
    """Refuse policies that drop a calendar the stored clocks are measured on."""
    in_use = set(session.exec(select(SlaClock.calendar).distinct()))
    missing = sorted(in_use - set(policies.calendars))
    if missing:
        raise PolicyError(f"{directory / 'calendars.yaml'}: calendars: {missing} missing, but "
                          f"clocks of stored cases are measured on them")


def configure(
    settings: Settings,
    *,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    engine: Engine | None = None,
    prepared: bool = False,
) -> Runtime:
    """Load and check the policies, migrate the store, and make this the current runtime.

    `prepared`: a worker process whose service migrated the store and synced the teams
    before starting its workers, so they do not all do it again together.
    """
    from core.cases import sync_team_members

    global _current
    hooks.install(HOOKS)  # what each process adds to the engine's work (processes/registry)
    # A bad file stops start-up here.
    policies = load_policies(settings.policies, **message_settings(settings))
    engine = engine or make_engine(settings.resolved_database_url)
    if not prepared:
        migrate(engine)
        with session_scope(engine) as session:
            check_against_store(session, policies, settings.policies)
            sync_team_members(session, policies)
    _current = Runtime(
        settings=settings, engine=engine, clock=clock or shared_clock(engine, settings.clock_speed),
        policies=policies, calendars=build_calendars(policies),
        notifier=notifier or AppriseNotifier(),
        oidc=OidcVerifier(settings) if settings.oidc_issuer else None,
        survey_secret=resolve_secret(settings),
    )
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the Caseflow runtime is not configured")
    return _current


class MissingSettings(RuntimeError):
    """A flow run outside the service lacks a setting it cannot safely default."""


# What a flow run outside `caseflow serve` (on a Prefect worker) must be told: the
# defaults (SQLite and a secret generated under the data directory, the checkout's
# policies) would quietly make a store, a secret and rules of its own.
FLOW_RUN_NEEDS = {
    "database_url": "CASEFLOW_DATABASE_URL (the service's store)",
    "policies": "CASEFLOW_POLICIES (the service's policies directory)",
    "survey_secret": "CASEFLOW_SURVEY_SECRET (the service's survey-link secret)",
}


def for_flow_run() -> Runtime:
    """The service's runtime, or, in a flow run outside the service (a Prefect worker),
    one built from the `CASEFLOW_*` settings; refused, naming them, when any is missing
    or the store has not the schema of this code."""
    if _current is not None:
        return _current
    settings = Settings()
    missing = [text for name, text in FLOW_RUN_NEEDS.items()
               if name not in settings.model_fields_set]
    if missing:
        raise MissingSettings("a Caseflow flow run outside `caseflow serve` needs "
                              + ", ".join(missing))
    engine = make_engine(settings.resolved_database_url)
    found, wanted = schema_revisions(engine)
    if found != wanted:
        engine.dispose()
        raise MissingSettings(
            f"CASEFLOW_DATABASE_URL: the store has schema {found or 'none'}, this code needs "
            f"{wanted}; point it at the service's store, which `caseflow serve` migrates")
    # The service migrated the store and synced the teams; a worker does neither.
    rt = configure(settings, engine=engine, prepared=True)
    hold_liveness(rt)
    return rt


def hold_liveness(rt: Runtime) -> None:
    """On PostgreSQL, hold the runtime's instance lock from now until the process ends
    (its connection closes then), before any flow run is tagged with its id: the flow
    runs of a Prefect worker's process are then never taken for a dead instance's."""
    from engine.coordination import hold, instance_lock
    from engine.db import is_postgres

    if rt.liveness is not None or not is_postgres(rt.engine):
        return
    lock = instance_lock(rt.engine, rt.settings.instance_id)
    if not hold(lock):  # only an unreachable store refuses a shared lock for long
        raise RuntimeError(f"could not take the liveness lock of instance "
                           f"{rt.settings.instance_id} in the store")
    rt.liveness = lock

    def keep() -> None:  # a connection lost is a lock lost: take it again at once
        while True:
            time.sleep(LIVENESS_CHECK_SECONDS)
            lock.acquire()

    threading.Thread(target=keep, name="caseflow-liveness", daemon=True).start()
