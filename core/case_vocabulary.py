"""The values a case list can be filtered by: processes, stages, priorities and teams.

A filter naming a value no case can have is a mistake of the caller's (a typo, a stage
of another process), answered with the values allowed rather than with an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalogue import definitions
from domain.complaint import rules as complaint
from domain.crisis.policy import SEVERITIES
from domain.crisis.rules import NAME as CRISIS
from domain.policy import PolicySet
from domain.process import UNRANKED

CRISIS_CANDIDATE = "candidate"  # a crisis's priority until it is confirmed with a severity


@dataclass(frozen=True)
class FilterProblem:
    """A filter value that no case can have, and the values that it could be."""

    field: str
    value: str
    allowed: list[str]

    @property
    def message(self) -> str:
        return f"unknown {self.field} {self.value!r}; allowed: {', '.join(self.allowed)}"


def processes() -> list[str]:
    return sorted(definitions())


def stages(process: str | None = None) -> list[str]:
    """The stages of `process`, or of every process."""
    found = {stage for name, d in definitions().items() if process in (None, name)
             for stage in d.TABLE.stages}
    return sorted(found)


def priorities(policies: PolicySet, process: str | None = None) -> list[str]:
    """The priorities cases of `process` (or of any process) can have."""
    by_process = {name: [UNRANKED] for name in definitions()}
    by_process[complaint.NAME] = list(complaint.policy_of(policies).priorities)
    by_process[CRISIS] = [CRISIS_CANDIDATE, *SEVERITIES]
    found = {p for name, values in by_process.items() if process in (None, name)
             for p in values}
    return sorted(found)


def teams(policies: PolicySet) -> list[str]:
    return sorted(policies.teams)


def filter_problem(policies: PolicySet, *, process: str | None = None,
                   stage: str | None = None, priority: str | None = None,
                   team: str | None = None) -> FilterProblem | None:
    """The first filter value no case can have (a stage checked against the process
    filtered by, if any), or None when every value is one a case can have."""
    if process is not None and process not in definitions():
        return FilterProblem("process", process, processes())
    for name, value, allowed in (("stage", stage, stages(process)),
                                 ("priority", priority, priorities(policies, process)),
                                 ("team", team, teams(policies))):
        if value is not None and value not in allowed:
            return FilterProblem(name, value, allowed)
    return None
