"""Run a periodic review and publish its runs as Prefect artifacts."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from core import runtime
from domain.reviews.reports import Artifact
from processes.reviews.publish import publish_due_runs
from processes.reviews.runs import run_due_review


@task(name="run-review")
def run_review_task(review: str) -> dict[str, Any]:
    """Run the review for its latest due period, unless that period has its run."""
    outcome = run_due_review(runtime.for_flow_run(), review)
    run = outcome.run
    return {"run_id": run.id if run else None, "created": outcome.created,
            "status": run.status if run else None, "skipped": outcome.skipped}


@task(name="publish-review")
async def publish_review_task(review: str) -> list[int]:
    """Publish the review's succeeded runs whose try is due; return the ids published.

    No task retries: `processes.reviews.publish` spaces and bounds the tries, and a retry
    writes only the artifacts an earlier try did not.
    """
    return await publish_due_runs(runtime.for_flow_run(), review, write_artifact)


async def write_artifact(artifact: Artifact) -> None:
    """Create one Prefect artifact: the markdown report or a table."""
    if artifact.kind == "markdown":
        await acreate_markdown_artifact(markdown=str(artifact.content), key=artifact.key,
                                        description=artifact.description)
    else:
        assert isinstance(artifact.content, list), "a table artifact holds its rows"
        await acreate_table_artifact(table=artifact.content, key=artifact.key,
                                     description=artifact.description)
