"""The what-if report: the same figures over recorded and replayed outcomes, side by side.

Figures: the on-time rate per clock (met over decided, as core/kpis.py counts it),
breaches (clocks missed), rungs fired by level and by person told, and the cases whose
outcome changes. Pure: it takes outcomes and returns plain data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.whatif.outcome import Outcome, Verdict

ESCALATION_LEVELS = (1, 2, 3)
ESCALATION_KPIS = {f"escalation_rate_l{level}": level for level in ESCALATION_LEVELS}
PREDICTABLE_KPIS = frozenset({"complaint_on_time_rate", *ESCALATION_KPIS})


@dataclass(frozen=True)
class ClockRate:
    """One clock's on-time rate: met over decided (None when nothing is decided yet)."""

    met: int
    decided: int
    undecided: int

    @property
    def rate(self) -> float | None:
        return self.met / self.decided if self.decided else None


@dataclass(frozen=True)
class Figures:
    """The figures of one policy set over the cases."""

    cases: int
    on_time: Mapping[str, ClockRate]
    breaches: int
    rungs_by_level: Mapping[int, int]
    rungs_by_person: Mapping[str, int]
    # Cases that reached each escalation level (1 to 3) or above.
    escalated: Mapping[int, int] = field(default_factory=dict)
    unreplayable: int = 0
    skipped_events: int = 0


@dataclass(frozen=True)
class Change:
    """A case whose outcome differs: each differing field, [recorded, candidate]."""

    case_id: int
    differences: Mapping[str, Any]


@dataclass(frozen=True)
class WhatIfReport:
    """Recorded beside candidate, and the cases that change."""

    recorded: Figures
    candidate: Figures
    changes: tuple[Change, ...] = field(default_factory=tuple)


@dataclass
class Tally:
    """The counts behind one policy set's figures, added to a case at a time. Tallies of
    different cases add up (`merge`): the replay's processes each count their share."""

    cases: int = 0
    unreplayable: int = 0
    skipped: int = 0
    verdicts: dict[str, Counter[Verdict]] = field(default_factory=dict)
    levels: Counter[int] = field(default_factory=Counter)
    people: Counter[str] = field(default_factory=Counter)
    reached: Counter[int] = field(default_factory=Counter)  # cases that reached a level

    def add(self, outcome: Outcome) -> None:
        """Count one case's outcome."""
        self.cases += 1
        if outcome.unreplayable is not None:
            self.unreplayable += 1
            return
        self.skipped += len(outcome.skipped)
        # Counted one by one: Counter.update costs more than the few items it would add.
        for level in range(1, outcome.escalation_level + 1):
            self.reached[level] += 1
        for name, verdict in outcome.clocks.items():
            self.verdicts.setdefault(name, Counter())[verdict] += 1
        for rung in outcome.rungs:
            self.levels[rung.level] += 1
            for person in rung.notified:
                self.people[person] += 1

    def merge(self, other: Tally) -> None:
        """Add the counts of `other`, which counted other cases."""
        self.cases += other.cases
        self.unreplayable += other.unreplayable
        self.skipped += other.skipped
        for name, counts in other.verdicts.items():
            self.verdicts.setdefault(name, Counter()).update(counts)
        self.levels.update(other.levels)
        self.people.update(other.people)
        self.reached.update(other.reached)

    def figures(self) -> Figures:
        """The figures these counts make."""
        on_time = {
            name: ClockRate(met=counts[Verdict.met],
                            decided=counts[Verdict.met] + counts[Verdict.missed],
                            undecided=counts[Verdict.undecided])
            for name, counts in sorted(self.verdicts.items())}
        return Figures(
            cases=self.cases, on_time=on_time,
            breaches=sum(counts[Verdict.missed] for counts in self.verdicts.values()),
            rungs_by_level=dict(sorted(self.levels.items())),
            rungs_by_person=dict(sorted(self.people.items())),
            escalated={level: self.reached[level] for level in ESCALATION_LEVELS},
            unreplayable=self.unreplayable, skipped_events=self.skipped)


def figures(outcomes: Iterable[Outcome]) -> Figures:
    """Count the figures over `outcomes`."""
    tally = Tally()
    for outcome in outcomes:
        tally.add(outcome)
    return tally.figures()


def kpi_figure(figures: Figures, kpi: str) -> tuple[int, int]:
    """A PDCA cycle's KPI over the figures, as (numerator, denominator): the on-time rate
    over both clocks, or the share of cases escalated to a level. `ValueError` for a KPI a
    replay does not predict."""
    if kpi == "complaint_on_time_rate":
        return (sum(r.met for r in figures.on_time.values()),
                sum(r.decided for r in figures.on_time.values()))
    level = ESCALATION_KPIS.get(kpi)
    if level is None:
        raise ValueError(f"a what-if predicts only {sorted(PREDICTABLE_KPIS)}")
    return figures.escalated.get(level, 0), figures.cases - figures.unreplayable


@dataclass
class Comparison:
    """A report being made a case at a time: both tallies and the changed cases. Those of
    different cases add up (`merge`), so a replay keeps no case's outcome once counted."""

    recorded: Tally = field(default_factory=Tally)
    candidate: Tally = field(default_factory=Tally)
    changes: list[Change] = field(default_factory=list)

    def add(self, case_id: int, recorded: Outcome, candidate: Outcome) -> None:
        """Count one case's recorded and candidate outcomes; note it if they differ."""
        self.recorded.add(recorded)
        self.candidate.add(candidate)
        differences = recorded.differences(candidate)
        if differences:
            self.changes.append(Change(case_id, differences))

    def merge(self, other: Comparison) -> None:
        """Add what `other` counted over other cases."""
        self.recorded.merge(other.recorded)
        self.candidate.merge(other.candidate)
        self.changes += other.changes

    def report(self) -> WhatIfReport:
        """The report: both policy sets' figures and the changed cases by id."""
        return WhatIfReport(recorded=self.recorded.figures(),
                            candidate=self.candidate.figures(),
                            changes=tuple(sorted(self.changes, key=lambda c: c.case_id)))


def compare(recorded: Mapping[int, Outcome], candidate: Mapping[int, Outcome]
            ) -> WhatIfReport:
    """The report over the same cases' recorded and candidate outcomes, by case id."""
    comparison = Comparison()
    for case_id in sorted(recorded):
        comparison.add(case_id, recorded[case_id], candidate[case_id])
    return comparison.report()


def as_json(report: WhatIfReport, *, changes_limit: int | None = None) -> dict[str, Any]:
    """The report as JSON-ready data; at most `changes_limit` changed cases listed."""
    listed = report.changes if changes_limit is None else report.changes[:changes_limit]
    return {
        "recorded": _figures_json(report.recorded),
        "candidate": _figures_json(report.candidate),
        "changed_cases": len(report.changes),
        "changes": [{"case_id": c.case_id, "differences": _plain(c.differences)}
                    for c in listed],
    }


def _figures_json(f: Figures) -> dict[str, Any]:
    return {
        "cases": f.cases,
        "on_time": {name: {"met": r.met, "decided": r.decided, "undecided": r.undecided,
                           "rate": r.rate} for name, r in f.on_time.items()},
        "breaches": f.breaches,
        "rungs_by_level": {str(level): n for level, n in f.rungs_by_level.items()},
        "rungs_by_person": dict(f.rungs_by_person),
        "escalated": {str(level): n for level, n in f.escalated.items()},
        "unreplayable": f.unreplayable,
        "skipped_events": f.skipped_events,
    }


def _plain(value: Any) -> Any:
    """Tuples and enums as JSON has them."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
