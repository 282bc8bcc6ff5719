"""Transfers per case: counted by SQL over the filtered cases, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from core import kpis
from core.kpis import KpiFilter
from domain.kpi_definitions import DEFINITIONS
from tests.store.helpers import open_complaint, send
from tests.store.service_request_helpers import book_online


@pytest.fixture
def rt(make_runtime):  # type: ignore[no-untyped-def]
    return make_runtime()


def test_transfers_per_case_counts_hand_offs_of_the_filtered_cases(rt, clock):
    start = clock.now()
    bounced = book_online(rt, slot=None, ref="a")
    for team in ("billing", "complaints", "billing"):
        send(rt, bounced, "transfer", team=team, reason="wrong desk")
    once = book_online(rt, slot=None, ref="b", channel="phone")
    send(rt, once, "transfer", channel="store", reason="customer walked in")
    book_online(rt, slot=None, ref="c")
    open_complaint(rt, ref="d")  # another process: not counted by default
    clock.advance(timedelta(days=1))
    book_online(rt, slot=None, ref="e")  # opened after the period

    flt = KpiFilter(process="service_request", opened_from=start,
                    opened_to=start + timedelta(hours=1))
    with Session(rt.engine) as session:
        figures = kpis.transfers(session, flt)
        in_billing = kpis.transfers(session, KpiFilter(process="service_request",
                                                       team="billing"))
        everything = kpis.transfers(session, KpiFilter(process=None))
    assert (figures.cases, figures.transfers, figures.transferred_cases) == (3, 4, 2)
    assert figures.per_case == pytest.approx(4 / 3)
    assert figures.transferred_share == pytest.approx(2 / 3)
    assert (in_billing.cases, in_billing.transfers) == (1, 3)  # where it stands now
    assert (everything.cases, everything.transfers) == (5, 4)
    assert DEFINITIONS["transfers_per_case"].higher_is_better is False


def test_no_cases_have_no_figure(rt):
    with Session(rt.engine) as session:
        figures = kpis.transfers(session, KpiFilter(process="service_request"))
    assert (figures.cases, figures.per_case, figures.transferred_share) == (0, None, None)


def test_the_weekly_review_reports_hand_offs_overall_and_per_team(rt, clock):
    from processes.reviews.runs import run_due_review
    from tests.support import shanghai

    clock.set(shanghai(2026, 11, 18, 10, 0))
    bounced = book_online(rt, slot=None, ref="a")
    for team in ("billing", "complaints", "billing"):
        send(rt, bounced, "transfer", team=team, reason="wrong desk")
    book_online(rt, slot=None, ref="b")
    clock.set(shanghai(2026, 11, 23, 9, 0))
    run = run_due_review(rt, "weekly-complaint-review").run
    assert run is not None and run.status == "succeeded"
    [overall] = run.result["tables"]["handoffs"]
    assert (overall["kpi"], overall["basis"], overall["value"]) == (
        "transfers_per_case", "3/2", 1.5)
    assert overall["transferred_share"] == 0.5
    said = " ".join(run.result["summary"])
    assert "3 hand-offs over 2 service requests opened in the period (1.5 per request)" in said
    assert "本周期内新开 2 个服务请求，共 3 次转交（平均每个请求 1.5 次）" in said
    billing = run.result["teams"]["billing"]["tables"]["handoffs"][0]
    assert billing["basis"] == "3/1"  # the bounced request is with billing now
    assert run.result["teams"]["complaints"]["tables"]["handoffs"][0]["basis"] == "0/1"
