"""The real service process, second-scale SLAs, a real webhook receiver."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.service import ServiceProcess
from tests.support import WebhookReceiver, write_policies

pytestmark = pytest.mark.e2e

LADDER = ["warning", "breach", "manager", "director"]
# ordinary first response in 8 s: warning at 6 s, breach 8 s, manager 12 s, director 16 s.
FAST_CLOCKS = {
    "first_response": {"calendar": "24x7",
                       "targets": {"urgent": "PT4S", "ordinary": "PT8S", "routine": "PT20S",
                                   "recovery": "PT40S"}},
    "resolution": {"calendar": "24x7",
                   "targets": {"urgent": "PT1H", "ordinary": "PT2H", "routine": "PT3H",
                               "recovery": "PT3H"}},
}


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def service(tmp_path: Path, receiver: WebhookReceiver,
            request: pytest.FixtureRequest) -> Iterator[ServiceProcess]:
    """The service as one process, and as two workers on one port (CASEFLOW_WORKERS)."""
    policies = write_policies(tmp_path / "policies", receiver=receiver,
                              complaint={"clocks": FAST_CLOCKS})
    svc = ServiceProcess(tmp_path / "data", policies, CASEFLOW_CLAIM_LEASE_SECONDS="2",
                         CASEFLOW_WORKERS=str(request.param))
    (tmp_path / "data").mkdir()
    yield svc
    svc.stop()


PHONE = "13912345678"


def open_case(api: httpx.Client, ref: str, **extra: object) -> dict:
    body = {"subject": "router keeps dropping",
            "customer": {"ref": ref, "tier": "B", "phone": PHONE}, **extra}
    response = api.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def ladder_of(case: dict, clock: str = "first_response") -> list[str]:
    return [e["details"]["step"] for e in case["timeline"]
            if e["type"] in ("sla_warning", "escalated") and e["details"]["clock"] == clock]


def wait_for(check: Callable[[], bool], timeout: float, what: str, svc: ServiceProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n--- service log ---\n{svc.log()}")


def keys_received(receiver: WebhookReceiver, person: str | None = None) -> list[str]:
    """The notice keys in every post received (for one person, if named)."""
    return receiver.keys(person)


def test_silence_climbs_the_ladder_in_order_once_each(service, receiver):
    service.start()
    api = service.client_as("supervisor", "wang.fang", ["complaints"])
    silent = open_case(api, "c-silent")
    answered = open_case(api, "c-answered")
    ack = api.post(f"/cases/{answered['id']}/events", json={"type": "acknowledge"})
    assert ack.status_code == 200, ack.text
    assert ack.json()["timeline"][-1]["actor"] == "wang.fang"

    def read(case_id: int) -> dict:
        return api.get(f"/cases/{case_id}").json()

    wait_for(lambda: len(ladder_of(read(silent["id"]))) == 4, 90, "the whole ladder", service)
    wait_for(lambda: len(keys_received(receiver)) >= 7, 30, "every notification", service)
    time.sleep(2)  # a few more sweeps: nothing may fire twice

    case = read(silent["id"])
    assert ladder_of(case) == LADDER
    assert case["escalation_level"] == 3
    assert [e["details"]["level"] for e in case["timeline"] if e["type"] in
            ("sla_warning", "escalated")] == [0, 1, 2, 3]
    assert ladder_of(read(answered["id"])) == []
    keys = keys_received(receiver)
    assert len(keys) == len(set(keys)) == 7  # 1 + 2 + 2 + 2 recipients over the four rungs
    assert all(k.startswith(f"{silent['id']}:first_response:") for k in keys)
    # Several rungs due in one sweep reach a person as one digest, so count notices.
    assert set(keys_received(receiver, silent["assignee"])) == {
        f"{silent['id']}:first_response:{step}:{silent['assignee']}" for step in (0, 1)}
    assert set(keys_received(receiver, "zhao.lei")) == {
        f"{silent['id']}:first_response:3:zhao.lei"}
    # The customer's number reached the director masked, and the log not at all.
    director_message = receiver.for_person("zhao.lei")[0].body["message"]
    assert "139****5678" in director_message and PHONE not in director_message
    log = service.log_path.read_text()
    assert PHONE not in log and service.admin_key() not in log
    assert api.headers["Authorization"].removeprefix("Bearer ") not in log


def test_the_first_start_makes_an_admin_key_and_says_where_it_is(service):
    service.start()
    key_file = Path(service.env["CASEFLOW_DATA_DIR"]) / "admin-key.txt"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert f"saved to {key_file}" in service.log()
    admin = {"Authorization": f"Bearer {service.admin_key()}"}
    assert httpx.get(f"{service.url}/me", headers=admin, timeout=10).json()["role"] == "admin"
    assert httpx.get(f"{service.url}/cases", timeout=10).status_code == 401
    service.stop()
    service.start()  # a second start keeps the key it made and makes no other
    assert service.log_path.read_text().count("admin API key was created") == 1
    keys = httpx.get(f"{service.url}/admin/keys", headers=admin, timeout=10).json()
    assert [k["name"] for k in keys] == ["admin"]


def test_escalations_due_while_the_service_was_down_fire_once_at_restart(service, receiver):
    service.start()
    api = service.client_as("manager", "liu.yang")
    opener = service.client_as("agent", "web-form", ["complaints"])
    ids = [open_case(opener, f"c-{n}")["id"] for n in range(10)]
    time.sleep(3)
    service.kill()  # a crash: no shutdown hooks run
    time.sleep(15)  # every rung, warning (6 s) to director (16 s), falls due while it is down
    service.start()

    def all_done() -> bool:
        return all(len(ladder_of(api.get(f"/cases/{i}").json())) == 4 for i in ids)

    wait_for(all_done, 90, "every escalation after the restart", service)
    wait_for(lambda: len(keys_received(receiver)) >= 70, 60, "every notification", service)
    time.sleep(2)
    for case_id in ids:
        case = api.get(f"/cases/{case_id}").json()
        assert ladder_of(case) == LADDER
    keys = Counter(keys_received(receiver))
    assert [k for k, n in keys.items() if n > 1] == []
    assert len(keys) == 70  # 10 cases x 7 notices


def test_two_workers_answer_on_one_port_run_one_scheduler_and_follow_one_reload(tmp_path):
    policies = write_policies(tmp_path / "policies")
    (tmp_path / "data").mkdir()
    service = ServiceProcess(tmp_path / "data", policies, CASEFLOW_WORKERS="2").start()
    try:
        def instances(tries: int) -> Counter[str]:
            # A new connection each time: the kernel hands it to either worker.
            return Counter(httpx.get(f"{service.url}/health", timeout=10).json()["instance"]
                           for _ in range(tries))

        wait_for(lambda: len(instances(20)) == 2, 30, "answers from both workers", service)
        admin = {"Authorization": f"Bearer {service.admin_key()}"}
        teams = yaml.safe_load((policies / "teams.yaml").read_text())
        teams["teams"]["billing"]["members"].append("he.ping")
        (policies / "teams.yaml").write_text(yaml.safe_dump(teams))
        reload = httpx.post(f"{service.url}/admin/policies/reload", headers=admin, timeout=30)
        assert reload.status_code == 200 and reload.json()["changed"], reload.text
        version = reload.json()["version"]

        def everyone_on_the_new_version() -> bool:
            return all(httpx.get(f"{service.url}/health", timeout=10).json()["policy_version"]
                       == version for _ in range(20))

        wait_for(everyone_on_the_new_version, 15, "both workers on the new policies", service)
        log = service.log_path.read_text()
        assert log.count("runs the scheduler") == 1, service.log()
        assert log.count("admin API key was created") == 1, service.log()
    finally:
        service.stop()


def test_when_the_worker_running_the_scheduler_dies_another_takes_over_firing_once(
        tmp_path, receiver):
    policies = write_policies(tmp_path / "policies", receiver=receiver,
                              complaint={"clocks": FAST_CLOCKS})
    data = tmp_path / "data"
    data.mkdir()
    service = ServiceProcess(data, policies, CASEFLOW_WORKERS="2",
                             CASEFLOW_CLAIM_LEASE_SECONDS="2").start()
    try:
        api = service.client_as("manager", "liu.yang")
        opener = service.client_as("agent", "web-form", ["complaints"])
        wait_for(lambda: (data / "scheduler.lock").read_text().strip().isdigit(), 30,
                 "a worker to take the scheduler", service)
        leader = int((data / "scheduler.lock").read_text())
        ids = [open_case(opener, f"c-{n}")["id"] for n in range(5)]
        os.kill(leader, signal.SIGKILL)  # that worker crashes; the other goes on serving

        def all_done() -> bool:
            return all(len(ladder_of(api.get(f"/cases/{i}").json())) == 4 for i in ids)

        wait_for(all_done, 90, "every escalation after the worker died", service)
        wait_for(lambda: len(keys_received(receiver)) >= 35, 60, "every notification", service)
        time.sleep(2)  # a few more sweeps: nothing may fire twice
        for case_id in ids:
            assert ladder_of(api.get(f"/cases/{case_id}").json()) == LADDER
        keys = Counter(keys_received(receiver))
        assert [k for k, n in keys.items() if n > 1] == [] and len(keys) == 35
        assert int((data / "scheduler.lock").read_text()) != leader
        assert service.log_path.read_text().count("runs the scheduler") >= 2
    finally:
        service.stop()
