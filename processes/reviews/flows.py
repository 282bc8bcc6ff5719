"""A periodic review as a flow: run the due period once, then publish its report.

The same flow runs from the embedded scheduler and, in the server mode, from the
`review-*` deployments that `processes.reviews.deployments` writes into prefect.yaml.
"""

from typing import Any

from prefect import flow, tags

from processes.reviews.tasks import publish_review_task, run_review_task


@flow(name="periodic-review", flow_run_name="review-{review}")
async def periodic_review(review: str) -> dict[str, Any]:
    """Run `review` for its latest due period (if not done) and publish unpublished runs."""
    with tags("reviews", review):
        outcome = run_review_task(review)
        outcome["published"] = await publish_review_task(review)
    return outcome
