"""Process modules: each declares its stages, transition table and timers.

A process module is found by its name (`definition("complaint")`); adding a process is
adding a module here that provides what `ProcessDefinition` lists, and its policy.
`on_timer` gets the `facts` the process's store adapter (`core/processes/`) read for it,
if it has one: figures only the store can give, such as a KPI measured at a deadline.

A process may bring its own policy file instead of a section in `domain.policy.PolicySet`:

    POLICY_FILE = "service_request.yaml"   # in policies/, one top-level key: NAME
    POLICY_MODEL = ServiceRequestPolicy    # a pydantic model (forbid unknown keys)
    def policy_problems(policies, path) -> list[str]: ...   # optional: references to
        # calendars, teams or other processes, each problem naming `path` and the field

The loader validates the file at start-up and on reload (a bad one stops start-up with
the file and the field), and the process reads it as `policies.process_policy(NAME,
POLICY_MODEL)`.
Its API goes in `api/processes/<name>.py` (a module with a `router`, included by the
app) and its own tables in `core/processes/` (registered by `core.processes.import_all`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, Protocol, cast

from domain.calendars import BusinessCalendar
from domain.policy import EscalationStep, PolicySet
from domain.process import CaseSnapshot, Decision, TransitionTable
from domain.timers import TimerSpec


class ProcessDefinition(Protocol):
    NAME: str
    TABLE: TransitionTable

    def ladder(self, policies: PolicySet) -> list[EscalationStep]: ...

    def process_timers(self, case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]: ...

    def on_timer(self, case: CaseSnapshot, name: str, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime,
                 facts: Mapping[str, Any] | None = None) -> Decision | None: ...


@cache
def _registry() -> dict[str, ProcessDefinition]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "TABLE"):
            found[module.NAME] = cast(ProcessDefinition, module)
    return found


def definitions() -> dict[str, ProcessDefinition]:
    """Every process module, by name."""
    return dict(_registry())


def definition(name: str) -> ProcessDefinition:
    """The process module called `name`."""
    try:
        return _registry()[name]
    except KeyError:
        raise LookupError(f"unknown process {name!r}; known: {sorted(_registry())}") from None
