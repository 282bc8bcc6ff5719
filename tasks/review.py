"""Run a periodic review and publish its runs as Prefect artifacts."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from sqlmodel import Session, col, select

from core import runtime
from core.db import session_scope
from core.models import ReviewRun
from core.review_runs import run_due_review
from domain.review_reports import flat_rows, render_markdown
from domain.reviews import RunStatus


@task(name="run-review")
def run_review_task(review: str) -> dict[str, Any]:
    """Run the review for its latest due period, unless that period has its run."""
    outcome = run_due_review(runtime.for_flow_run(), review)
    run = outcome.run
    return {"run_id": run.id if run else None, "created": outcome.created,
            "status": run.status if run else None, "skipped": outcome.skipped}


@task(name="publish-review", retries=1, retry_delay_seconds=2)
async def publish_review_task(review: str) -> list[int]:
    """Publish every succeeded, unpublished run of the review; return their ids."""
    rt = runtime.for_flow_run()
    with Session(rt.engine) as session:
        runs = list(session.exec(select(ReviewRun).where(
            ReviewRun.review == review, ReviewRun.status == RunStatus.succeeded,
            col(ReviewRun.published_at).is_(None)).order_by(col(ReviewRun.id))))
    for run in runs:
        await publish_run(run)
        with session_scope(rt.engine) as session:
            row = session.get(ReviewRun, run.id)
            if row is not None:
                row.published_at = rt.clock.now()
                session.add(row)
    return [run.id for run in runs if run.id is not None]


async def publish_run(run: ReviewRun) -> None:
    """Publish the run's markdown report and each overall table, keyed by review."""
    period = run.result.get("period", {})
    about = f"{run.result.get('title', run.review)}, {period.get('start', '')[:10]} to " \
            f"{period.get('end', '')[:10]} (run {run.id})"
    await acreate_markdown_artifact(markdown=render_markdown(run.result), key=run.review,
                                    description=about)
    for name, rows in run.result.get("tables", {}).items():
        await acreate_table_artifact(table=flat_rows(rows), key=artifact_key(run.review, name),
                                     description=about)


def artifact_key(review: str, table: str) -> str:
    """`monthly-satisfaction-review-by-team`: Prefect's keys allow no underscores."""
    return f"{review}-{table}".replace("_", "-")
