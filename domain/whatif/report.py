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


def figures(outcomes: Iterable[Outcome]) -> Figures:
    """Count the figures over `outcomes`."""
    verdicts: dict[str, Counter[Verdict]] = {}
    levels: Counter[int] = Counter()
    people: Counter[str] = Counter()
    reached: Counter[int] = Counter()
    cases = unreplayable = skipped = 0
    for outcome in outcomes:
        cases += 1
        if outcome.unreplayable is not None:
            unreplayable += 1
            continue
        skipped += len(outcome.skipped)
        reached.update(range(1, outcome.escalation_level + 1))
        for name, verdict in outcome.clocks.items():
            verdicts.setdefault(name, Counter())[verdict] += 1
        for rung in outcome.rungs:
            levels[rung.level] += 1
            people.update(rung.notified)
    on_time = {
        name: ClockRate(met=counts[Verdict.met],
                        decided=counts[Verdict.met] + counts[Verdict.missed],
                        undecided=counts[Verdict.undecided])
        for name, counts in sorted(verdicts.items())}
    return Figures(
        cases=cases, on_time=on_time,
        breaches=sum(counts[Verdict.missed] for counts in verdicts.values()),
        rungs_by_level=dict(sorted(levels.items())),
        rungs_by_person=dict(sorted(people.items())),
        escalated={level: reached[level] for level in ESCALATION_LEVELS},
        unreplayable=unreplayable, skipped_events=skipped)


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


def compare(recorded: Mapping[int, Outcome], candidate: Mapping[int, Outcome]
            ) -> WhatIfReport:
    """The report over the same cases' recorded and candidate outcomes, by case id."""
    changes = []
    for case_id in sorted(recorded):
        differences = recorded[case_id].differences(candidate[case_id])
        if differences:
            changes.append(Change(case_id, differences))
    return WhatIfReport(recorded=figures(recorded.values()),
                        candidate=figures(candidate[i] for i in sorted(recorded)),
                        changes=tuple(changes))


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
