"""How the review ticker hands a due review on: inline, or as a Prefect flow run."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from engine.flow_runs import flow_tags
from processes.reviews.flows import periodic_review
from processes.reviews.runs import run_due_review

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.reviews")


class InlineReviews:
    """Run reviews in this thread, without Prefect: no artifacts (tests, no Prefect API)."""

    publishes = False

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def review(self, name: str) -> None:
        """Run the review in this thread."""
        run_due_review(self.runtime, name)


class PrefectReviews:
    """Run each review as a Prefect flow run, which also publishes its artifacts.

    Until the Prefect API answers (`ready`), or when a flow run fails, the review runs
    inline, and its artifacts are published by a later flow run.
    """

    def __init__(self, runtime: Runtime, ready: threading.Event) -> None:
        self.inline, self.ready = InlineReviews(runtime), ready

    @property
    def publishes(self) -> bool:
        """Whether the Prefect API answers, so flow runs can publish artifacts."""
        return self.ready.is_set()

    def review(self, name: str) -> None:
        """Run the review as a flow run, or inline while Prefect cannot."""
        if self.ready.is_set():
            try:
                with flow_tags(self.inline.runtime.settings.instance_id, "reviews", name):
                    asyncio.run(periodic_review(review=name))
                return
            except Exception:
                log.exception("flow run of review %s failed; running it inline", name)
        self.inline.review(name)
