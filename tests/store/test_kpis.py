"""KPIs over a seeded store, on SQLite and PostgreSQL, against figures computed by hand.

The seed (`_seed`) opens nine complaints through the real commands and moves them on
with the Shanghai clock; every clock runs on the 24x7 calendar, tier B unless noted.
Targets: first response urgent 10 min, ordinary 20 min, routine 2 h; resolution urgent
4 h, ordinary 24 h, routine 72 h; tier A multiplies them by 0.75.

| case | opened | prio | tier | team  | category | channel | then (Fri 20 Nov unless noted)       |
|------|--------|------|------|-------|----------|---------|--------------------------------------|
| c8   | Thu 10 | ord  | B    | compl | delivery | phone   | Thu: ack 10:05, resolve 11, confirm  |
| c1   | Fri 10 | ord  | B    | compl | delivery | phone   | ack 10:10, resolve + confirm 14:00   |
| c2   | Fri 10 | ord  | B    | compl | delivery | web     | FR breach (10:25 sweep), ack 10:30,  |
|      |        |      |      |       |          |         | resolve 12, reject 13, resolve 15    |
| c3   | Fri 10 | urg  | B    | bill  | billing  | phone   | ack 10:05, res breach (14:30 sweep), |
|      |        |      |      |       |          |         | resolve 15:30                        |
| c4   | Fri 10 | rout | B    | compl | delivery | web     | ack 11:00, still in progress         |
| c5   | Fri 10 | ord  | A    | bill  | refund   | phone   | never acked: L2 at 10:25, L3 14:30   |
| c6   | Fri 10 | ord  | B    | compl | delivery | phone   | withdrawn 10:05                      |
| c7   | Fri 10 | urg  | B    | compl | quality  | web     | ack 10:02, res breach (14:30 sweep), |
|      |        |      |      |       |          |         | waits on the customer from 15:00     |
| c9   | Fri 10 | ord  | B    | compl | quality  | web     | ack 10:07, resolve 11, reject 12     |

KPIs are read at END, Sat 21 Nov 10:00, over the period [Fri 00:00, Sat 00:00) (c8 out).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta

import pytest
from sqlmodel import Session

from core.cases import CustomerInput, OpenCase, open_case
from core.kpis import (
    Dimension,
    KpiFilter,
    RateKpi,
    backlog,
    breakdown,
    business_time,
    category_pareto,
    escalation_rates,
    on_time_rate,
    rate,
    reopen_rate,
    resolution_rate,
)
from core.runtime import Runtime
from domain.kpi_definitions import Rate, nearest_rank
from domain.policy import Tier
from engine.clock import FrozenClock
from tests.conftest import build_runtime, sweep
from tests.store.helpers import send
from tests.support import postgres_available, postgres_schema, shanghai, write_policies

END = shanghai(2026, 11, 21, 10, 0)
FRIDAY = KpiFilter(opened_from=shanghai(2026, 11, 20), opened_to=shanghai(2026, 11, 21))


def _open(rt: Runtime, *, priority: str | None = None, category: str | None = None,
          channel: str | None = None, tier: str = "B") -> int:
    request = OpenCase(subject="parcel arrived broken", description="", priority=priority,
                       category=category, channel=channel,
                       customer=CustomerInput(ref=f"cust-{tier}", name="Lin", tier=Tier(tier),
                                              phone=None, email=None))
    with Session(rt.engine, expire_on_commit=False) as session:
        case, _ = open_case(session, request=request, actor="agent:test", policies=rt.policies,
                            calendars=rt.calendars, now=rt.clock.now())
        assert case.id is not None
        return case.id


def _seed(rt: Runtime, clock: FrozenClock) -> dict[str, int]:
    """Build the table in the module docstring; return the case ids by name."""
    clock.set(shanghai(2026, 11, 19, 10))
    c = {"c8": _open(rt, priority="ordinary", category="delivery", channel="phone")}
    _play(rt, clock, c, 19, [(10, 5, [("c8", "acknowledge")]), (11, 0, [("c8", "resolve")]),
                             (11, 30, [("c8", "confirm")])])
    clock.set(shanghai(2026, 11, 20, 10))
    for name, priority, category, channel, tier in [
            ("c1", "ordinary", "delivery", "phone", "B"),
            ("c2", "ordinary", "delivery", "web", "B"),
            ("c3", "urgent", "billing", "phone", "B"),
            ("c4", "routine", "delivery", "web", "B"),
            ("c5", "ordinary", "refund", "phone", "A"),
            ("c6", "ordinary", "delivery", "phone", "B"),
            ("c7", "urgent", "quality", "web", "B"),
            ("c9", "ordinary", "quality", "web", "B")]:
        c[name] = _open(rt, priority=priority, category=category, channel=channel, tier=tier)
    _play(rt, clock, c, 20, [
            (10, 2, [("c7", "acknowledge")]),
            (10, 5, [("c3", "acknowledge"), ("c6", "withdraw")]),
            (10, 7, [("c9", "acknowledge")]),
            (10, 10, [("c1", "acknowledge")]),
            (10, 25, [("sweep", "")]),  # c2 FR warning+breach (L1); c5 FR up to manager (L2)
            (10, 30, [("c2", "acknowledge")]),
            (11, 0, [("c4", "acknowledge"), ("c9", "resolve")]),
            (12, 0, [("c2", "resolve"), ("c9", "reject")]),
            (13, 0, [("c2", "reject")]),
            (14, 0, [("c1", "resolve"), ("c1", "confirm")]),
            (14, 30, [("sweep", "")]),  # c3, c7 resolution breach (L1); c5 FR director (L3)
            (15, 0, [("c2", "resolve"), ("c7", "wait_on_customer")]),
            (15, 30, [("c3", "resolve")])])
    clock.set(END)  # no sweep: c5's resolution clock is past due with no breach recorded
    return c


def _play(rt: Runtime, clock: FrozenClock, cases: dict[str, int], day: int,
          schedule: list[tuple[int, int, list[tuple[str, str]]]]) -> None:
    """At each (hour, minute) of November `day`, send each case its event, or sweep."""
    for hour, minute, steps in schedule:
        clock.set(shanghai(2026, 11, day, hour, minute))
        for name, event in steps:
            if name == "sweep":
                sweep(rt)
            else:
                send(rt, cases[name], event)


@pytest.fixture
def seeded(make_runtime, clock) -> Runtime:  # type: ignore[no-untyped-def]
    rt = make_runtime()
    _seed(rt, clock)
    return rt


def _counts(rate: Rate) -> tuple[int, int]:
    return rate.numerator, rate.denominator


def test_on_time_rate_counts_decided_clocks_only(seeded):
    with Session(seeded.engine) as session:
        on_time = on_time_rate(session, FRIDAY, now=END)
    # First response: met c1 c3 c4 c6 c7 c9; missed c2 (acked late), c5 (never) -> 6/8.
    assert _counts(on_time.by_clock["first_response"]) == (6, 8)
    # Resolution: met c1, c2 (2 h + 2 h of 24 h), c6 (withdrawn in time); missed c3 (5.5 h
    # of 4 h), c5 (running, due Sat 04:00, breach not swept yet), c7 (paused at 5 h of 4 h);
    # undecided c4 (routine, 72 h), c9 (reopened, due Sat 11:00) -> 3/6.
    assert _counts(on_time.by_clock["resolution"]) == (3, 6)
    # Overall 9/14 = 64.3% < 95%.
    assert _counts(on_time.overall) == (9, 14)
    assert on_time.overall.value == pytest.approx(9 / 14)
    assert on_time.overall.target == 0.95 and on_time.overall.meets_target is False
    assert on_time.undecided == 2
    # An hour later c9's resolution clock is past due as well: 9/15.
    with Session(seeded.engine) as session:
        later = on_time_rate(session, FRIDAY, now=END + timedelta(hours=1, seconds=1))
    assert _counts(later.overall) == (9, 15) and later.undecided == 1


def test_on_time_rate_over_a_whole_process_equals_the_joined_count(seeded):
    # Over a whole process the clocks answer alone (their copy of the process); any
    # other filter joins the cases. Both must count the same clocks.
    since_ever = KpiFilter(opened_from=shanghai(2000, 1, 1))
    with Session(seeded.engine) as session:
        for process in ("complaint", None):
            whole = on_time_rate(session, replace(KpiFilter(), process=process), now=END)
            joined = on_time_rate(session, replace(since_ever, process=process), now=END)
            assert whole == joined
            assert whole.overall.denominator > 0
            assert rate(session, RateKpi.on_time, replace(KpiFilter(), process=process),
                        now=END) == whole.overall


def test_on_time_rate_meets_the_target_at_95_percent(make_runtime, clock):
    rt = make_runtime()
    ids = [_open(rt, priority="routine") for _ in range(2)]
    clock.advance(timedelta(minutes=5))
    for case_id in ids:
        send(rt, case_id, "resolve")
    with Session(rt.engine) as session:
        on_time = on_time_rate(session, KpiFilter(), now=clock.now())
    # 2 cases x 2 clocks, all stopped after 5 min: 4/4 = 100% >= 95%.
    assert _counts(on_time.overall) == (4, 4) and on_time.overall.meets_target is True


def test_business_time_average_and_p90(seeded):
    with Session(seeded.engine) as session:
        first = business_time(session, FRIDAY, "first_response")
        resolution = business_time(session, FRIDAY, "resolution")
    # Stopped first-response clocks, seconds: c7 120, c3 300, c6 300, c9 420, c1 600,
    # c2 1800, c4 3600 -> n 7, sum 7140, mean 1020; p90 rank ceil(0.9 * 7) = 7 -> 3600.
    assert (first.count, first.average_seconds, first.p90_seconds) == (7, 1020.0, 3600.0)
    # Stopped resolution clocks: c6 300, c1 14400, c2 7200 + 7200 = 14400, c3 19800
    # (c9 reopened: running again) -> n 4, sum 48900, mean 12225; p90 rank 4 -> 19800.
    assert (resolution.count, resolution.average_seconds, resolution.p90_seconds) == (
        4, 12225.0, 19800.0)


def test_p90_uses_the_nearest_rank_on_a_known_set(make_runtime, clock):
    rt = make_runtime()
    ids = [_open(rt, priority="routine") for _ in range(10)]
    for case_id in ids:  # acknowledged after 1, 2, ..., 10 minutes
        clock.advance(timedelta(minutes=1))
        send(rt, case_id, "acknowledge")
    with Session(rt.engine) as session:
        ten = business_time(session, KpiFilter(), "first_response")
        running = business_time(session, KpiFilter(), "resolution")
    # 60..600 s: mean 330; rank ceil(0.9 * 10) = 9 -> 540 s.
    assert (ten.count, ten.average_seconds, ten.p90_seconds) == (10, 330.0, 540.0)
    assert (running.count, running.average_seconds, running.p90_seconds) == (0, None, None)
    eleventh = _open(rt, priority="routine")
    clock.advance(timedelta(minutes=11))
    send(rt, eleventh, "acknowledge")
    with Session(rt.engine) as session:
        eleven = business_time(session, KpiFilter(), "first_response")
    # 60..660 s: mean 3960 / 11 = 360; rank ceil(9.9) = 10 -> 600 s.
    assert (eleven.count, eleven.average_seconds, eleven.p90_seconds) == (11, 360.0, 600.0)


def test_nearest_rank():
    assert [nearest_rank(90, n) for n in (1, 6, 7, 10, 11, 70)] == [1, 6, 7, 9, 10, 63]
    assert (nearest_rank(50, 4), nearest_rank(100, 5)) == (2, 5)
    assert nearest_rank(7, 100) == 7  # ceil(0.07 * 100) in floats would give 8
    with pytest.raises(ValueError):
        nearest_rank(0, 5)


def test_resolution_reopen_and_escalation_rates(seeded):
    with Session(seeded.engine) as session:
        resolved = resolution_rate(session, FRIDAY)
        reopened = reopen_rate(session, FRIDAY)
        escalated = escalation_rates(session, FRIDAY)
    # Standing resolved: c1 (closed), c2, c3 (resolved). Not c9 (reopened, in progress),
    # c6 (withdrawn, never resolved), c4 c5 c7 -> 3/8.
    assert _counts(resolved) == (3, 8) and resolved.meets_target is None
    # Resolved at least once: c1 c2 c3 c9; rejected: c2, c9 -> 2/4. (resolved_count > 1
    # would find only c2: c9 has been resolved once and is back in progress.)
    assert _counts(reopened) == (2, 4) and reopened.value == 0.5
    # Level >= 1: c2 c3 c7 (breach) and c5 (director) -> 4/8; >= 2 and >= 3: c5 -> 1/8.
    assert {level: _counts(rate) for level, rate in escalated.items()} == {
        1: (4, 8), 2: (1, 8), 3: (1, 8)}


def test_backlog_by_stage_and_age(seeded):
    with Session(seeded.engine) as session:
        teams = backlog(session, FRIDAY, now=END)
    # Open: billing c3 (resolved), c5 (assigned); complaints c2 (resolved), c4 and c9
    # (in progress), c7 (waiting). All opened Fri 10:00, exactly 1 day before END: 1-3d.
    assert [(t.team, t.open, list(t.by_stage.items()), t.by_age) for t in teams] == [
        ("billing", 2, [("assigned", 1), ("resolved", 1)],
         {"<1d": 0, "1-3d": 2, "3-7d": 0, ">=7d": 0}),
        ("complaints", 4, [("in_progress", 2), ("waiting_on_customer", 1), ("resolved", 1)],
         {"<1d": 0, "1-3d": 4, "3-7d": 0, ">=7d": 0}),
    ]


def test_ageing_buckets_and_their_edges(make_runtime, clock):
    rt = make_runtime()
    now = shanghai(2026, 11, 30, 12, 0)
    ages = [timedelta(days=8), timedelta(days=7), timedelta(days=7) - timedelta(seconds=1),
            timedelta(days=3), timedelta(days=2), timedelta(days=1), timedelta(hours=23),
            timedelta(0)]
    for age in ages:  # oldest first, so the clock only moves forward
        clock.set(now - age)
        _open(rt, category="refund" if age == timedelta(days=2) else "delivery")
    clock.set(now + timedelta(minutes=1))
    _open(rt)  # opened after `now`: not in that moment's backlog
    with Session(rt.engine) as session:
        teams = {t.team: t for t in backlog(session, KpiFilter(), now=now)}
    # complaints: <1d: 23 h, 0 -> 2; 1-3d: exactly 1 d -> 1; 3-7d: exactly 3 d,
    # 7 d - 1 s -> 2; >=7d: exactly 7 d, 8 d -> 2. billing: the 2-day-old refund.
    assert teams["complaints"].by_age == {"<1d": 2, "1-3d": 1, "3-7d": 2, ">=7d": 2}
    assert teams["complaints"].open == 7 and teams["complaints"].by_stage == {"assigned": 7}
    assert teams["billing"].by_age == {"<1d": 0, "1-3d": 1, "3-7d": 0, ">=7d": 0}


def test_breakdowns_group_by_one_dimension(seeded):
    def groups(kpi: RateKpi, by: Dimension) -> list[tuple[str | None, int, int]]:
        with Session(seeded.engine) as session:
            return [(g.key, g.rate.numerator, g.rate.denominator)
                    for g in breakdown(session, kpi, FRIDAY, by, now=END)]

    # On time: billing c3 FR met, c3 res, c5 FR, c5 res missed -> 1/4; complaints: 9 - 1
    # met of 14 - 4 decided -> 8/10.
    assert groups(RateKpi.on_time, Dimension.team) == [("billing", 1, 4), ("complaints", 8, 10)]
    # Resolution: phone c1 c3 c5 c6 -> c1 c3 resolved, 2/4; web c2 c4 c7 c9 -> c2, 1/4.
    assert groups(RateKpi.resolution, Dimension.channel) == [("phone", 2, 4), ("web", 1, 4)]
    # Level 1: ordinary c1 c2 c5 c6 c9 -> c2 c5, 2/5; routine c4 -> 0/1; urgent c3 c7, 2/2.
    assert groups(RateKpi.escalation_l1, Dimension.priority) == [
        ("ordinary", 2, 5), ("routine", 0, 1), ("urgent", 2, 2)]
    # Reopen: tier A is c5 alone, never resolved -> 0/0 (no rate); tier B 2/4.
    with Session(seeded.engine) as session:
        by_tier = breakdown(session, RateKpi.reopen, FRIDAY, Dimension.tier, now=END)
    assert [(g.key, g.rate.value) for g in by_tier] == [("A", None), ("B", 0.5)]
    # Category: billing c3 1/1; delivery c1 c2 c4 c6 -> c1 c2, 2/4; quality c7 c9 0/2;
    # refund c5 0/1.
    assert groups(RateKpi.resolution, Dimension.category) == [
        ("billing", 1, 1), ("delivery", 2, 4), ("quality", 0, 2), ("refund", 0, 1)]


@pytest.mark.parametrize(("flt", "resolved", "on_time"), [
    # No period: c8 joins (resolved; both clocks met) -> 4/9 and 11/16.
    (KpiFilter(), (4, 9), (11, 16)),
    # [Thu 10:00, Fri 10:00): c8 from its first instant; Friday's cases start at the end.
    (KpiFilter(opened_from=shanghai(2026, 11, 19, 10), opened_to=shanghai(2026, 11, 20, 10)),
     (1, 1), (2, 2)),
    # billing: c3 resolved, c5 not -> 1/2; on time 1/4 (see the breakdown).
    (KpiFilter(opened_from=FRIDAY.opened_from, team="billing"), (1, 2), (1, 4)),
    # delivery on Friday: c1 c2 c4 c6 -> c1 c2, 2/4; clocks c1 2, c2 1 of 2, c4 1 of 1,
    # c6 2 -> 6/7.
    (KpiFilter(opened_from=FRIDAY.opened_from, category="delivery"), (2, 4), (6, 7)),
    # web: c2 c4 c7 c9 -> 1/4; clocks c2 1/2, c4 1/1, c7 1/2, c9 1/1 -> 4/6.
    (KpiFilter(opened_from=FRIDAY.opened_from, channel="web"), (1, 4), (4, 6)),
    # urgent: c3 c7 -> c3, 1/2; clocks c3 1/2, c7 1/2 -> 2/4.
    (KpiFilter(priority="urgent"), (1, 2), (2, 4)),
    # tier A: c5 -> 0/1; both clocks missed -> 0/2.
    (KpiFilter(tier="A"), (0, 1), (0, 2)),
    # Another process: nothing.
    (KpiFilter(process="pdca"), (0, 0), (0, 0)),
], ids=["all", "period", "team", "category", "channel", "priority", "tier", "process"])
def test_every_filter_is_honoured(seeded, flt, resolved, on_time):
    with Session(seeded.engine) as session:
        assert _counts(resolution_rate(session, flt)) == resolved
        assert _counts(on_time_rate(session, flt, now=END).overall) == on_time


def test_an_empty_period_has_no_rates(seeded):
    empty = KpiFilter(opened_from=shanghai(2026, 12, 1), opened_to=shanghai(2026, 12, 8))
    with Session(seeded.engine) as session:
        on_time = on_time_rate(session, empty, now=END)
        rates = [on_time.overall, *on_time.by_clock.values(), resolution_rate(session, empty),
                 reopen_rate(session, empty), *escalation_rates(session, empty).values()]
        assert all(r.denominator == 0 and r.value is None and r.meets_target is None
                   for r in rates)
        assert business_time(session, empty, "resolution").average_seconds is None
        assert backlog(session, empty, now=END) == []
        assert category_pareto(session, empty) == []
        assert breakdown(session, RateKpi.on_time, empty, Dimension.team, now=END) == []


def test_category_pareto(seeded):
    with Session(seeded.engine) as session:
        friday = category_pareto(session, FRIDAY)
    # delivery 4, quality 2, billing 1, refund 1 of 8; ties by name.
    assert [(r.category, r.count, r.share, r.cumulative_share) for r in friday] == [
        ("delivery", 4, 0.5, 0.5), ("quality", 2, 0.25, 0.75),
        ("billing", 1, 0.125, 0.875), ("refund", 1, 0.125, 1.0)]
    # Two uncategorised complaints on Saturday (END) tie with quality and come after it.
    for _ in range(2):
        _open(seeded)
    from_friday = KpiFilter(opened_from=shanghai(2026, 11, 20))
    with Session(seeded.engine) as session:
        rows = category_pareto(session, from_friday)
        by_category = breakdown(session, RateKpi.resolution, from_friday, Dimension.category,
                                now=END)
    # Of 10: delivery 4 (0.4), quality 2 (0.6), none 2 (0.8), billing 1 (0.9), refund 1.
    assert [(r.category, r.count) for r in rows] == [
        ("delivery", 4), ("quality", 2), (None, 2), ("billing", 1), ("refund", 1)]
    assert [r.cumulative_share for r in rows] == pytest.approx([0.4, 0.6, 0.8, 0.9, 1.0])
    assert by_category[-1].key is None  # unset values last in a breakdown too


def _everything(rt: Runtime) -> dict[str, object]:
    with Session(rt.engine) as session:
        figures: dict[str, object] = {
            "on_time": on_time_rate(session, FRIDAY, now=END),
            "resolution": resolution_rate(session, FRIDAY),
            "reopen": reopen_rate(session, FRIDAY),
            "escalation": escalation_rates(session, FRIDAY),
            "times": [business_time(session, FRIDAY, c) for c in ("first_response",
                                                                   "resolution")],
            "backlog": backlog(session, FRIDAY, now=END),
            "pareto": category_pareto(session, FRIDAY),
        }
        for kpi in RateKpi:
            for dimension in Dimension:
                figures[f"{kpi}/{dimension}"] = breakdown(session, kpi, FRIDAY, dimension,
                                                          now=END)
    return {name: asdict(v) if hasattr(v, "__dataclass_fields__") else v
            for name, v in figures.items()}


@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL not reachable")
def test_sqlite_and_postgres_give_the_same_answers(tmp_path, clock):
    policies = write_policies(tmp_path / "policies")
    results = []
    with postgres_schema() as postgres:
        for database in ((f"sqlite:///{tmp_path / 'kpis.db'}", {}), postgres):
            clock.set(shanghai(2026, 11, 20, 10))
            rt = build_runtime(database, policies, clock)
            try:
                _seed(rt, clock)
                results.append(_everything(rt))
            finally:
                rt.engine.dispose()
    assert results[0] == results[1]
    assert len(results[0]) == 7 + len(RateKpi) * len(Dimension)
