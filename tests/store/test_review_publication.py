"""Publishing review runs as artifacts, on SQLite and PostgreSQL: valid keys for every
review of the registry, failed tries spaced out and bounded, and no artifact twice.

Times are Shanghai local; the daily SLA digest runs at 09:00 (artifacts: its markdown
report, then the tables `teams`, `breaches` and `at-risk`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prefect.client.schemas.actions import ArtifactCreate

from api.app import create_app
from core.runtime import Runtime
from domain.reviews.model import PUBLISH_ATTEMPTS
from domain.reviews.reports import Artifact, artifact_key
from processes.reviews.publish import publish_due_runs
from processes.reviews.runners import InlineReviews
from processes.reviews.runs import run_due_review
from processes.reviews.schedule import ReviewTicker, next_slot
from tests.store.review_helpers import reviews_runtime, runs
from tests.support import bearer, issue_key, shanghai

DIGEST = "daily-sla-digest"
BREACHES = f"{DIGEST}-breaches"


class Writer:
    """Writes artifacts as Prefect's client would accept them; fails on `fail_on` keys
    the first `failures` times they are written."""

    def __init__(self, clock, fail_on: str | None = None,  # type: ignore[no-untyped-def]
                 failures: int = 0) -> None:
        self.clock, self.fail_on, self.failures = clock, fail_on, failures
        self.written: list[str] = []
        self.tries: list[datetime] = []

    async def __call__(self, artifact: Artifact) -> None:
        # Prefect's own schema for a new artifact: it refuses an invalid key.
        ArtifactCreate(key=artifact.key, type=artifact.kind, data=artifact.content)
        if artifact.key == self.fail_on and self.failures > 0:
            self.failures -= 1
            self.tries.append(self.clock.now())
            raise RuntimeError("the Prefect API refused it")
        self.written.append(artifact.key)


class PublishingReviews(InlineReviews):
    """Runs reviews in this thread and publishes their runs through `writer`."""

    publishes = True

    def __init__(self, runtime: Runtime, writer: Writer) -> None:
        super().__init__(runtime)
        self.writer = writer

    def review(self, name: str) -> None:
        super().review(name)
        asyncio.run(publish_due_runs(self.runtime, name, self.writer))


@pytest.fixture
def rt(database, clock, tmp_path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    runtime = reviews_runtime(database, clock, tmp_path / "policies")  # the whole registry
    yield runtime
    runtime.engine.dispose()


def test_every_review_in_the_registry_publishes_artifacts_with_valid_keys(rt, clock):
    writer = Writer(clock)
    assert len(rt.policies.reviews) == 6
    for name, review in rt.policies.reviews.items():
        slot = next_slot(review, shanghai(2026, 11, 30, 12, 0))
        assert slot is not None
        clock.set(slot)
        run = run_due_review(rt, name).run
        assert run is not None and run.status == "succeeded", (name, run)
        published = asyncio.run(publish_due_runs(rt, name, writer))
        assert published == [run.id]
    assert len(writer.written) == len(set(writer.written))  # one key per artifact
    # The satisfaction review's `by_team` table, which Prefect refused as keyed before.
    assert "monthly-satisfaction-review-by-team" in writer.written
    assert {r.review for r in runs(rt) if r.published_at is not None} == set(
        rt.policies.reviews)


@pytest.mark.parametrize("parts,key", [
    (("monthly-satisfaction-review", "by_team"), "monthly-satisfaction-review-by-team"),
    (("Weekly Review", "at-risk"), "weekly-review-at-risk"),
    (("r", "__odd  name__", ""), "r-odd-name"),
])
def test_an_artifact_key_is_valid_whatever_its_parts(parts, key):
    assert artifact_key(*parts) == key
    ArtifactCreate(key=key)


def test_a_failing_publish_backs_off_and_stops_and_says_why(rt, clock):
    writer = Writer(clock, fail_on=BREACHES, failures=100)
    clock.set(shanghai(2026, 11, 17, 8, 59))
    ticker = ReviewTicker(rt, PublishingReviews(rt, writer))
    for minute in range(0, 4 * 60):  # ticks every minute, from 09:00 to 12:59
        clock.set(shanghai(2026, 11, 17, 9, 0) + timedelta(minutes=minute))
        ticker.tick()
    # Tries at the slot, then after 5, 10, 20 and 40 minutes; then none.
    assert writer.tries == [shanghai(2026, 11, 17, 9, 0) + timedelta(minutes=m)
                            for m in (0, 5, 15, 35, 75)]
    assert len(writer.tries) == PUBLISH_ATTEMPTS
    # Each artifact before the refused one was written once, not once per try.
    assert Counter(writer.written) == {DIGEST: 1, f"{DIGEST}-teams": 1}
    [run] = runs(rt, DIGEST)
    assert (run.published_at, run.publish_after, run.publish_attempts) == (None, None, 5)
    assert run.published_artifacts == [DIGEST, f"{DIGEST}-teams"]
    # Readers of the reports see it, and why.
    client = TestClient(create_app(manage_runtime=False),
                        headers=bearer(issue_key(rt, "manager")))
    [listed] = client.get("/reports/runs", params={"review": DIGEST}).json()["items"]
    assert (listed["published_at"], listed["publish_attempts"], listed["publish_after"]) == (
        None, 5, None)
    assert listed["publish_error"] == (
        f"artifact {BREACHES}: RuntimeError: the Prefect API refused it")


def test_a_retry_writes_only_the_artifacts_an_earlier_try_did_not(rt, clock):
    writer = Writer(clock, fail_on=BREACHES, failures=1)
    clock.set(shanghai(2026, 11, 17, 8, 59))
    ticker = ReviewTicker(rt, PublishingReviews(rt, writer))
    for minute in range(0, 10):
        clock.set(shanghai(2026, 11, 17, 9, minute))
        ticker.tick()
    assert writer.tries == [shanghai(2026, 11, 17, 9, 0)]
    # The retry at 09:05 wrote the rest; each artifact exists once.
    assert Counter(writer.written) == {DIGEST: 1, f"{DIGEST}-teams": 1, BREACHES: 1,
                                       f"{DIGEST}-at-risk": 1}
    [run] = runs(rt, DIGEST)
    assert run.published_at == shanghai(2026, 11, 17, 9, 5)
    assert (run.publish_attempts, run.publish_after, run.publish_error) == (1, None, None)
    assert run.published_artifacts == [DIGEST, f"{DIGEST}-teams", BREACHES,
                                       f"{DIGEST}-at-risk"]
