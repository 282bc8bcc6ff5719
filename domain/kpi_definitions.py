"""KPI definitions: what each figure means, its unit, its target and which way is better.

The store computes the figures (`core.kpis`); this module says what they are and gives
the shapes of the results, so a report, a review that compares a KPI with its target,
and a PDCA cycle that picks a target KPI all read the same words.

| name                        | unit    | target | better |
|-----------------------------|---------|--------|--------|
| complaint_on_time_rate      | ratio   | ≥ 0.95 | higher |
| first_response_time_avg     | seconds |        | lower  |
| first_response_time_p90     | seconds |        | lower  |
| resolution_time_avg         | seconds |        | lower  |
| resolution_time_p90         | seconds |        | lower  |
| resolution_rate             | ratio   |        | higher |
| reopen_rate                 | ratio   |        | lower  |
| escalation_rate_l1 / l2 / l3| ratio   |        | lower  |
| backlog                     | cases   |        | lower  |
| category_pareto             | cases   |        |        |
| survey_response_rate        | ratio   |        | higher |
| csat_average                | score   |        | higher |
| csat_satisfied_share        | ratio   |        | higher |
| nps                         | nps     |        | higher |
| speed_average               | score   |        | higher |
| attitude_average            | score   |        | higher |
| resolution_average          | score   |        | higher |
| transfers_per_case          | per case|        | lower  |

The satisfaction KPIs are measured over the surveys *sent* in a period (their answers
may come later), by `core.kpis_satisfaction`; grouped by team, agent, category and
channel of the case the survey followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Unit(StrEnum):
    ratio = "ratio"  # 0..1; reports show it as a percentage
    seconds = "seconds"  # business seconds on the clock's calendar
    cases = "cases"
    score = "score"  # the mean of answers on a 1-5 scale
    nps = "nps"  # net promoter score, -100 to 100
    per_case = "per_case"  # a mean count per case


@dataclass(frozen=True)
class KpiDefinition:
    """One KPI: its name, what it measures, its unit, its target and which way is better."""

    name: str
    description: str
    unit: Unit
    higher_is_better: bool | None  # None: a distribution, not a figure to push one way
    target: float | None = None
    source: str | None = None  # where the target comes from

    def meets(self, value: float | None) -> bool | None:
        """Say whether `value` meets the target (None without a value or a target)."""
        if value is None or self.target is None or self.higher_is_better is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target


ON_TIME = KpiDefinition(
    "complaint_on_time_rate",
    "Share of first-response and resolution clocks met. A clock counts once it is "
    "decided: stopped (met when it never breached), or still running or paused but "
    "already over its target (missed). Clocks still within their target are not counted "
    "yet. A clock stopped by a withdrawal counts like any stopped clock.",
    Unit.ratio, higher_is_better=True, target=0.95, source="seed 002 §1.3",
)
FIRST_RESPONSE_AVG = KpiDefinition(
    "first_response_time_avg",
    "Mean business time on stopped first-response clocks (time to acknowledge).",
    Unit.seconds, higher_is_better=False,
)
FIRST_RESPONSE_P90 = KpiDefinition(
    "first_response_time_p90",
    "90th percentile, nearest rank, of business time on stopped first-response clocks: "
    "the ceil(0.9·n)-th smallest value.",
    Unit.seconds, higher_is_better=False,
)
RESOLUTION_AVG = KpiDefinition(
    "resolution_time_avg",
    "Mean business time on stopped resolution clocks; pauses while waiting on the "
    "customer are not counted, and a reopened case's clock counts again once stopped.",
    Unit.seconds, higher_is_better=False,
)
RESOLUTION_P90 = KpiDefinition(
    "resolution_time_p90",
    "90th percentile, nearest rank, of business time on stopped resolution clocks.",
    Unit.seconds, higher_is_better=False,
)
RESOLUTION_RATE = KpiDefinition(
    "resolution_rate",
    "Share of cases opened in the period that stand resolved: resolved at least once and "
    "now in stage resolved or closed. A case the customer reopened does not count until "
    "it is resolved again; a case withdrawn without a resolution never counts.",
    Unit.ratio, higher_is_better=True,
)
REOPEN_RATE = KpiDefinition(
    "reopen_rate",
    "Share of cases resolved at least once that the customer rejected at least once "
    "(a reject event on the timeline).",
    Unit.ratio, higher_is_better=False,
)
ESCALATION_RATES = {
    level: KpiDefinition(
        f"escalation_rate_l{level}",
        f"Share of cases opened in the period whose escalation level reached {level} or "
        "more.",
        Unit.ratio, higher_is_better=False,
    )
    for level in (1, 2, 3)
}
BACKLOG = KpiDefinition(
    "backlog",
    "Open cases (not closed) per team, by stage and by calendar age since opening: "
    "under 1 day, 1 to 3 days, 3 to 7 days, 7 days or more.",
    Unit.cases, higher_is_better=False,
)
CATEGORY_PARETO = KpiDefinition(
    "category_pareto",
    "Cases per category, most frequent first, with each category's share and the "
    "cumulative share.",
    Unit.cases, higher_is_better=None,
)

SURVEY_RESPONSE_RATE = KpiDefinition(
    "survey_response_rate",
    "Share of the surveys sent in the period that were answered, through the link or on "
    "a return-visit call.",
    Unit.ratio, higher_is_better=True,
)
CSAT_AVERAGE = KpiDefinition(
    "csat_average", "Mean CSAT (1 to 5) of the answers to the surveys sent in the period.",
    Unit.score, higher_is_better=True,
)
# What the CSAT and NPS scales mean, by their usual definitions (not policy).
SATISFIED_AT_LEAST, PROMOTER_AT_LEAST, DETRACTOR_AT_MOST = 4, 9, 6
CSAT_SATISFIED = KpiDefinition(
    "csat_satisfied_share",
    "Share of the answers with a CSAT that gave 4 or 5 (satisfied or very satisfied).",
    Unit.ratio, higher_is_better=True,
)
NPS = KpiDefinition(
    "nps",
    "Net promoter score: the percentage of promoters (NPS 9 or 10) minus the percentage "
    "of detractors (0 to 6) among the answers with an NPS, from -100 to 100.",
    Unit.nps, higher_is_better=True,
)
DIMENSION_AVERAGES = {
    name: KpiDefinition(f"{name}_average",
                        f"Mean {name} score (1 to 5; seed 003's service dimensions) of the "
                        "answers that rated it.", Unit.score, higher_is_better=True)
    for name in ("speed", "attitude", "resolution")
}
TRANSFERS_PER_CASE = KpiDefinition(
    "transfers_per_case",
    "Mean number of hand-offs (transfer events between channels, teams or locations) per "
    "case opened in the period, with the share of cases handed on at least once; seed 003 "
    "names needless transfers (中轉環節) a bottleneck.",
    Unit.per_case, higher_is_better=False, source="seed 003",
)

# Calendar age buckets of the backlog: (label, from days inclusive, to days exclusive).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1d", 0, 1), ("1-3d", 1, 3), ("3-7d", 3, 7), (">=7d", 7, None))

DEFINITIONS: dict[str, KpiDefinition] = {
    d.name: d for d in (
        ON_TIME, FIRST_RESPONSE_AVG, FIRST_RESPONSE_P90, RESOLUTION_AVG, RESOLUTION_P90,
        RESOLUTION_RATE, REOPEN_RATE, *ESCALATION_RATES.values(), BACKLOG, CATEGORY_PARETO,
        SURVEY_RESPONSE_RATE, CSAT_AVERAGE, CSAT_SATISFIED, NPS, *DIMENSION_AVERAGES.values(),
        TRANSFERS_PER_CASE,
    )
}


@dataclass(frozen=True)
class Rate:
    """A share with the counts behind it, so a report can show numerator/denominator."""

    kpi: str
    numerator: int
    denominator: int
    value: float | None = field(init=False)  # None for an empty denominator
    target: float | None = field(init=False)
    meets_target: bool | None = field(init=False)

    def __post_init__(self) -> None:
        value = self.numerator / self.denominator if self.denominator else None
        definition = DEFINITIONS[self.kpi]
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "target", definition.target)
        object.__setattr__(self, "meets_target", definition.meets(value))


@dataclass(frozen=True)
class OnTime:
    """The on-time rate over both clocks, per clock, and how many clocks are undecided."""

    overall: Rate
    by_clock: Mapping[str, Rate]
    undecided: int  # running or paused and still within target: not counted yet


@dataclass(frozen=True)
class BusinessTime:
    """Business time on one clock's stopped instances (seconds on its calendar)."""

    clock: str
    count: int
    average_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class TeamBacklog:
    """One team's open cases: how many, in which stage, and how old."""

    team: str
    open: int
    by_stage: Mapping[str, int]
    by_age: Mapping[str, int]  # every label of AGE_BUCKETS, in order


