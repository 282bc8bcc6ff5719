"""API test fixtures: a TestClient over a runtime built on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.runtime import Runtime
from engine.clock import FrozenClock
from tests.conftest import build_runtime
from tests.support import bearer, issue_key, write_policies


@pytest.fixture
def runtime(make_runtime) -> Runtime:  # type: ignore[no-untyped-def]
    """The runtime on SQLite and PostgreSQL (each test using it runs on both)."""
    return make_runtime()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A client of the app over the configured runtime (the app does not start its own).

    It calls as supervisor wang.fang of every team, who may do anything to any case;
    tests of access control pass other credentials per request.
    """
    with TestClient(create_app(manage_runtime=False),
                    headers=bearer(issue_key(runtime, "supervisor"))) as test_client:
        yield test_client


@pytest.fixture
def sqlite_client(sqlite_database: tuple[str, dict], clock: FrozenClock,
                  tmp_path: Path) -> Iterator[TestClient]:
    """A client on SQLite only, for checks that never reach the store (validation)."""
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    try:
        with TestClient(create_app(manage_runtime=False),
                        headers=bearer(issue_key(rt, "supervisor"))) as test_client:
            yield test_client
    finally:
        rt.engine.dispose()


@pytest.fixture
def raw_client(runtime: Runtime) -> Iterator[TestClient]:
    """Like `client`, but a server error comes back as a 500 instead of raising."""
    app = create_app(manage_runtime=False)
    with TestClient(app, raise_server_exceptions=False,
                    headers=bearer(issue_key(runtime, "supervisor"))) as test_client:
        yield test_client
