"""Review runs on SQLite and PostgreSQL: once per period, missed slots, findings, failures.

Times are Shanghai local. 16 November 2026 is a Monday. The daily SLA digest runs at
09:00 and covers the day before; the weekly review runs Mondays at 09:00 and covers
the week (Monday to Monday) before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from core.runtime import Runtime
from core.scheduler import SweepScheduler
from domain.reviews.model import Trigger
from domain.reviews.policy import Computes
from processes.reviews import runs as review_runs
from processes.reviews.runners import InlineReviews
from processes.reviews.runs import run_due_review
from processes.reviews.schedule import ReviewTicker
from tests.store.helpers import open_complaint, send
from tests.store.review_helpers import findings, reviews_runtime, runs
from tests.support import shanghai

DIGEST, WEEKLY, GREETINGS = "daily-sla-digest", "weekly-complaint-review", "daily-greetings"


@pytest.fixture
def rt(database, clock, tmp_path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    runtime = reviews_runtime(database, clock, tmp_path / "policies", DIGEST, WEEKLY,
                              GREETINGS)
    yield runtime
    runtime.engine.dispose()


def _start(rt: Runtime) -> ReviewTicker:
    """A service start: a new ticker, as the embedded scheduler makes one at start-up."""
    return ReviewTicker(rt, InlineReviews(rt))


def _periods(rt: Runtime, review: str) -> list[tuple[object, object, object]]:
    return [(r.slot_at, r.period_start, r.period_end) for r in runs(rt, review)]


def test_slots_missed_while_down_run_once_at_restart_for_the_latest_period(rt, clock):
    clock.set(shanghai(2026, 11, 16, 8, 59))
    ticker = _start(rt)
    clock.set(shanghai(2026, 11, 16, 9, 0))
    assert DIGEST in ticker.tick()
    clock.advance(timedelta(seconds=30))
    assert ticker.tick() == []  # nothing new: the slot's period has its run
    assert _periods(rt, DIGEST) == [
        (shanghai(2026, 11, 16, 9), shanghai(2026, 11, 15), shanghai(2026, 11, 16))]
    # Down from Monday 09:01 to Thursday 10:00: the slots of Tuesday, Wednesday and
    # Thursday pass unseen. The restart runs the digest once, for Wednesday.
    clock.set(shanghai(2026, 11, 19, 10, 0))
    restarted = _start(rt)
    assert DIGEST in restarted.tick()
    assert restarted.tick() == []
    assert _periods(rt, DIGEST)[1:] == [
        (shanghai(2026, 11, 19, 9), shanghai(2026, 11, 18), shanghai(2026, 11, 19))]
    # Running again, the next slot is on time (with Friday's 08:00 greetings).
    clock.set(shanghai(2026, 11, 20, 9, 0, 1))
    assert restarted.tick() == [GREETINGS, DIGEST]
    assert [r.period_start for r in runs(rt, DIGEST)] == [
        shanghai(2026, 11, 15), shanghai(2026, 11, 18), shanghai(2026, 11, 19)]
    assert all(r.status == "succeeded" and r.trigger == "schedule" for r in runs(rt))


def test_a_first_start_catches_up_nothing(rt, clock):
    clock.set(shanghai(2026, 11, 19, 10, 0))
    ticker = _start(rt)
    assert ticker.tick() == []
    assert runs(rt) == []
    clock.set(shanghai(2026, 11, 20, 9, 0))  # the first slots after the start run
    assert ticker.tick() == [GREETINGS, DIGEST]


def _seed_week(rt: Runtime, clock) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Two complaints on Wednesday 18 Nov: one answered late, both resolved in time."""
    clock.set(shanghai(2026, 11, 18, 10, 0))
    late = open_complaint(rt, priority="ordinary", category="delivery")
    prompt = open_complaint(rt, priority="ordinary", category="delivery", ref="cust-2")
    clock.set(shanghai(2026, 11, 18, 10, 5))
    send(rt, prompt, "acknowledge")
    clock.set(shanghai(2026, 11, 18, 10, 30))  # 30 min: over the 20-minute target
    send(rt, late, "acknowledge")
    clock.set(shanghai(2026, 11, 18, 12, 0))
    send(rt, late, "resolve")
    send(rt, prompt, "resolve")
    return late, prompt