@dataclass(frozen=True)
class ParetoRow:
    """One category of the Pareto: its cases, its share and the share up to it."""

    category: str | None
    count: int
    share: float
    cumulative_share: float


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: the dimension's value (None when unset) and its rate."""

    key: str | None
    rate: Rate


@dataclass(frozen=True)
class Average:
    """A mean score with its count and sum, so a report can show how it was reached."""

    kpi: str
    count: int
    total: int

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(frozen=True)
class Transfers:
    """Hand-offs over a set of cases: how many, over how many cases, and how many cases
    were handed on at all."""

    cases: int
    transfers: int
    transferred_cases: int

    @property
    def per_case(self) -> float | None:
        return self.transfers / self.cases if self.cases else None

    @property
    def transferred_share(self) -> float | None:
        return self.transferred_cases / self.cases if self.cases else None


@dataclass(frozen=True)
class NetPromoter:
    """NPS from its three groups; None without answers."""

    promoters: int
    passives: int
    detractors: int

    @property
    def count(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def value(self) -> float | None:
        return 100 * (self.promoters - self.detractors) / self.count if self.count else None


@dataclass(frozen=True)
class Satisfaction:
    """Every satisfaction KPI over one set of surveys."""

    response_rate: Rate  # answered / sent
    csat: Average
    satisfied: Rate  # CSAT >= 4 / answers with a CSAT
    nps: NetPromoter
    dimensions: Mapping[str, Average]


def nearest_rank(percentile: int, count: int) -> int:
    """Return the 1-based nearest rank of `percentile` (1..100) among `count` values."""
    if not 0 < percentile <= 100:
        raise ValueError("percentile must be in 1..100")
    # ceil(p·n/100) in integers: in floats 0.07 * 100 is 7.000000000000001, rank 8.
    return (percentile * count + 99) // 100
