"""What a process needs from the store beyond the engine: an optional adapter per process.

The engine (store, timers, sweeper, events API) is the same for every process. A
process whose decisions need figures only the store can give (a PDCA check measures a
KPI) or whose outcome creates another case (a revised cycle opens its follow-up) adds
a module here, named like its domain module, with either or both of these functions:

    timer_facts(session, case, timer_name, now) -> Mapping | None
        figures its `on_timer` needs, read in the timer's transaction;
    after_decision(session, case, decision, *, policies, calendars, now, runtime) -> None
        follow-up writes in the same transaction as the decision; `runtime` is the
        running service (settings, the survey-link secret) where the caller has one:
        always for timers, None for a command called without it.
    after_open(session, case, *, policies, calendars, now) -> None
        called for every case opened (of any process), in its transaction, with the
        case as a model or as the row just written (a complaint's): a process
        that reacts to other processes' cases (a crisis links new complaints of its
        category, or detects a spike) checks `case.process` itself;
    run_batch(runtime, case_id, timer_name, *, via_prefect) -> Mapping
        the work of a `batch` timer (a crisis's compensation), run by the sweeper outside
        any case transaction, as a Prefect flow or inline; it must be resumable, since an
        interrupted run is run again when the timer's claim runs out;
    channel_urls(policies, channel) -> list[str]
        the apprise URLs of the process's own publication channel, for outbox messages to
        `channel:<process>:<channel>` (a crisis's website or social-media notices).

A process's own tables (SQLModel classes) live in its module here too, or in another
module of this package; `import_all` registers them on the metadata that Alembic's
environment and the schema test compare with the migrations.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row
from sqlmodel import Session

from core.models import Case
from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from domain.process import CaseSnapshot, Decision

if TYPE_CHECKING:
    from core.runtime import Runtime


@cache
def _adapter(process: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{process}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{process}":
            raise  # the adapter exists but one of its imports is broken
        return None


def import_all() -> None:
    """Import every module of this package, so the tables they declare are registered."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def timer_facts(session: Session, case: CaseSnapshot, timer_name: str,
                now: datetime) -> Mapping[str, Any] | None:
    """The figures a process timer needs, from the process's adapter (None without one)."""
    adapter = _adapter(case.process)
    hook = getattr(adapter, "timer_facts", None)
    return hook(session, case, timer_name, now) if hook else None


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: Runtime | None = None) -> None:
    """Let the process's adapter add its follow-up writes to the decision's transaction."""
    hook = getattr(_adapter(case.process), "after_decision", None)
    if hook:
        hook(session, case, decision, policies=policies, calendars=calendars, now=now,
             runtime=runtime)


@cache
def _observers() -> tuple[Any, ...]:
    import_all()
    return tuple(hook for info in pkgutil.iter_modules(__path__)
                 if (hook := getattr(_adapter(info.name), "after_open", None)) is not None)


def after_open(session: Session, case: Case | Row[Any], *, policies: PolicySet,
               calendars: Mapping[str, BusinessCalendar], now: datetime) -> None:
    """Let every adapter that watches new cases add its writes to the opening transaction."""
    for hook in _observers():
        hook(session, case, policies=policies, calendars=calendars, now=now)


def run_batch(runtime: Runtime, process: str, case_id: int, timer_name: str, *,
              via_prefect: bool) -> Mapping[str, Any]:
    """Run the batch a `batch` timer stands for, through the process's adapter."""
    hook = getattr(_adapter(process), "run_batch", None)
    if hook is None:
        raise LookupError(f"process {process!r} has no batch work (timer {timer_name!r})")
    return hook(runtime, case_id, timer_name, via_prefect=via_prefect)  # type: ignore[no-any-return]


def channel_urls(policies: PolicySet, process: str, channel: str) -> list[str]:
    """The apprise URLs of a process's publication channel (none when it has none)."""
    hook = getattr(_adapter(process), "channel_urls", None)
    return hook(policies, channel) if hook else []  # type: ignore[no-any-return]
