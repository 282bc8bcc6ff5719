"""Every deployment in prefect.yaml runs on a worker: a fresh process that knows only its
settings, which refuses to start, naming what is missing, rather than fall back to a
store, policies or secret of its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL

from core import runtime
from tests.conftest import TEST_SURVEY_SECRET
from tests.store.helpers import escalations, open_complaint
from tests.support import REPO

# Runs each deployment's entrypoint with its parameters, as a worker's flow run would.
WORKER = """
import asyncio, importlib, json, sys
for entrypoint, parameters in json.loads(sys.argv[1]):
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    state = getattr(module, name)(**parameters, return_state=True)
    if asyncio.iscoroutine(state):
        state = asyncio.run(state)
    print(entrypoint, parameters, state.type.value, state.message, flush=True)
    if not state.is_completed():
        sys.exit(f"{entrypoint} {parameters}: {state.message}")
"""


def _deployments() -> list[tuple[str, dict]]:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return [(d["entrypoint"], d.get("parameters") or {}) for d in spec["deployments"]]


def _worker_env(tmp_path: Path, **caseflow: str) -> dict[str, str]:
    """What a worker's flow run process gets: the Prefect API, and the given settings."""
    return {"PATH": os.environ["PATH"], "PREFECT_API_URL": PREFECT_API_URL.value(),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HOME": str(tmp_path),
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "CASEFLOW_DATA_DIR": str(tmp_path / "worker-data"), **caseflow}


def _run_deployments(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WORKER, json.dumps(_deployments())],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _store_url(rt: runtime.Runtime) -> str:
    """The runtime's store as one URL, its PostgreSQL schema included (tests.conftest's
    runtimes carry it in their settings' URL)."""
    return rt.settings.resolved_database_url


def test_every_deployment_runs_in_a_fresh_process_configured_by_settings(
        make_runtime, tmp_path):
    rt = make_runtime(instance_id="api-1")
    case_id = open_complaint(rt)  # opened on the frozen clock: long overdue by now
    env = _worker_env(tmp_path, CASEFLOW_DATABASE_URL=_store_url(rt),
                      CASEFLOW_POLICIES=str(rt.settings.policies),
                      CASEFLOW_SURVEY_SECRET=TEST_SURVEY_SECRET)

    result = _run_deployments(env)

    assert result.returncode == 0, result.stdout + result.stderr
    # The worker's sweep claimed the case's rungs under its own id and fired them all.
    assert ("first_response", "breach") in escalations(rt, case_id)
    assert not (tmp_path / "worker-data").exists()  # no store, no secret of its own


def test_a_worker_without_settings_refuses_naming_each_missing_one(tmp_path):
    result = _run_deployments(_worker_env(tmp_path))

    assert result.returncode != 0
    for name in ("CASEFLOW_DATABASE_URL", "CASEFLOW_POLICIES", "CASEFLOW_SURVEY_SECRET"):
        assert name in result.stdout + result.stderr, name
    assert not (tmp_path / "worker-data").exists()


@pytest.fixture
def outside_the_service(monkeypatch):  # type: ignore[no-untyped-def]
    """As in a worker's process: no runtime configured, no CASEFLOW_* variables."""
    monkeypatch.setattr(runtime, "_current", None)
    for name in list(os.environ):
        if name.startswith("CASEFLOW_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_flow_run_refuses_a_store_without_the_service_s_schema(
        outside_the_service, tmp_path):
    outside_the_service.setenv("CASEFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    outside_the_service.setenv("CASEFLOW_POLICIES", str(REPO / "policies"))
    outside_the_service.setenv("CASEFLOW_SURVEY_SECRET", TEST_SURVEY_SECRET)

    with pytest.raises(runtime.MissingSettings, match="CASEFLOW_DATABASE_URL: the store has "
                                                      "schema none"):
        runtime.for_flow_run()


def test_a_flow_run_names_only_the_settings_it_lacks(outside_the_service, tmp_path):
    outside_the_service.setenv("CASEFLOW_POLICIES", str(REPO / "policies"))

    with pytest.raises(runtime.MissingSettings) as refused:
        runtime.for_flow_run()

    assert "CASEFLOW_DATABASE_URL" in str(refused.value)
    assert "CASEFLOW_SURVEY_SECRET" in str(refused.value)
    assert "CASEFLOW_POLICIES" not in str(refused.value)


async def _runs_tagged(*tags: str):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=list(tags))),
            sort=FlowRunSort.START_TIME_DESC, limit=50)


def test_the_worker_s_batches_are_child_runs_tagged_caseflow(make_runtime, tmp_path):
    rt = make_runtime(instance_id="api-2")
    open_complaint(rt, ref="worker-tags")
    env = _worker_env(tmp_path, CASEFLOW_DATABASE_URL=_store_url(rt),
                      CASEFLOW_POLICIES=str(rt.settings.policies),
                      CASEFLOW_SURVEY_SECRET=TEST_SURVEY_SECRET)
    result = subprocess.run([sys.executable, "-c", WORKER,
                             json.dumps([("flows/sweep.py:sweep", {})])],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    runs = asyncio.run(_runs_tagged("caseflow", "complaint", "rung-2"))
    assert any(run.parent_task_run_id is not None and run.state.is_completed()
               for run in runs)