def test_a_kpi_below_target_adds_one_finding_linked_to_the_run_and_cases(rt, clock):
    late, _ = _seed_week(rt, clock)
    clock.set(shanghai(2026, 11, 23, 9, 0))
    outcome = run_due_review(rt, WEEKLY)
    assert outcome.created and outcome.run is not None and outcome.run.status == "succeeded"
    [finding] = findings(rt)
    # First response met 1 of 2, resolution 2 of 2: 3 of 4 clocks, 75% < 95%.
    assert (finding.source, finding.status, finding.kpi) == (
        "review", "open", "complaint_on_time_rate")
    assert finding.review_run_id == outcome.run.id and finding.case_ids == [late]
    assert {k: finding.figures[k] for k in ("value", "numerator", "denominator", "target")} \
        == {"value": 0.75, "numerator": 3, "denominator": 4, "target": 0.95}
    assert finding.figures["by_team"]["complaints"]["value"] == 0.75
    assert finding.figures["by_team"]["billing"] == {"value": None, "numerator": 0,
                                                     "denominator": 0}
    assert finding.title == ("投诉准时率 75.0%，低于目标 95.0% / "
                             "complaint on-time rate 75.0% below target 95.0%")
    assert finding.description.replace("\u2009", " ").startswith(
        "每周投诉类别回顾，2026年11月16日 – 22日：4 个中 3 个达标。\n"
        "Weekly complaint-category review, Nov 16 – 22, 2026: 3 of 4 met.\n"
        "首次响应和解决计时的达标占比。")
    assert finding.description.endswith("A clock stopped by a withdrawal counts like any "
                                        "stopped clock.")
    assert outcome.run.result["findings"] == [finding.id]
    assert finding.created_by == "system:reviews"


def test_a_kpi_that_meets_its_target_adds_no_finding(rt, clock):
    clock.set(shanghai(2026, 11, 18, 10, 0))
    case_id = open_complaint(rt, priority="ordinary", category="delivery")
    clock.advance(timedelta(minutes=5))
    send(rt, case_id, "resolve")
    clock.set(shanghai(2026, 11, 23, 9, 0))
    outcome = run_due_review(rt, WEEKLY)
    assert outcome.run is not None and outcome.run.result["findings"] == []
    assert findings(rt) == []
    # An empty week has no rate at all: no finding either, and no invented number.
    clock.set(shanghai(2026, 11, 30, 9, 0))
    empty = run_due_review(rt, WEEKLY).run
    assert empty is not None and empty.result["tables"]["kpis"][0]["value"] is None
    assert findings(rt) == []


def test_the_same_period_run_twice_is_one_run_with_one_finding(rt, clock):
    _seed_week(rt, clock)
    clock.set(shanghai(2026, 11, 23, 9, 0))
    first = run_due_review(rt, WEEKLY)
    clock.set(shanghai(2026, 11, 23, 15, 0))  # later the same week: the same period is due
    again = run_due_review(rt, WEEKLY)
    manual = run_due_review(rt, WEEKLY, trigger=Trigger.manual)
    assert _start(rt).tick() == []  # another instance starting now finds nothing to do
    assert first.created and not again.created and not manual.created
    assert first.run is not None and again.run is not None and manual.run is not None
    assert first.run.id == again.run.id == manual.run.id
    assert len(runs(rt, WEEKLY)) == 1 and len(findings(rt)) == 1


def test_a_failed_run_keeps_its_error_and_only_a_manual_trigger_retries_it(
        rt, clock, monkeypatch):
    clock.set(shanghai(2026, 11, 20, 9, 0))

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("the store went away")

    monkeypatch.setitem(review_runs.COMPUTATIONS, Computes.sla_digest, broken)
    failed = run_due_review(rt, DIGEST).run
    assert failed is not None and failed.status == "failed"
    assert failed.error == "RuntimeError: the store went away" and failed.result == {}
    monkeypatch.undo()
    clock.advance(timedelta(minutes=1))
    scheduled = run_due_review(rt, DIGEST)
    assert not scheduled.created and scheduled.run is not None
    assert scheduled.run.status == "failed"
    retried = run_due_review(rt, DIGEST, trigger=Trigger.manual)
    assert retried.created and retried.run is not None
    assert (retried.run.id, retried.run.status, retried.run.attempts, retried.run.trigger,
            retried.run.error) == (failed.id, "succeeded", 2, "manual", None)


