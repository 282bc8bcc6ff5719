"""The batch flows run under Prefect: named per batch, tagged by process, deciding nothing."""

import asyncio
from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.sorting import FlowRunSort

from core.sweeper import PrefectRunner, Sweeper
from tests.store.helpers import escalations, open_complaint


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
    run = asyncio.run(_flow_run(f"complaint-3-cases-{case_ids[0]}-to-{case_ids[-1]}"))
    assert run.state.is_completed()
    assert {"complaint", "timers"} <= set(run.tags)



def test_one_case_s_timers_run_as_a_flow_run_named_after_the_case(make_runtime, clock):
    rt = make_runtime(flow_runner="prefect")
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=15))
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    assert Sweeper(rt, runner).tick().timers == {"fired": 1}
    assert asyncio.run(_flow_run(f"complaint-{case_id}")).state.is_completed()


def test_once_prefect_answers_a_warm_up_flow_runs_before_any_batch(make_runtime):
    rt = make_runtime(flow_runner="prefect")
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    run = asyncio.run(_flow_run("warm-up"))
    assert run.state.is_completed() and run.start_time is not None


def test_until_prefect_answers_the_batches_run_inline(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, flow_runner="prefect")
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    runner = PrefectRunner(rt, warm_up=False)  # as if the Prefect API were still starting

    report = Sweeper(rt, runner).tick()

    assert report.timers == {"fired": 1}
    assert escalations(rt, case_id) == [("first_response", "warning")]
    assert len(receiver.all()) == 1
