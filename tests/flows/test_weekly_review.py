"""The weekly complaint review over a seeded week, as a flow: artifacts and the API agree
with a hand computation.

Week of Monday 16 November 2026 (Shanghai), every clock on the 24x7 calendar, tier B.
Targets: first response ordinary 20 min, urgent 10 min; resolution ordinary 24 h,
urgent 4 h. Categories delivery and quality go to team complaints, billing to billing.

| case | opened     | customer | category | prio | then                                        |
|------|------------|----------|----------|------|---------------------------------------------|
| w0   | Sun 23:00  | cust-1   | delivery | ord  | (before the week: left out)                 |
| w1   | Wed 10:00  | cust-1   | delivery | ord  | ack 10:05, resolve 12:00                    |
| w2   | Wed 10:00  | cust-1   | delivery | ord  | ack 10:30 (late), resolve 14:00             |
| w3   | Wed 10:00  | cust-2   | billing  | ord  | ack 10:10, never resolved                   |
| w4   | Wed 10:00  | cust-3   | delivery | ord  | ack 10:15, resolve 11:00                    |
| w5   | Fri 10:00  | cust-2   | billing  | ord  | ack 10:05, resolve 11:00                    |
| w6   | Fri 10:00  | cust-4   | quality  | ord  | ack 10:05, resolve 11:00, rejected 12:00    |
| w7   | Fri 10:00  | cust-5   | delivery | urg  | ack 10:05, resolve 13:00                    |

The review runs at its slot, Monday 23 November 09:00.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect.client.schemas.sorting import ArtifactSort

from api.app import create_app
from core.runtime import Runtime
from processes.reviews.flows import periodic_review
from tests.store.helpers import open_complaint, send
from tests.store.review_helpers import findings, runs
from tests.support import bearer, issue_key, shanghai

REVIEW = "weekly-complaint-review"
MONDAY_0900 = shanghai(2026, 11, 23, 9, 0)


def _seed(rt: Runtime, clock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    def at(day: int, hour: int, minute: int = 0) -> None:
        clock.set(shanghai(2026, 11, day, hour, minute))

    at(15, 23)
    c = {"w0": open_complaint(rt, priority="ordinary", category="delivery", ref="cust-1")}
    at(18, 10)
    for name, category, ref in (("w1", "delivery", "cust-1"), ("w2", "delivery", "cust-1"),
                                ("w3", "billing", "cust-2"), ("w4", "delivery", "cust-3")):
        c[name] = open_complaint(rt, priority="ordinary", category=category, ref=ref)
    for minute, name in ((5, "w1"), (10, "w3"), (15, "w4"), (30, "w2")):
        at(18, 10, minute)
        send(rt, c[name], "acknowledge")
    for hour, name in ((11, "w4"), (12, "w1"), (14, "w2")):
        at(18, hour)
        send(rt, c[name], "resolve")
    at(20, 10)
    for name, category, ref, priority in (("w5", "billing", "cust-2", "ordinary"),
                                          ("w6", "quality", "cust-4", "ordinary"),
                                          ("w7", "delivery", "cust-5", "urgent")):
        c[name] = open_complaint(rt, priority=priority, category=category, ref=ref)
    at(20, 10, 5)
    for name in ("w5", "w6", "w7"):
        send(rt, c[name], "acknowledge")
    at(20, 11)
    send(rt, c["w5"], "resolve")
    send(rt, c["w6"], "resolve")
    at(20, 12)
    send(rt, c["w6"], "reject")
    at(20, 13)
    send(rt, c["w7"], "resolve")
    return c


# By hand. Of the 7 cases in the week: delivery w1 w2 w4 w7, billing w3 w5, quality w6.
PARETO = [
    {"category": "delivery", "cases": 4, "share": 4 / 7, "cumulative_share": 4 / 7},
    {"category": "billing", "cases": 2, "share": 2 / 7, "cumulative_share": 6 / 7},
    {"category": "quality", "cases": 1, "share": 1 / 7, "cumulative_share": 1.0},
]
# First response: all met but w2 (30 of 20 min) -> 6/7. Resolution at Monday 09:00:
# met w1 (2 h) w2 (4 h) w4 (1 h) w5 (1 h) w7 (3 of 4 h); missed w3 (running since Wed,
# due Thu 10:00) and w6 (1 h, then running again from Fri 12:00: 70 h) -> 5/7.
# Standing resolved: w1 w2 w4 w5 w7 -> 5/7. Resolved once: all but w3; rejected: w6 -> 1/6.
# First-response seconds: 300 1800 600 900 300 300 300 -> mean 4500/7, p90 rank 7 -> 1800.
# Resolution seconds: 7200 14400 3600 3600 10800 -> mean 7920, p90 rank 5 -> 14400.
KPIS = {
    "complaint_on_time_rate": ("11/14", 11 / 14, False),
    "complaint_on_time_rate.first_response": ("6/7", 6 / 7, False),
    "complaint_on_time_rate.resolution": ("5/7", 5 / 7, False),
    "resolution_rate": ("5/7", 5 / 7, None),
    "reopen_rate": ("1/6", 1 / 6, None),
    "escalation_rate_l1": ("0/7", 0.0, None),
    "escalation_rate_l2": ("0/7", 0.0, None),
    "escalation_rate_l3": ("0/7", 0.0, None),
    "first_response_time_avg": ("n=7", 4500 / 7, None),
    "first_response_time_p90": ("n=7", 1800.0, None),
    "resolution_time_avg": ("n=5", 7920.0, None),
    "resolution_time_p90": ("n=5", 14400.0, None),
}


def _kpis(rows: list[dict]) -> dict[str, tuple]:
    return {r["kpi"]: (r["basis"], pytest.approx(r["value"]), r["meets_target"]) for r in rows}


def _artifacts(flow_run_id) -> dict[str, object]:  # type: ignore[no-untyped-def]
    async def read() -> dict[str, object]:
        async with get_client() as client:
            # Every field given: with FastAPI 0.154 the Prefect 3.8.8 server refuses the
            # nulls the client sends for the ones left out (422).
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
                flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(), limit=50,
                sort=ArtifactSort.KEY_ASC)
        return {a.key: a.data for a in found if a.key}
    return asyncio.run(read())


def test_the_weekly_review_gives_the_hand_computed_tables_as_artifacts_and_json(
        make_runtime, clock):
    rt = make_runtime()
    c = _seed(rt, clock)
    clock.set(MONDAY_0900)
    state = asyncio.run(periodic_review(review=REVIEW, return_state=True))
    outcome = state.result()
    assert outcome["created"] is True and outcome["status"] == "succeeded"
    [run] = runs(rt, REVIEW)
    assert outcome["published"] == [run.id] and run.published_at == MONDAY_0900
    assert (run.period_start, run.period_end) == (shanghai(2026, 11, 16), MONDAY_0900 -
                                                  timedelta(hours=9))

    recurrence = [
        {"customer_ref": "cust-1", "category": "delivery", "cases": 2,
         "case_ids": [c["w1"], c["w2"]]},
        {"customer_ref": "cust-2", "category": "billing", "cases": 2,
         "case_ids": [c["w3"], c["w5"]]}]

    # As Prefect artifacts of the flow run.
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert set(artifacts) == {REVIEW, f"{REVIEW}-pareto", f"{REVIEW}-recurrence",
                              f"{REVIEW}-kpis"}
    assert json.loads(artifacts[f"{REVIEW}-pareto"]) == PARETO  # type: ignore[arg-type]
    assert _kpis(json.loads(artifacts[f"{REVIEW}-kpis"])) == KPIS  # type: ignore[arg-type]
    assert [{k: r[k] for k in ("customer_ref", "category", "cases")} for r in
            json.loads(artifacts[f"{REVIEW}-recurrence"])] == [  # type: ignore[arg-type]
        {k: r[k] for k in ("customer_ref", "category", "cases")} for r in recurrence]
    markdown = str(artifacts[REVIEW])
    # Simplified Chinese first, English beside: title, period, summary lines, headings.
    assert markdown.startswith("# 每周投诉类别回顾 / Weekly complaint-category review\n")
    assert "周期：2026年11月16日 – 22日（Asia/Shanghai）；计算于 2026-11-23 09:00 (UTC+08:00)。" \
        in markdown.replace("\u2009", " ")
    assert "Period: Nov 16 – 22, 2026 (Asia/Shanghai)" in markdown.replace("\u2009", " ")
    assert ("- 投诉准时率 78.6%（11/14），目标 95%。\n"
            "  Complaint on-time rate 78.6% (11/14), target 95%.") in markdown
    assert "| 类别 / category | 件数 / cases | 占比 / share | 累计占比 / cumulative share |" \
        in markdown
    assert "| delivery | 4 | 57.1% | 57.1% |" in markdown
    assert "| 投诉准时率（首次响应） | 比例 | 85.7% | 6/7 | 95.0% | 否 |" in markdown
    assert "## billing 团队 / Team billing" in markdown
    assert "## complaints 团队 / Team complaints" in markdown
    # No code names: KPIs, tables and columns are named, never written as keys.
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", markdown), markdown

    # Through the API, the same figures.
    client = TestClient(create_app(manage_runtime=False),
                        headers=bearer(issue_key(rt, "manager")))
    latest = client.get(f"/reports/reviews/{REVIEW}/latest")
    assert latest.status_code == 200, latest.text
    result = latest.json()["result"]
    assert result["tables"]["pareto"] == PARETO
    assert _kpis(result["tables"]["kpis"]) == KPIS
    assert [{k: r[k] for k in recurrence[0]} for r in result["tables"]["recurrence"]] \
        == recurrence
    assert result["recurrence"] == {"cases": 7, "recurring_customers": 2, "repeat_cases": 2,
                                    "repeat_share": 2 / 7}
    # Per team: complaints 8/10 (w2 first response, w6 resolution missed); billing 3/4.
    team_rates = {team: section["tables"]["kpis"][0]["basis"]
                  for team, section in result["teams"].items()}
    assert team_rates == {"billing": "3/4", "complaints": "8/10"}

    # 11/14 is below the 95% target: one finding, linked to the run and the late cases.
    [finding] = findings(rt)
    assert (finding.kpi, finding.review_run_id, finding.case_ids) == (
        "complaint_on_time_rate", run.id, sorted([c["w2"], c["w3"], c["w6"]]))
    assert result["findings"] == [finding.id]

    # A re-run of the same period changes nothing and publishes nothing again.
    clock.advance(timedelta(hours=1))
    again = asyncio.run(periodic_review(review=REVIEW))
    assert (again["created"], again["run_id"], again["published"]) == (False, run.id, [])
    assert len(runs(rt, REVIEW)) == 1 and len(findings(rt)) == 1


def test_the_monthly_satisfaction_review_is_published_with_its_by_team_table(
        make_runtime, clock):
    rt = make_runtime()
    clock.set(shanghai(2026, 12, 1, 9, 0))
    state = asyncio.run(periodic_review(review="monthly-satisfaction-review",
                                        return_state=True))
    outcome = state.result()
    [run] = runs(rt, "monthly-satisfaction-review")
    assert outcome["published"] == [run.id] and run.published_at == clock.now()
    artifacts = _artifacts(state.state_details.flow_run_id)
    # Prefect refused the key `...-by_team` and every retry wrote the report again.
    assert {"monthly-satisfaction-review", "monthly-satisfaction-review-by-team",
            "monthly-satisfaction-review-kpis"} <= set(artifacts)
    assert set(run.published_artifacts) == set(artifacts)
