"""Satisfaction KPIs and the monthly review, on SQLite and PostgreSQL, against hand arithmetic.

Surveys are written straight into the store (the follow-up flow has its own tests).
November 2026, Shanghai time; "-" is a score not given, "none" no answer at all.

| s  | team       | agent     | category | channel | tier | sent      | csat nps spd att res |
|----|------------|-----------|----------|---------|------|-----------|----------------------|
| s1 | complaints | li.wei    | delivery | phone   | B    | Nov 2     | 5    10  5   5   4    |
| s2 | complaints | li.wei    | delivery | web     | B    | Nov 3     | 4    9   4   -   -    |
|    |            |           |          |         |      |           | (answered on Dec 2)  |
| s3 | complaints | zhang.min | quality  | phone   | B    | Nov 5     | 2    3   1   2   1    |
| s4 | complaints | zhang.min | quality  | web     | B    | Nov 8     | none                 |
| s5 | billing    | sun.hao   | billing  | phone   | B    | Nov 10    | 3    9   -   5   3    |
| s6 | billing    | sun.hao   | billing  | phone   | A    | Nov 20    | 1    0   2   1   1    |
| s7 | billing    | zhou.xin  | refund   | (none)  | B    | Nov 25    | none                 |
| s8 | billing    | zhou.xin  | refund   | web     | B    | Nov 28    | 4    -   -   -   -    |
| s9 | complaints | li.wei    | delivery | phone   | B    | Oct 31 23h| 1    1   (outside)   |
| sA | complaints | li.wei    | delivery | phone   | B    | Dec 1 0h  | 5    10  (outside)   |

November: 8 sent, 6 answered (s4, s7 not): response rate 6/8 = 0.75.
CSAT 5+4+2+3+1+4 = 19 over 6 = 3.1667; satisfied (4 or 5): s1, s2, s8 = 3/6 = 0.5.
NPS over 5 answers: promoters (9-10) s1, s2, s5 = 3, detractors (0-6) s3, s6 = 2,
passives 0: 100 × (3 - 2) / 5 = 20.
Speed 5+4+1+2 = 12/4 = 3.0; attitude 5+2+5+1 = 13/4 = 3.25; resolution 4+1+3+1 = 9/4 = 2.25.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from core.kpis_satisfaction import (
    SurveyDimension,
    SurveyFilter,
    satisfaction,
    satisfaction_breakdown,
)
from core.runtime import Runtime
from domain.reviews.policy import PeriodKind
from engine.models import Case, Customer, Survey, SurveyAnswer
from processes.reviews.runs import run_due_review
from processes.reviews.trends import trend
from tests.conftest import build_runtime
from tests.support import shanghai, write_policies

NOVEMBER = SurveyFilter(sent_from=shanghai(2026, 11, 1), sent_to=shanghai(2026, 12, 1))
#        team          agent        category    channel  tier sent            answer
SEED = [
    ("complaints", "li.wei", "delivery", "phone", "B", (11, 2), (5, 10, 5, 5, 4)),
    ("complaints", "li.wei", "delivery", "web", "B", (11, 3), (4, 9, 4, None, None)),
    ("complaints", "zhang.min", "quality", "phone", "B", (11, 5), (2, 3, 1, 2, 1)),
    ("complaints", "zhang.min", "quality", "web", "B", (11, 8), None),
    ("billing", "sun.hao", "billing", "phone", "B", (11, 10), (3, 9, None, 5, 3)),
    ("billing", "sun.hao", "billing", "phone", "A", (11, 20), (1, 0, 2, 1, 1)),
    ("billing", "zhou.xin", "refund", None, "B", (11, 25), None),
    ("billing", "zhou.xin", "refund", "web", "B", (11, 28), (4, None, None, None, None)),
    ("complaints", "li.wei", "delivery", "phone", "B", (10, 31, 23), (1, 1, None, None, None)),
    ("complaints", "li.wei", "delivery", "phone", "B", (12, 1, 0), (5, 10, None, None, None)),
]


def _seed(rt: Runtime) -> None:
    now = shanghai(2026, 10, 1)
    with Session(rt.engine) as session:
        customer = Customer(name="Lin", created_at=now)
        session.add(customer)
        session.flush()

        def case(process: str, **fields: object) -> Case:
            row = Case(process=process, stage="closed", priority="ordinary", subject="s",
                       customer_id=customer.id, policy_version="test", opened_at=now,
                       stage_entered_at=now, updated_at=now, **fields)  # type: ignore[arg-type]
            session.add(row)
            session.flush()
            return row

        source = case("complaint", team="complaints", tier="B")
        for n, (team, agent, category, channel, tier, sent, scores) in enumerate(SEED):
            follow = case("followup", team=team, category=category, channel=channel, tier=tier)
            issued = shanghai(2026, *sent)
            survey = Survey(followup_case_id=follow.id, source_case_id=source.id,
                            customer_id=customer.id, agent=agent, sent_via="email",
                            nonce=f"{n:032x}", issued_at=issued, expires_at=issued)
            session.add(survey)
            session.flush()
            if scores is not None:
                answered = shanghai(2026, 12, 2) if n == 1 else issued
                session.add(SurveyAnswer(survey_id=survey.id, via="link", answered_at=answered,
                                         recorded_by="customer", **dict(zip(
                                             ("csat", "nps", "speed", "attitude", "resolution"),
                                             scores, strict=True))))
        session.commit()


@pytest.fixture
def rt(database, clock, tmp_path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    made = build_runtime(database, write_policies(tmp_path / "policies"), clock)
    _seed(made)
    yield made
    made.engine.dispose()


def _figures(figures) -> dict:  # type: ignore[no-untyped-def]
    return {"sent": figures.response_rate.denominator,
            "answered": figures.response_rate.numerator,
            "response_rate": figures.response_rate.value, "csat": figures.csat.value,
            "satisfied": figures.satisfied.value, "nps": figures.nps.value,
            **{name: a.value for name, a in figures.dimensions.items()}}


def test_november_s_satisfaction_by_hand(rt):
    with Session(rt.engine) as session:
        figures = satisfaction(session, NOVEMBER)
    assert _figures(figures) == pytest.approx({
        "sent": 8, "answered": 6, "response_rate": 0.75, "csat": 19 / 6, "satisfied": 0.5,
        "nps": 20.0, "speed": 3.0, "attitude": 3.25, "resolution": 2.25})
    assert (figures.csat.count, figures.csat.total) == (6, 19)
    assert (figures.nps.promoters, figures.nps.passives, figures.nps.detractors) == (3, 0, 2)
    assert (figures.satisfied.numerator, figures.satisfied.denominator) == (3, 6)


def test_the_breakdowns_by_hand_and_they_add_up_to_the_total(rt):
    with Session(rt.engine) as session:
        by = {d: dict(satisfaction_breakdown(session, NOVEMBER, d)) for d in SurveyDimension}
        total = satisfaction(session, NOVEMBER)
    teams = by[SurveyDimension.team]
    assert list(teams) == ["billing", "complaints"]
    # complaints: s1-s4; CSAT 5, 4, 2; NPS 10, 9, 3 (2 promoters, 1 detractor of 3).
    assert _figures(teams["complaints"]) == pytest.approx({
        "sent": 4, "answered": 3, "response_rate": 0.75, "csat": 11 / 3, "satisfied": 2 / 3,
        "nps": 100 / 3, "speed": 10 / 3, "attitude": 3.5, "resolution": 2.5})
    # billing: s5-s8; CSAT 3, 1, 4; NPS 9, 0 (1 promoter, 1 detractor of 2).
    assert _figures(teams["billing"]) == pytest.approx({
        "sent": 4, "answered": 3, "response_rate": 0.75, "csat": 8 / 3, "satisfied": 1 / 3,
        "nps": 0.0, "speed": 2.0, "attitude": 3.0, "resolution": 2.0})
    agents = {k: (_figures(v)["sent"], _figures(v)["answered"], _figures(v)["csat"])
              for k, v in by[SurveyDimension.agent].items()}
    assert agents == {"li.wei": (2, 2, 4.5), "sun.hao": (2, 2, 2.0),
                      "zhang.min": (2, 1, 2.0), "zhou.xin": (2, 1, 4.0)}
    assert by[SurveyDimension.agent]["zhou.xin"].nps.value is None  # s8 gave no NPS
    channels = {k: (_figures(v)["sent"], _figures(v)["answered"], _figures(v)["csat"])
                for k, v in by[SurveyDimension.channel].items()}
    assert channels == {"phone": (4, 4, 11 / 4), "web": (3, 2, 4.0), None: (1, 0, None)}
    assert list(by[SurveyDimension.channel]) == ["phone", "web", None]  # unset last
    assert list(by[SurveyDimension.category]) == ["billing", "delivery", "quality", "refund"]
    for groups in by.values():
        assert sum(g.response_rate.denominator for g in groups.values()) == 8
        assert sum(g.csat.total for g in groups.values()) == total.csat.total
        assert sum(g.nps.promoters for g in groups.values()) == total.nps.promoters


def test_filters_narrow_the_surveys(rt):
    with Session(rt.engine) as session:
        tier_a = satisfaction(session, SurveyFilter(**{**NOVEMBER.__dict__, "tier": "A"}))
        li = satisfaction(session, SurveyFilter(**{**NOVEMBER.__dict__, "agent": "li.wei"}))
        everything = satisfaction(session, SurveyFilter())
        nothing = satisfaction(session, SurveyFilter(sent_from=shanghai(2027, 1, 1)))
    assert (_figures(tier_a)["sent"], _figures(tier_a)["csat"]) == (1, 1.0)
    assert (_figures(li)["sent"], _figures(li)["nps"]) == (2, 100.0)
    assert _figures(everything)["sent"] == 10  # s9 and sA too
    assert _figures(nothing) == {"sent": 0, "answered": 0, "response_rate": None,
                                 "csat": None, "satisfied": None, "nps": None,
                                 "speed": None, "attitude": None, "resolution": None}


def test_the_monthly_satisfaction_review_reports_november(rt, clock):
    clock.set(shanghai(2026, 12, 1, 9, 0))
    run = run_due_review(rt, "monthly-satisfaction-review").run
    assert run is not None and run.status == "succeeded", run and run.error
    result = run.result
    assert result["survey_data"] is True
    # Each line in Simplified Chinese, then English; figures as each language writes them.
    assert [line.split("\n") for line in result["summary"]] == [
        ["已发送 8 份调查，6 份已回复：回复率 75%。",
         "8 surveys sent, 6 answered: response rate 75%."],
        ["平均 CSAT 3.17（满分 5，n=6）；50% 满意（CSAT 4 或 5）。",
         "Average CSAT 3.17 of 5 (n=6); 50% satisfied (CSAT 4 or 5)."],
        ["NPS +20（5 人中 3 位推荐者，2 位贬损者）。", "NPS +20 (3 promoters, 2 detractors of 5)."],
        ["各维度（满分 5）：速度 3、态度 3.25、解决 2.25。",
         "Dimensions (of 5): speed 3, attitude 3.25, resolution 2.25."]]
    rows = result["tables"]["kpis"]
    assert {row["kpi"]: row["value"] for row in rows} == pytest.approx({
        "survey_response_rate": 0.75, "csat_average": 19 / 6, "csat_satisfied_share": 0.5,
        "nps": 20.0, "speed_average": 3.0, "attitude_average": 3.25,
        "resolution_average": 2.25})
    assert [row["basis"] for row in rows] == [
        "6/8", "n=6", "3/6", "3 promoters, 0 passives, 2 detractors", "n=4", "n=4", "n=4"]
    assert [row["agent"] for row in result["tables"]["by_agent"]] == [
        "li.wei", "sun.hao", "zhang.min", "zhou.xin"]
    assert {k for k in result["tables"]} == {"kpis", "by_team", "by_agent", "by_category",
                                             "by_channel"}
    billing = result["teams"]["billing"]
    assert billing["summary"][0] == ("已发送 4 份调查，3 份已回复：回复率 75%。\n"
                                     "4 surveys sent, 3 answered: response rate 75%.")
    assert [row["agent"] for row in billing["tables"]["by_agent"]] == ["sun.hao", "zhou.xin"]
    assert (result["period"]["start"], result["period"]["end"]) == (
        "2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00")


def test_the_quarterly_evaluation_measures_customer_satisfaction(rt, clock):
    clock.set(shanghai(2027, 1, 1, 9, 0))
    run = run_due_review(rt, "quarterly-service-evaluation").run
    assert run is not None and run.status == "succeeded"
    rows = [r for r in run.result["tables"]["indicators"]
            if r["indicator"].startswith("customer satisfaction")]
    # The quarter (Oct-Dec) holds all ten surveys: 8 answered, CSAT 19 + 1 + 5 = 25;
    # satisfied s1, s2, s8, sA; NPS promoters s1, s2, s5, sA, detractors s3, s6, s9.
    assert {r["kpi"]: r["value"] for r in rows} == pytest.approx({
        "csat_average": 25 / 8, "csat_satisfied_share": 4 / 8, "nps": 100 * (4 - 3) / 7,
        "survey_response_rate": 8 / 10})
    assert [r["basis"] for r in rows] == ["n=8", "4/8", "4 promoters, 0 passives, 3 detractors",
                                          "8/10"]
    assert run.result["survey_data"] is True


def test_the_trends_mean_csat_per_month_and_day_of_the_surveys_sent(rt, clock):
    clock.set(shanghai(2026, 12, 1, 12))
    with Session(rt.engine) as session:
        def csat(kind: PeriodKind, count: int, teams: list[str] | None = None
                 ) -> list[tuple[int, int]]:
            return [(p.csat.count, p.csat.total) for p in trend(
                session, now=rt.clock.now(), kind=kind, count=count,
                timezone="Asia/Shanghai", teams=teams)]

        # October: s9 (sent Oct 31, 23:00 in Shanghai); November: the six answers above
        # (s2's too, answered in December); December: sA.
        assert csat(PeriodKind.month, 3) == [(1, 1), (6, 19), (1, 5)]
        assert csat(PeriodKind.month, 3, ["billing"]) == [(0, 0), (3, 8), (0, 0)]
        days = csat(PeriodKind.day, 31)  # November 1 to December 1
        assert {day + 1: figures for day, figures in enumerate(days) if figures[0]} == {
            2: (1, 5), 3: (1, 4), 5: (1, 2), 10: (1, 3), 20: (1, 1), 28: (1, 4), 31: (1, 5)}
        month = trend(session, now=rt.clock.now(), kind=PeriodKind.month, count=1,
                      timezone="Asia/Shanghai")[0]
    assert month.csat.value == pytest.approx(5.0)
