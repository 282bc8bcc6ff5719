"""What a process lends the engine: optional hooks, called where the engine runs them.

The engine (store, timers, sweeper, delivery) is the same for every process. A process
whose decisions need figures only the store can give (a PDCA check measures a KPI), or
whose outcome writes more (a closed complaint opens its follow-up), lends the engine
hooks; `processes/registry.py` lists every process's hooks explicitly, and
`core.runtime.configure` `install`s them. The engine calls them through the functions below,
so it imports nothing of the processes' own code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Row
from sqlmodel import Session

from domain.calendars import BusinessCalendar
from domain.policy import PolicySet
from domain.process import CaseSnapshot, Decision
from engine.models import Case

if TYPE_CHECKING:
    from core.runtime import Runtime


class TimerFacts(Protocol):
    """Figures a process timer's `on_timer` needs, read in the timer's transaction."""

    def __call__(self, session: Session, case: CaseSnapshot, timer_name: str,
                 now: datetime) -> Mapping[str, Any] | None: ...


class AfterDecision(Protocol):
    """Follow-up writes in the decision's transaction. `runtime` is the running service
    where the caller has one: always for timers, None for a command called without it."""

    def __call__(self, session: Session, case: Case, decision: Decision, *,
                 policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                 now: datetime, runtime: Runtime | None = None) -> None: ...


class AfterOpen(Protocol):
    """Writes in the transaction of a case opened, of any process (the hook checks
    `case.process` itself), with the case as a model or as the row just written."""

    def __call__(self, session: Session, case: Case | Row[Any], *, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime) -> None: ...


def in_turn(*hooks: AfterDecision) -> AfterDecision:
    """One `after_decision` hook that calls `hooks` in their order."""
    def each(session: Session, case: Case, decision: Decision, *, policies: PolicySet,
             calendars: Mapping[str, BusinessCalendar], now: datetime,
             runtime: Runtime | None = None) -> None:
        for hook in hooks:
            hook(session, case, decision, policies=policies, calendars=calendars, now=now,
                 runtime=runtime)
    return each


@dataclass(frozen=True)
class OpenedWatch:
    """A watcher of cases opened: which cases it acts on, and what it writes for them.

    `watches` is asked first, and only what it accepts is handed to `act`: a batch of
    intakes writes its case rows together at its end, but those of the cases a watcher
    acts on (which it may read or point at) right away."""

    watches: Callable[[Case | Row[Any]], bool]
    act: AfterOpen


class RunBatch(Protocol):
    """The work of a `batch` timer, in this thread, outside any case transaction;
    resumable, since an interrupted run runs again when its claim runs out. (The flows'
    runner runs it as the process's Prefect flow where it has one: `flows/runner.py`.)"""

    def __call__(self, runtime: Runtime, case_id: int, timer_name: str, /
                 ) -> Mapping[str, Any]: ...


ChannelUrls = Callable[[PolicySet, str], list[str]]
"""The apprise URLs of a process's publication channel (`channel:<process>:<channel>`)."""


@dataclass(frozen=True)
class ProcessHooks:
    """The hooks one process lends the engine; a process without one leaves it None."""

    timer_facts: TimerFacts | None = None
    after_decision: AfterDecision | None = None
    run_batch: RunBatch | None = None
    channel_urls: ChannelUrls | None = None
    # Whether `after_decision` must see the decisions of escalation rungs. False (hooks
    # that act only on a case's closure, which no rung makes) lets the engine write a
    # storm's rungs in bulk, without the model objects a hook is given.
    after_rungs: bool = True

    def hook_after_rungs(self) -> bool:
        """Whether an escalation rung's decision must go through `after_decision`."""
        return self.after_decision is not None and self.after_rungs


@dataclass(frozen=True)
class Hooks:
    """Every process's hooks, by process name, and the watchers of cases opened."""

    by_process: Mapping[str, ProcessHooks]
    # Called for every case opened, of any process, e.g. a crisis watching complaints.
    case_opened: tuple[OpenedWatch, ...] = ()

    def of(self, process: str) -> ProcessHooks:
        return self.by_process.get(process, _NONE)


_NONE = ProcessHooks()
_installed: Hooks | None = None


def install(hooks: Hooks) -> None:
    """Make `hooks` the ones the engine calls (at start-up, by `core.runtime.configure`)."""
    global _installed
    _installed = hooks


def installed() -> Hooks:
    if _installed is None:
        raise RuntimeError("no process hooks installed: configure the runtime first")
    return _installed


def timer_facts(session: Session, case: CaseSnapshot, timer_name: str,
                now: datetime) -> Mapping[str, Any] | None:
    """The figures a process timer needs (None for a process without the hook)."""
    hook = installed().of(case.process).timer_facts
    return hook(session, case, timer_name, now) if hook else None


def after_decision(session: Session, case: Case, decision: Decision, *,
                   policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                   now: datetime, runtime: Runtime | None = None) -> None:
    """Add the process's follow-up writes to the decision's transaction."""
    hook = installed().of(case.process).after_decision
    if hook:
        hook(session, case, decision, policies=policies, calendars=calendars, now=now,
             runtime=runtime)


def after_open(session: Session, case: Case | Row[Any], *, policies: PolicySet,
               calendars: Mapping[str, BusinessCalendar], now: datetime) -> None:
    """Let every process that watches cases opened add its writes to the transaction."""
    for watch in installed().case_opened:
        if watch.watches(case):
            watch.act(session, case, policies=policies, calendars=calendars, now=now)


def opened_watched(case: Case | Row[Any]) -> bool:
    """Whether any watcher of cases opened acts on `case` (`after_open`)."""
    return any(watch.watches(case) for watch in installed().case_opened)


def run_batch(runtime: Runtime, process: str, case_id: int, timer_name: str
              ) -> Mapping[str, Any]:
    """Run the batch a `batch` timer stands for, through the process's hook."""
    hook = installed().of(process).run_batch
    if hook is None:
        raise LookupError(f"process {process!r} has no batch work (timer {timer_name!r})")
    return hook(runtime, case_id, timer_name)


def channel_urls(policies: PolicySet, process: str, channel: str) -> list[str]:
    """The apprise URLs of a process's publication channel (none when it has none)."""
    hook = installed().of(process).channel_urls
    return hook(policies, channel) if hook else []
