"""The compensation batch as a Prefect flow, dispatched by the sweeper from its batch
timer: chunk tasks, a progress artifact that ends at 100%, and a total at the end."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterName,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, TaskRunSort

from engine.sweeper import Sweeper
from flows.runner import PrefectRunner
from tests.store.crisis_helpers import (
    compensation_counts,
    crisis_runtime,
    link_last_day,
    raise_crisis,
    seed_complaints,
    to_compensation,
)
from tests.store.helpers import load

CUSTOMERS = 1200  # chunks of 500: 500, 500, 200


@pytest.fixture
def rt(sqlite_database, clock, tmp_path):  # type: ignore[no-untyped-def]
    runtime = crisis_runtime(sqlite_database, clock, tmp_path / "policies")
    runtime.settings.flow_runner = "prefect"
    yield runtime
    runtime.engine.dispose()


def compensating_crisis(rt, clock) -> int:  # type: ignore[no-untyped-def]
    seed_complaints(rt, count=CUSTOMERS, category="delivery",
                    opened_at=clock.now() - timedelta(hours=2))
    crisis = raise_crisis(rt)
    link_last_day(rt, crisis)
    to_compensation(rt, crisis.id, impact="severe", value=15)
    return crisis.id


async def _run_and_artifacts(name: str):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC, limit=1)
        # Every filter given (the server refuses nulls): artifacts made in the run's tasks.
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])),
            flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(), limit=50,
            sort=ArtifactSort.KEY_ASC)
        # Every field given: the Prefect 3.8.8 server under FastAPI 0.154 refuses nulls.
        tasks = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id])),
            limit=50, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
    return run, {a.key: (a.type, a.data) for a in artifacts if a.key}, tasks


def test_the_sweeper_runs_the_batch_as_a_flow_with_progress_and_a_total(rt, clock):
    crisis_id = compensating_crisis(rt, clock)
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"

    report = Sweeper(rt, runner).tick()

    assert report.timers.get("fired") == 1
    assert compensation_counts(rt, crisis_id) == (CUSTOMERS, CUSTOMERS)
    assert load(rt, crisis_id).stage == "reviewing"
    run, artifacts, tasks = asyncio.run(_run_and_artifacts(
        f"crisis-{crisis_id}-compensation"))
    assert run.state.is_completed()
    assert {"caseflow", "crisis", "compensation", f"case-{crisis_id}"} <= set(run.tags)
    assert artifacts[f"crisis-{crisis_id}-compensation"] == ("progress", 100.0)
    kind, total = artifacts[f"crisis-{crisis_id}-compensation-total"]
    assert kind == "markdown" and f"| {CUSTOMERS} | {CUSTOMERS} | {CUSTOMERS} | 18000 |" in total
    names = [t.name.rsplit("-", 1)[0] for t in tasks]
    assert names.count("compensate-chunk") == 3  # 500, 500, 200
    assert names.count("publish-compensation-progress") == 4  # 0%, then after each chunk


def test_a_failed_flow_run_is_finished_inline(rt, clock, monkeypatch):
    import processes.crisis.flows

    crisis_id = compensating_crisis(rt, clock)

    def broken(crisis_id: int) -> dict:  # type: ignore[type-arg]
        raise ConnectionError("the Prefect task runner went away")

    monkeypatch.setattr(processes.crisis.flows, "compensate_chunk_task", broken)
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"

    assert Sweeper(rt, runner).tick().timers.get("fired") == 1

    assert compensation_counts(rt, crisis_id) == (CUSTOMERS, CUSTOMERS)
    assert load(rt, crisis_id).stage == "reviewing"
