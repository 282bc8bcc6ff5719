"""The real service as operators run it: two workers, Prefect flow runs (the default),
JSON log lines. Metrics add up across the workers, the probes answer, and the log keeps
its access lines after the flow runs, every line one JSON object."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.service import ServiceProcess
from tests.e2e.test_escalation_end_to_end import FAST_CLOCKS, ladder_of, wait_for
from tests.support import write_policies

pytestmark = pytest.mark.e2e

LIVEZ_CALLS = 20


def lines(service: ServiceProcess) -> list[dict]:
    """Every log line, parsed: a line that is not JSON fails the test."""
    text = service.log_path.read_text()
    whole = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    parsed = []
    for line in whole:  # a line being written is left for the next look
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{service.log()}") from None
    return parsed


def samples(service: ServiceProcess) -> dict[tuple[str, frozenset], float]:
    answer = httpx.get(f"{service.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_two_workers_in_prefect_mode_count_together_and_log_json(tmp_path: Path):
    policies = write_policies(tmp_path / "policies", complaint={"clocks": FAST_CLOCKS})
    (tmp_path / "data").mkdir()
    service = ServiceProcess(tmp_path / "data", policies, CASEFLOW_WORKERS="2",
                             CASEFLOW_LOG_FORMAT="json").start()
    try:
        wait_for(lambda: "Prefect API ready" in service.log_path.read_text(), 150,
                 "the Prefect API", service)
        # Values a previous run left were removed at start; each process writes its own.
        assert (tmp_path / "data" / "metrics").is_dir()
        api = service.client_as("supervisor", "wang.fang", ["complaints", "billing"])
        ids = []
        for n in range(3):
            answer = api.post("/cases", headers={"X-Request-ID": f"e2e-open-{n}"}, json={
                "subject": "router keeps dropping", "customer": {"ref": f"ops-{n}",
                                                                 "tier": "B"}})
            assert answer.status_code == 201, answer.text
            assert answer.headers["x-request-id"] == f"e2e-open-{n}"
            ids.append(answer.json()["id"])

        def breached() -> bool:
            return all(ladder_of(api.get(f"/cases/{i}").json())[:2] == ["warning", "breach"]
                       for i in ids)

        wait_for(breached, 90, "the warnings and breaches, fired by flow runs", service)
        for n, case_id in enumerate(ids):
            timeline = api.get(f"/cases/{case_id}").json()["timeline"]
            assert timeline[0]["request_id"] == f"e2e-open-{n}"
            # The sweeper's escalations were written by no request.
            rungs = [e for e in timeline if e["type"] in ("sla_warning", "escalated")]
            assert rungs and all(e["request_id"] is None for e in rungs)

        # After the flow runs: requests spread over both workers (the kernel hands each
        # new connection to either), each one logged and counted.
        answered: list[str] = []

        def both_workers_answered() -> bool:
            for _ in range(LIVEZ_CALLS):
                answer = httpx.get(f"{service.url}/livez", timeout=10)
                assert answer.status_code == 200
                answered.append(answer.headers["x-request-id"])
            pids = {line["pid"] for line in lines(service)
                    if line["logger"] == "uvicorn.access" and line.get("path") == "/livez"}
            return len(pids) == 2

        wait_for(both_workers_answered, 60, "/livez answered by both workers", service)
        assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200

        counted = samples(service)
        livez = frozenset({"method": "GET", "route": "/livez", "status": "200"}.items())
        assert counted[("caseflow_http_requests_total", livez)] == len(answered)
        assert counted[("caseflow_cases_opened_total",
                        frozenset({"process": "complaint"}.items()))] == 3
        assert counted[("caseflow_escalation_rungs_fired_total",
                        frozenset({"process": "complaint", "level": "0"}.items()))] >= 3
        assert counted[("caseflow_store_up", frozenset())] == 1

        def every_livez_logged() -> bool:
            logged = {line.get("request_id") for line in lines(service)
                      if line["logger"] == "uvicorn.access" and line.get("path") == "/livez"}
            return set(answered) <= logged

        wait_for(every_livez_logged, 10, "an access line for each /livez", service)
    finally:
        code, _ = service.terminate()
    assert code == 0
    time.sleep(0.5)
    messages = [line["message"] for line in lines(service)]
    for lifecycle in ("Caseflow on http://", "Application startup complete",
                      "Shutting down", "Finished server process"):
        assert any(lifecycle in message for message in messages), (lifecycle, service.log())
    assert all(line["time"].endswith("Z") for line in lines(service))
