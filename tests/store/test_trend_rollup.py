"""The trends' roll-up of closed complaints (processes/reviews/trend_rollup.py): kept in
the closing transaction, it gives the trends exactly what counting every case gives."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from core import cases as cases_module
from core.runtime import Runtime
from domain.reviews.policy import PeriodKind
from engine.clock import FrozenClock
from engine.models import Case, ClosedComplaintHour
from processes.reviews import trend_rollup, trends
from tests.conftest import shanghai, sweep
from tests.store.helpers import open_complaint, send
from tests.store.migration_helpers import (
    alembic_store,
    assert_at_head_matching_models,
    downgrade_to,
    upgraded_to,
)

TEAMS = (None, ["complaints"], ["billing"], ["complaints", "billing"])


def _counted_live(rt: Runtime, kind: PeriodKind, count: int, zone: str,
                  teams: list[str] | None) -> list[trend_rollup.Figures]:
    """The trend's figures counted from every case and clock, bucket by bucket."""
    now = rt.clock.now()
    with Session(rt.engine) as session:
        return [trends._counted(session, now, start, end, teams)
                for start, end in trends.buckets(now, kind, count, zone)]


def _trend(rt: Runtime, kind: PeriodKind, count: int, zone: str,
           teams: list[str] | None) -> list[trend_rollup.Figures]:
    """The trend's figures as `trends.trend` gives them."""
    with Session(rt.engine) as session:
        points = trends.trend(session, now=rt.clock.now(), kind=kind, count=count,
                              timezone=zone, teams=teams)
    return [trend_rollup.Figures(p.opened, p.on_time.numerator, p.on_time.denominator,
                                 p.complaints_on_time.on_time, p.complaints_on_time.decided)
            for p in points]


def _rows(rt: Runtime) -> list[tuple[datetime, str, int, int, int, int, int]]:
    with Session(rt.engine) as session:
        return [(r.hour, r.team, r.opened, r.clocks_met, r.clocks_decided, r.cases_on_time,
                 r.cases_decided) for r in session.exec(
                    select(ClosedComplaintHour).order_by(col(ClosedComplaintHour.hour),
                                                         col(ClosedComplaintHour.team)))]


def _a_fortnight(rt: Runtime, clock: FrozenClock) -> dict[str, int]:
    """Complaints of two teams over two weeks: closed on time, late, withdrawn, closed by
    the auto-close timer, reopened, and some left open, on time or breached."""
    cases: dict[str, int] = {}
    for day in range(6, 13):
        clock.set(shanghai(2026, 11, day, 9, 40 + day))
        cases[f"ok{day}"] = open_complaint(rt, ref=f"a{day}")
        cases[f"bill{day}"] = open_complaint(rt, ref=f"b{day}", category="billing")
        clock.advance(timedelta(minutes=5))
        send(rt, cases[f"ok{day}"], "acknowledge")
        if day % 2:
            send(rt, cases[f"bill{day}"], "acknowledge")
        clock.advance(timedelta(hours=day % 3 * 14))  # some resolutions late
        send(rt, cases[f"ok{day}"], "resolve")
        if day % 3 == 0:
            send(rt, cases[f"ok{day}"], "reject")  # reopened: its resolution runs again
            send(rt, cases[f"ok{day}"], "resolve")
        if day % 2:
            send(rt, cases[f"ok{day}"], "confirm")
        if day == 8:
            send(rt, cases[f"bill{day}"], "withdraw")
        sweep(rt)
    clock.set(shanghai(2026, 11, 16, 9, 0))
    sweep(rt)  # the auto-close of the silent resolved ones, and the breaches of the rest
    for day in (16, 17):
        clock.set(shanghai(2026, 11, day, 22, 30))  # late at night: the next day in UTC+8
        cases[f"late{day}"] = open_complaint(rt, ref=f"n{day}")
    clock.set(shanghai(2026, 11, 18, 10, 0))
    sweep(rt)
    return cases


@pytest.mark.parametrize("kind,count", [(PeriodKind.day, 14), (PeriodKind.week, 3),
                                        (PeriodKind.month, 2)])
def test_a_trend_from_the_roll_up_equals_one_counted_from_every_case(
        make_runtime, clock, kind, count):
    rt = make_runtime()
    cases = _a_fortnight(rt, clock)
    with Session(rt.engine) as session:
        closed = session.exec(select(Case.id).where(col(Case.closed_at).is_not(None))).all()
    assert 4 <= len(closed) < len(cases)  # both kinds are counted
    for zone in ("Asia/Shanghai", "Europe/London", "UTC"):
        for teams in TEAMS:
            assert _trend(rt, kind, count, zone, teams) == \
                _counted_live(rt, kind, count, zone, teams), (zone, teams)
    figures = _trend(rt, kind, count, "Asia/Shanghai", None)
    assert sum(f.opened for f in figures) == len(cases)
    assert sum(f.cases_decided for f in figures) > 0


