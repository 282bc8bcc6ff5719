"""What-if replay against a month of complaints recorded through the real commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import core.whatif
from core.policy_loader import build_calendars, load_policies
from core.whatif import Period, ReplayWorkers, recorded_cases, what_if, what_if_in_processes
from domain.whatif.history import RecordedCase
from domain.whatif.outcome import Verdict
from domain.whatif.replay import replay
from domain.whatif.report import as_json
from engine.db import migrate
from engine.store import CASES, CLOCKS, EVENTS, TIMERS
from tests.conftest import build_runtime
from tests.store.whatif_helpers import generate_month
from tests.support import SHIPPED_POLICIES, write_policies


@pytest.fixture
def month(make_runtime, clock):  # type: ignore[no-untyped-def]
    rt = make_runtime()
    ids, start, now = generate_month(rt, clock, cases=42)
    return rt, ids, Period(start, start + timedelta(days=31)), now


def _recorded(rt, period, now) -> list[RecordedCase]:  # type: ignore[no-untyped-def]
    with rt.engine.connect() as db:
        found = list(recorded_cases(db, period, as_of=now))
    assert all(isinstance(case, RecordedCase) for case in found)
    return found  # type: ignore[return-value]


def test_the_unchanged_replay_reproduces_every_recorded_outcome(month):
    rt, ids, period, now = month
    cases = _recorded(rt, period, now)
    assert [case.id for case in cases] == sorted(ids)
    for case in cases:
        assert replay(case, rt.policies, rt.calendars, until=now) == case.outcome, case.id
    # The month holds what the replay must get right: breaches, pauses, escalations
    # to every level, acknowledged ladders, reopenings, auto-closes and withdrawals.
    outcomes = [case.outcome for case in cases]
    assert any(Verdict.missed in o.clocks.values() for o in outcomes)
    assert {r.level for o in outcomes for r in o.rungs} == {0, 1, 2, 3}
    events = {e.type for case in cases for e in case.events}
    assert {"wait_on_customer", "reject", "acknowledge_escalation", "withdraw",
            "reassign", "change_priority"} <= events
    assert {o.stage for o in outcomes} >= {"closed", "in_progress", "assigned"}


def test_a_longer_first_response_target_changes_breaches_and_rungs(month, tmp_path):
    rt, ids, period, now = month
    longer = write_policies(tmp_path / "candidate", complaint={"clocks": {
        "first_response": {"calendar": "24x7", "targets": {
            "urgent": "PT10M", "ordinary": "PT90M", "routine": "PT2H", "recovery": "PT4H"}},
        "resolution": {"calendar": "24x7", "targets": {
            "urgent": "PT4H", "ordinary": "PT24H", "routine": "PT72H", "recovery": "PT24H"}}}})
    candidate = load_policies(longer)
    with rt.engine.connect() as db:
        report = what_if(db, period, candidate=candidate, calendars=build_calendars(candidate),
                         as_of=now)
        again = what_if(db, period, candidate=candidate, calendars=build_calendars(candidate),
                        as_of=now)
    assert as_json(again) == as_json(report)  # deterministic
    recorded, replayed = report.recorded.on_time, report.candidate.on_time
    assert replayed["first_response"].met > recorded["first_response"].met
    assert report.candidate.breaches < report.recorded.breaches
    assert sum(report.candidate.rungs_by_level.values()) < \
        sum(report.recorded.rungs_by_level.values())
    assert report.changes and {c.case_id for c in report.changes} <= set(ids)
    # An acknowledgement of a ladder that no longer fires is skipped, and said so.
    assert report.candidate.skipped_events > 0
    assert report.recorded.cases == report.candidate.cases == len(ids)


def test_the_unchanged_report_shows_no_change_and_writes_nothing(month):
    rt, ids, period, now = month

    def counts() -> list[int]:
        with rt.engine.connect() as db:
            return [db.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (CASES, CLOCKS, EVENTS, TIMERS)] + [
                db.execute(select(func.sum(CASES.c.version))).scalar_one()]

    before = counts()
    with rt.engine.connect() as db:
        report = what_if(db, period, candidate=rt.policies, calendars=rt.calendars, as_of=now)
    assert report.changes == ()
    assert report.candidate == report.recorded
    assert counts() == before


def test_the_period_and_teams_choose_the_cases(month):
    rt, ids, period, now = month
    billing = Period(period.start, period.end, frozenset({"billing"}))
    with rt.engine.connect() as db:
        teams = {c.team for c in recorded_cases(db, billing, as_of=now)
                 if isinstance(c, RecordedCase)}
        early = list(recorded_cases(db, Period(period.start, period.start + timedelta(days=1)),
                                    as_of=now))
    assert teams == {"billing"}
    assert len(early) < len(ids)


def test_read_in_small_chunks_the_report_is_the_one_read_at_once(month, monkeypatch, tmp_path):
    rt, ids, period, now = month
    longer = load_policies(write_policies(tmp_path / "candidate", complaint={"clocks": {
        "first_response": {"calendar": "24x7", "targets": {
            "urgent": "PT10M", "ordinary": "PT90M", "routine": "PT2H", "recovery": "PT4H"}}}}))

    def report() -> dict:  # type: ignore[type-arg]
        with rt.engine.connect() as db:
            return as_json(what_if(db, period, candidate=longer,
                                   calendars=build_calendars(longer), as_of=now))

    monkeypatch.setattr(core.whatif, "CHUNK", len(ids) + 1)
    at_once = report()
    monkeypatch.setattr(core.whatif, "CHUNK", 5)  # chunk ends fall inside the month
    assert report() == at_once
    assert at_once["changed_cases"] > 0 and at_once["recorded"]["cases"] == len(ids)


def test_split_over_processes_the_report_is_the_one_process_s(month, tmp_path):
    rt, ids, period, now = month
    # Business-calendar arithmetic on both clocks, so that shares disagree if any is off.
    candidate_dir = write_policies(tmp_path / "candidate", complaint={"clocks": {
        "first_response": {"calendar": "cn-working-hours", "targets": {
            "urgent": "PT10M", "ordinary": "PT30M", "routine": "PT2H", "recovery": "PT4H"}},
        "resolution": {"calendar": "cn-working-hours", "targets": {
            "urgent": "PT4H", "ordinary": "PT24H", "routine": "PT72H", "recovery": "PT24H"}}}})
    candidate = load_policies(candidate_dir)
    files = {path.name: path.read_text(encoding="utf-8")
             for path in candidate_dir.glob("*.yaml")}
    with rt.engine.connect() as db:
        one = as_json(what_if(db, period, candidate=candidate,
                              calendars=build_calendars(candidate), as_of=now))
    url = rt.settings.resolved_database_url  # on PostgreSQL, with the test's schema
    two = what_if_in_processes(url, period, candidate=files, as_of=now, processes=2,
                               min_share=1)
    assert as_json(two) == one
    assert one["changed_cases"] > 0 and one["recorded"]["cases"] == len(ids)
    # Too few complaints for a process each: replayed here, the same report.
    here = what_if_in_processes(url, period, candidate=files, as_of=now, processes=2)
    assert as_json(here) == one


def test_a_server_on_an_in_memory_store_replays_in_its_own_thread(clock, tmp_path):
    # No other process can open it: a replay process would find an empty database.
    rt = build_runtime(("sqlite:///:memory:", {}), write_policies(tmp_path / "policies"),
                       clock)
    try:
        migrate(rt.engine)
        ids, start, now = generate_month(rt, clock, cases=6)
        files = {path.name: path.read_text(encoding="utf-8")
                 for path in SHIPPED_POLICIES.glob("*.yaml")}
        report = ReplayWorkers().run(rt.engine, Period(start, start + timedelta(days=31)),
                                     candidate=files, as_of=now)
    finally:
        rt.engine.dispose()
    assert report.recorded.cases == len(ids) > 0 and report.changes == ()
