"""The request that starts a crisis's compensation is carried into the flow run that
compensates: the run is tagged with its id, and the run's log lines in Prefect end
with it."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, LogFilter
from prefect.client.schemas.sorting import FlowRunSort
from prefect.logging.configuration import setup_logging
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_LOGGING_SETTINGS_PATH

from api.app import create_app
from core.log_format import FlowRunFormatter
from core.logs import write_prefect_logging_config
from engine.sweeper import Sweeper
from flows.runner import PrefectRunner
from tests.store.crisis_helpers import (
    by_lead,
    crisis_runtime,
    link_last_day,
    raise_crisis,
    seed_complaints,
)
from tests.store.helpers import load, timeline
from tests.support import bearer, issue_key

REQUEST_ID = "req-compensate-42"


@pytest.fixture
def rt(sqlite_database, clock, tmp_path):  # type: ignore[no-untyped-def]
    runtime = crisis_runtime(sqlite_database, clock, tmp_path / "policies")
    runtime.settings.flow_runner = "prefect"
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def flow_run_lines_formatted(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Prefect's logging set up from the file the service writes for it (core.logs), as
    in the service, whoever sets it up again meanwhile; Prefect's own afterwards."""
    from prefect.logging import configuration

    path = write_prefect_logging_config(tmp_path / "logging.yml")
    assert not PREFECT_LOGGING_SETTINGS_PATH.value().exists()  # so Prefect takes the default
    monkeypatch.setattr(configuration, "DEFAULT_LOGGING_SETTINGS_PATH", path)
    setup_logging(incremental=False)
    handlers = [h for h in logging.getLogger("prefect.flow_runs").handlers
                if isinstance(h, APILogHandler)]
    assert handlers and all(isinstance(h.formatter, FlowRunFormatter) for h in handlers)
    yield
    monkeypatch.undo()
    setup_logging(incremental=False)


async def _run_and_logs(name: str):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC, limit=1)
        for _ in range(100):  # the log lines are sent in the background
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [run.id]}))
            if len(logs) >= 2:
                break
            await asyncio.sleep(0.2)
    return run, [entry.message for entry in logs]


def test_the_compensation_flow_run_carries_the_request_that_started_it(
        rt, clock, flow_run_lines_formatted):
    seed_complaints(rt, count=30, category="delivery",
                    opened_at=clock.now() - timedelta(hours=2))
    crisis = raise_crisis(rt)
    link_last_day(rt, crisis)
    for event, data in (("confirm", {"likelihood": "possible", "impact": "major"}),
                        ("assemble_team", {"lead": "wang.fang", "members": ["li.wei"]}),
                        ("resolve", {"summary": "found"})):
        by_lead(rt, crisis.id, event, **data)
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(rt, "supervisor"))) as client:
        started = client.post(f"/cases/{crisis.id}/events",
                              headers={"X-Request-ID": REQUEST_ID},
                              json={"type": "start_compensation",
                                    "data": {"kind": "coupon", "value": 5}})
    assert started.status_code == 200, started.text
    assert timeline(rt, crisis.id)[-1].request_id == REQUEST_ID

    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    assert Sweeper(rt, runner).tick().timers.get("fired") == 1
    assert load(rt, crisis.id).stage == "reviewing"

    run, messages = asyncio.run(_run_and_logs(f"crisis-{crisis.id}-compensation"))
    assert run.state.is_completed()
    assert f"request:{REQUEST_ID}" in run.tags
    assert messages and all(m.endswith(f"[request_id={REQUEST_ID}]") for m in messages), \
        messages