def test_the_open_complaints_are_counted_live_as_judged_by_hand(make_runtime, clock):
    """The live part alone (the open complaints), each figure worked out by hand."""
    rt = make_runtime()
    clock.set(shanghai(2026, 11, 17, 10, 0))
    late_resolution = open_complaint(rt, ref="e")  # ordinary: reply in 20 min, fix in 24 h
    clock.advance(timedelta(minutes=5))
    send(rt, late_resolution, "acknowledge")  # replied in time; its fix runs past due
    clock.set(shanghai(2026, 11, 18, 10, 0))
    on_time = open_complaint(rt, ref="a")
    not_replied = open_complaint(rt, ref="b")  # reply due at 10:20, none by 10:30
    replied_late = open_complaint(rt, ref="c")
    undecided = open_complaint(rt, ref="d", priority="routine")  # reply due at 12:00
    closed = open_complaint(rt, ref="f")  # the roll-up's, not the live part's
    clock.advance(timedelta(minutes=5))
    send(rt, on_time, "acknowledge")
    for event in ("acknowledge", "resolve", "confirm"):
        send(rt, closed, event)
    clock.set(shanghai(2026, 11, 18, 10, 25))
    send(rt, replied_late, "acknowledge")  # stopped past its target: breached
    clock.set(shanghai(2026, 11, 18, 10, 30))  # no sweep: the missed ones never swept
    assert undecided and not_replied
    now = rt.clock.now()
    spans = trends.buckets(now, PeriodKind.day, 3, "Asia/Shanghai")  # 16, 17, 18 Nov
    figures = trend_rollup.Figures
    with Session(rt.engine) as session:
        live = trends._open_by_bucket(session, now, spans, None)
        assert [live.get(i, figures()) for i in range(3)] == [
            figures(),
            # its reply met, its fix missed: decided, not on time
            figures(opened=1, clocks_met=1, clocks_decided=2, cases_on_time=0,
                    cases_decided=1),
            # on time: 1 met; not replied and replied late: 1 missed each; undecided: none
            figures(opened=4, clocks_met=1, clocks_decided=3, cases_on_time=1,
                    cases_decided=3)]
        assert trends._open_by_bucket(session, now, spans, ["complaints"]) == live
        assert all(f == figures() for f in
                   trends._open_by_bucket(session, now, spans, ["billing"]).values())
    # With the closed one from the roll-up (both its clocks met), as the trend shows it.
    assert _trend(rt, PeriodKind.day, 3, "Asia/Shanghai", None)[2] == figures(
        opened=5, clocks_met=3, clocks_decided=5, cases_on_time=2, cases_decided=4)


def test_a_rebuilt_roll_up_holds_what_the_closings_added(make_runtime, clock):
    rt = make_runtime()
    _a_fortnight(rt, clock)
    kept = _rows(rt)
    assert kept and all(row[0].minute == 0 for row in kept)
    with Session(rt.engine) as session:
        trend_rollup.rebuild(session, rt.clock.now())
        session.commit()
    assert _rows(rt) == kept


def test_a_closing_rolled_back_adds_nothing(make_runtime, clock, monkeypatch):
    rt = make_runtime()
    case_id = open_complaint(rt)
    send(rt, case_id, "acknowledge")
    send(rt, case_id, "resolve")
    kept_after_decision = cases_module.after_decision

    def fails_after(*args: object, **kwargs: object) -> None:
        kept_after_decision(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("the transaction fails after the closing was counted")

    monkeypatch.setattr(cases_module, "after_decision", fails_after)
    with pytest.raises(RuntimeError):
        send(rt, case_id, "confirm")
    assert _rows(rt) == []
    monkeypatch.setattr(cases_module, "after_decision", kept_after_decision)
    send(rt, case_id, "confirm")
    assert [row[2:] for row in _rows(rt)] == [(1, 2, 2, 1, 1)]


def test_a_timezone_off_the_whole_hour_is_counted_from_every_case(make_runtime, clock):
    rt = make_runtime()
    _a_fortnight(rt, clock)
    for zone in ("Asia/Kolkata", "Asia/Kathmandu"):
        spans = trends.buckets(rt.clock.now(), PeriodKind.day, 10, zone)
        assert not trends.on_whole_hour(spans[0][0])
        assert _trend(rt, PeriodKind.day, 10, zone, None) == \
            _counted_live(rt, PeriodKind.day, 10, zone, None)


def test_the_upgrade_counts_the_complaints_closed_before_it(make_runtime, clock, database):
    rt = make_runtime()
    _a_fortnight(rt, clock)
    kept = _rows(rt)
    rt.engine.dispose()
    with alembic_store(database, empty=False) as (engine, config):
        downgrade_to(engine, config, "0016")
        with upgraded_to(engine, config, "head"):
            pass
        assert_at_head_matching_models(engine, config)
    assert _rows(rt) == kept
