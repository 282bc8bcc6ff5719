"""The API as a careless or hostile client meets it: schemathesis against the real service.

Every operation of the OpenAPI document is called with generated input (valid, invalid,
and the edge cases the schema names), with a key of each role, on SQLite and on
PostgreSQL. A run passes when no answer is a server error, and every answer's status,
content type, headers and body are the ones the document declares.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.service import ServiceProcess
from tests.support import POSTGRES_URL, postgres_available, write_policies

pytestmark = pytest.mark.e2e

# Contract checks only: whether the service accepts every schema-valid value (an unknown
# priority or team, say) is decided by the policies, which the document cannot list.
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
ROLES = {
    "agent": ["complaints"],
    "supervisor": ["complaints", "billing"],
    "manager": [],
    "director": [],
    "admin": [],
    "scheduler": [],
}
# Examples per operation and phase: enough to reach every documented status, bounded so
# that the whole matrix (six roles, two stores) stays within a few minutes.
MAX_EXAMPLES = 8
SEED = 20261206


def _schemathesis() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed in this environment (see requirements-dev.lock)")
    return found


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one service process, dropped afterwards."""
    if not postgres_available():
        pytest.fail("PostgreSQL is required here but not reachable on 127.0.0.1:5432")
    name = f"contract_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceProcess]:
    """The real service with the shipped policies' shape, on each store."""
    env = {"CASEFLOW_FLOW_RUNNER": "inline"}
    if request.param == "postgres":
        env["CASEFLOW_DATABASE_URL"] = request.getfixturevalue("postgres_database")
    data = tmp_path / "data"
    data.mkdir()
    svc = ServiceProcess(data, write_policies(tmp_path / "policies"), **env)
    svc.start()
    yield svc
    svc.stop()


def _seed(svc: ServiceProcess) -> None:
    """A few objects, so that operations on an id reach more than their 404."""
    with svc.client_as("supervisor", "seed.supervisor", ["complaints", "billing"]) as api:
        for n in range(3):
            opened = api.post("/cases", json={
                "subject": f"Parcel {n} arrived broken", "channel": "phone",
                "customer": {"ref": f"C-{n}", "name": "Lin", "phone": f"1391234567{n}"}})
            assert opened.status_code == 201, opened.text


@pytest.mark.parametrize("role", list(ROLES))
def test_every_operation_keeps_its_contract(service: ServiceProcess, role: str,
                                            tmp_path: Path) -> None:
    _seed(service)
    key = service.client_as(role, f"contract.{role}", ROLES[role]).headers["Authorization"]
    report = tmp_path / f"schemathesis-{role}.txt"
    result = subprocess.run(
        [_schemathesis(), "run", f"{service.url}/openapi.json",
         "--header", f"Authorization: {key}",
         "--checks", CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
         "--workers", "1", "--request-timeout", "20", "--no-shrink",
         "--warnings", "off"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache goes there
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (
        f"schemathesis found contract failures as {role}:\n{result.stdout[-8000:]}\n"
        f"--- service log ---\n{service.log()}")
    assert httpx.get(f"{service.url}/health", timeout=5).status_code == 200
