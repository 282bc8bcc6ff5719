"""The catalogue of processes: each declares its stages, transition table and timers.

Every process's rules live in a package of their own here (`domain/crisis/rules.py`),
listed in `_catalogue` below; the engine finds one by name (`definition("crisis")`).
Adding a process is adding such a module, with what `ProcessDefinition` lists, to the
catalogue, and its policy. `on_timer` gets the `facts` the process's hooks
(`processes/<name>/hooks.py`) read for it, if it has any: figures only the store can
give, such as a KPI measured at a deadline.

A process may bring its own policy file instead of a section in `domain.policy.PolicySet`:

    POLICY_FILE = "service_request.yaml"   # in policies/, one top-level key: NAME
    POLICY_MODEL = ServiceRequestPolicy    # a pydantic model (forbid unknown keys)
    def policy_problems(policies, path) -> list[str]: ...   # optional: references to
        # calendars, teams or other processes, each problem naming `path` and the field

The loader validates the file at start-up and on reload (a bad one stops start-up with
the file and the field), and the process reads it as `policies.process_policy(NAME,
POLICY_MODEL)`. Its service side (tables, commands, hooks, endpoints, flows) is in
`processes/<name>/`, registered in `processes/registry.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypeGuard

from pydantic import BaseModel

from domain.calendars import BusinessCalendar
from domain.complaint import rules as complaint
from domain.crisis import rules as crisis
from domain.followup import rules as followup
from domain.pdca import rules as pdca
from domain.policy import EscalationStep, PolicySet
from domain.process import CaseSnapshot, Decision, TransitionTable
from domain.service_request import rules as service_request
from domain.timers import TimerSpec


class ProcessDefinition(Protocol):
    # Read-only, so a module's TABLE may be a subclass (the crisis's CrisisTable).
    @property
    def NAME(self) -> str: ...
    @property
    def TABLE(self) -> TransitionTable: ...

    def ladder(self, policies: PolicySet) -> list[EscalationStep]: ...

    def process_timers(self, case: CaseSnapshot, policies: PolicySet) -> list[TimerSpec]: ...

    def on_timer(self, case: CaseSnapshot, name: str, policies: PolicySet,
                 calendars: Mapping[str, BusinessCalendar], now: datetime,
                 facts: Mapping[str, Any] | None = None) -> Decision | None: ...


class OwnPolicyFile(ProcessDefinition, Protocol):
    """A process that brings its own policy file: `POLICY_FILE` and `POLICY_MODEL` go together."""

    @property
    def POLICY_FILE(self) -> str: ...
    @property
    def POLICY_MODEL(self) -> type[BaseModel]: ...


def brings_policy_file(process: ProcessDefinition) -> TypeGuard[OwnPolicyFile]:
    """Whether the process has a policy file of its own (and so a `POLICY_MODEL`)."""
    return getattr(process, "POLICY_FILE", None) is not None


def _catalogue() -> dict[str, ProcessDefinition]:
    modules: tuple[ProcessDefinition, ...] = (complaint, crisis, followup, pdca, service_request)
    return {module.NAME: module for module in modules}


_CATALOGUE = _catalogue()


def definitions() -> dict[str, ProcessDefinition]:
    """Every process module, by name."""
    return dict(_CATALOGUE)


def definition(name: str) -> ProcessDefinition:
    """The process module called `name`."""
    try:
        return _CATALOGUE[name]
    except KeyError:
        raise LookupError(f"unknown process {name!r}; known: {sorted(_CATALOGUE)}") from None