def test_a_failed_scheduled_run_is_tried_again_later_a_few_times(rt, clock, monkeypatch):
    clock.set(shanghai(2026, 11, 20, 9, 0))
    attempts = []

    def flaky(ctx):  # type: ignore[no-untyped-def]
        attempts.append(clock.now())
        raise RuntimeError("database is locked")

    monkeypatch.setitem(review_runs.COMPUTATIONS, Computes.sla_digest, flaky)
    ticker = ReviewTicker(rt, InlineReviews(rt))
    assert run_due_review(rt, DIGEST).run.status == "failed"  # type: ignore[union-attr]
    for minutes in range(1, 40):  # pauses of 5 then 10 minutes between the tries
        clock.set(shanghai(2026, 11, 20, 9, minutes))
        ticker.tick()
    assert attempts == [shanghai(2026, 11, 20, 9, m) for m in (0, 5, 15)]
    [run] = runs(rt, DIGEST)
    assert (run.status, run.attempts) == ("failed", 3)  # now it waits for a person
    monkeypatch.undo()
    retried = run_due_review(rt, DIGEST, trigger=Trigger.manual)
    assert retried.run is not None and retried.run.status == "succeeded"


def test_a_greetings_slot_missed_by_more_than_catch_up_within_is_skipped(rt, clock):
    clock.set(shanghai(2026, 11, 20, 21, 0))  # 13 h after the 08:00 slot; 12 h allowed
    skipped = run_due_review(rt, GREETINGS)
    assert skipped.run is None and skipped.skipped == "missed by more than catch_up_within"
    clock.set(shanghai(2026, 11, 21, 19, 59))  # 11 h 59 min after the next slot
    assert run_due_review(rt, GREETINGS).created
    assert [r.period_start for r in runs(rt, GREETINGS)] == [shanghai(2026, 11, 21)]
    clock.set(shanghai(2026, 11, 22, 7, 0))  # too late now, but the period has its run
    done = run_due_review(rt, GREETINGS)
    assert (done.created, done.skipped) == (False, None) and done.run is not None


def test_an_unknown_review_is_refused(rt):
    with pytest.raises(review_runs.ReviewNotFound):
        run_due_review(rt, "yearly-party")


def test_the_embedded_scheduler_ticks_the_reviews_unless_prefect_runs_them(rt):
    embedded = SweepScheduler(rt)
    # The sweeper's ticks have a thread of their own (core.scheduler).
    assert {job.id for job in embedded.scheduler.get_jobs()} == {
        "notifications", "reviews", "leases"}
    assert embedded.reviews is not None and isinstance(embedded.reviews.runner, InlineReviews)
    server_mode = replace(rt, settings=rt.settings.model_copy(
        update={"review_scheduler_enabled": False}))
    server_jobs = {job.id for job in SweepScheduler(server_mode).scheduler.get_jobs()}
    assert server_jobs == {"notifications", "leases"}


def test_ticks_between_slots_do_no_cron_arithmetic(rt, clock, monkeypatch):
    from processes.reviews import schedule as review_schedule

    clock.set(shanghai(2026, 11, 16, 9, 0, 1))
    ticker = _start(rt)
    computed: list[str] = []
    real_due_at = review_schedule.due_at
    monkeypatch.setattr(review_schedule, "due_at",
                        lambda review, now: computed.append(review.cron) or real_due_at(
                            review, now))
    ticker.tick()
    assert len(computed) == 3  # one per review, at the first tick
    for _ in range(30):
        clock.advance(timedelta(seconds=1))
        ticker.tick()
    assert len(computed) == 3
    clock.set(shanghai(2026, 11, 17, 9, 0))  # past the daily slots, not the weekly one
    assert ticker.tick() == [GREETINGS, DIGEST]
    assert computed[3:] == ["0 8 * * *", "0 9 * * *"]


class _UnpublishedRuns(InlineReviews):
    """A runner that claims to publish but whose publishing never succeeds."""

    publishes = True

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.handed: list[str] = []

    def review(self, name: str) -> None:
        self.handed.append(name)
        super().review(name)


def test_publishing_that_fails_is_retried_after_a_pause_not_every_tick(rt, clock):
    clock.set(shanghai(2026, 11, 17, 8, 59))
    runner = _UnpublishedRuns(rt)
    ticker = ReviewTicker(rt, runner)
    clock.set(shanghai(2026, 11, 17, 9, 0))
    ticker.tick()
    assert runner.handed == [DIGEST]  # the run, which stays unpublished
    for _ in range(10):
        clock.advance(timedelta(seconds=1))
        ticker.tick()
    assert runner.handed == [DIGEST]
    clock.advance(timedelta(minutes=5))
    ticker.tick()
    assert runner.handed == [DIGEST, DIGEST]  # one more try to publish, after the pause
