"""The batch flows run under Prefect: named per batch, tagged by process, deciding nothing."""

import asyncio
import json
from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterTags,
    TaskRunFilter,
)
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort
from sqlmodel import Session, select

from engine.models import OutboxMessage
from engine.sweeper import Sweeper
from flows.runner import PrefectRunner
from tests.store.helpers import escalations, open_complaint


async def _runs_tagged(*tags: str):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=list(tags))),
            sort=FlowRunSort.START_TIME_DESC, limit=50, offset=0)


async def _artifacts(flow_run_id):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        # Every filter given (the server refuses nulls).
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
                any_=[flow_run_id])),
            flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(), limit=50,
            offset=0, sort=ArtifactSort.ID_DESC)


def _message_ids(rt) -> list[int]:  # type: ignore[no-untyped-def]
    with Session(rt.engine) as session:
        return list(session.exec(select(OutboxMessage.id)))


async def _flow_run(name: str):
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC, limit=10)
    assert runs, f"no flow run named {name}"
    return runs[0]  # the newest: both database variants share one Prefect API


def test_the_sweeper_runs_due_timers_and_notifications_as_prefect_flows(
        make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, flow_runner="prefect")
    case_ids = [open_complaint(rt, ref=f"c{n}") for n in range(3)]
    clock.advance(timedelta(minutes=16))

    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    report = Sweeper(rt, runner).tick()

    assert report.timers == {"fired": 3}
    assert all(escalations(rt, i) == [("first_response", "warning")] for i in case_ids)
    assert report.messages["delivered"] == 3 and len(receiver.all()) == 3
    run = asyncio.run(_flow_run(f"complaint-cases-{','.join(map(str, case_ids))}-rung-1"))
    assert run.state.is_completed()
    assert {"caseflow", "complaint", "timers", "rung-1", "instance:test-instance"} <= set(
        run.tags)
    [table] = asyncio.run(_artifacts(run.id))
    assert table.type == "table" and "rungs fired by this run: 3" in table.description
    rows = json.loads(table.data)
    assert [(r["case"], r["clock"], r["rung"], r["step"], r["level"]) for r in rows] == [
        (i, "first_response", 1, "warning", 0) for i in case_ids]
    assert all(r["team"] and r["notified"] != "nobody" for r in rows)
    assert "@" not in table.data and "Lin" not in table.data  # no customer or address
    notify = asyncio.run(_runs_tagged("notifications", "instance:test-instance"))[0]
    assert notify.name == "notify-messages-" + ",".join(
        str(i) for i in sorted(_message_ids(rt)))
    assert "caseflow" in notify.tags



def test_one_case_s_timers_run_as_a_flow_run_named_after_the_case(make_runtime, clock):
    rt = make_runtime(flow_runner="prefect")
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=15))
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    assert Sweeper(rt, runner).tick().timers == {"fired": 1}
    assert asyncio.run(_flow_run(f"complaint-case-{case_id}-rung-1")).state.is_completed()


def test_a_case_climbing_three_rungs_gets_one_run_per_rung_named_after_it(
        make_runtime, clock):
    rt = make_runtime(flow_runner="prefect", instance_id="climber")
    case_id = open_complaint(rt, ref="climber")
    clock.advance(timedelta(days=30))  # after downtime: every rung of both clocks is due
    runner = PrefectRunner(rt, warm_up=False)
    runner.ready.set()
    Sweeper(rt, runner).tick()

    names = {run.name for run in asyncio.run(_runs_tagged("instance:climber"))}
    assert {f"complaint-case-{case_id}-rung-{n}" for n in (1, 2, 3, 4)} <= names


def test_once_prefect_answers_a_warm_up_flow_runs_before_any_batch(make_runtime):
    rt = make_runtime(flow_runner="prefect")
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    run = asyncio.run(_flow_run("warm-up"))
    assert run.state.is_completed() and run.start_time is not None
    assert {"caseflow", "warm-up"} <= set(run.tags)


def test_until_prefect_answers_the_batches_run_inline(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, flow_runner="prefect")
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    runner = PrefectRunner(rt, warm_up=False)  # as if the Prefect API were still starting

    report = Sweeper(rt, runner).tick()

    assert report.timers == {"fired": 1}
    assert escalations(rt, case_id) == [("first_response", "warning")]
    assert len(receiver.all()) == 1
