"""Shared fixtures: databases (SQLite and PostgreSQL), a frozen clock, a runtime, a receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from engine.clock import FrozenClock
from engine.db import make_engine
from engine.sweeper import InlineRunner, Sweeper, TickReport
from tests.support import (
    StoreTemplates,
    WebhookReceiver,
    postgres_available,
    postgres_schema,
    shanghai,
    webhook_receiver,
    write_policies,
)

_PG = postgres_available()
# Survey links are signed with this in tests, so no secret file lands in the repository.
TEST_SURVEY_SECRET = "test-survey-secret-0123456789-abcdefghij"
_REQUIRE_PG = os.environ.get("CI") == "true" or os.environ.get("CASEFLOW_REQUIRE_POSTGRES") == "1"


# How the suite is split (docs/testing.md):
# - The database fixtures run each test on both stores; their PostgreSQL runs are marked
#   `postgres`, so `-m "not postgres"` runs on SQLite only (the fast tier).
_STORE_FIXTURES = ("database", "empty_database")
_POSTGRES_FIXTURES = ("pg_database",)  # fixtures that give a test PostgreSQL alone
# - Under pytest-xdist, each file's tests go to one worker (`--dist loadfile`). The tests
#   that must not run beside others are marked `serial`, and `tools/dev.py test` runs them
#   after the rest, in one process: the server-mode tests (which share their session's
#   Prefect server), the browser tests (which start services) and the benchmark smoke test.
_SERIAL = ("tests/server/", "tests/test_bench_smoke.py::", "tests/browser/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        on_postgres = params is not None and any(
            params.params.get(name) == "postgres" for name in _STORE_FIXTURES)
        if on_postgres or any(name in _POSTGRES_FIXTURES
                              for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
        if item.nodeid.startswith(_SERIAL):
            item.add_marker(pytest.mark.serial)
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: every one sorts alike
        items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


def _need_postgres() -> None:
    if not _PG:
        if _REQUIRE_PG:
            pytest.fail("PostgreSQL is required here but not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL not reachable")


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreTemplates]:
    """The migrated template stores of this test process (of this xdist worker)."""
    templates = StoreTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path,
             store_templates: StoreTemplates) -> Iterator[tuple[str, dict]]:
    """A database of its own at the newest schema, copied from a template migrated once:
    a SQLite file and a PostgreSQL schema (each test runs on both)."""
    if request.param == "sqlite":
        yield store_templates.sqlite_copy(tmp_path / "caseflow.db"), {}
        return
    _need_postgres()
    with store_templates.postgres_copy() as (url, options):
        yield url, options


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest,
                   tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """A fresh, empty database, for the tests that run the migrations from scratch."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caseflow.db'}", {}
        return
    _need_postgres()
    with postgres_schema() as (url, options):
        yield url, options


@pytest.fixture
def pg_database() -> Iterator[tuple[str, dict]]:
    """A PostgreSQL schema of its own, fresh, for the tests of PostgreSQL alone."""
    _need_postgres()
    with postgres_schema() as database:
        yield database


@pytest.fixture
def sqlite_database(tmp_path: Path, store_templates: StoreTemplates) -> tuple[str, dict]:
    """A SQLite database of its own at the newest schema (copied from the template)."""
    return store_templates.sqlite_copy(tmp_path / "caseflow.db"), {}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as rec:
        yield rec


@pytest.fixture
def clock() -> FrozenClock:
    """Friday 20 November 2026, 10:00 in Shanghai."""
    return FrozenClock(shanghai(2026, 11, 20, 10, 0))


def build_runtime(database: tuple[str, dict], policies: Path, clock: FrozenClock,
                  **settings: object) -> Runtime:
    url, options = database
    values: dict[str, object] = {"scheduler_enabled": False, "flow_runner": "inline",
                                 "instance_id": "test-instance", "notify_retry_seconds": 60,
                                 "survey_secret": TEST_SURVEY_SECRET,
                                 "public_url": "https://survey.example.test", **settings}
    search_path = options.get("connect_args", {}).get("options")
    if search_path:  # in the URL too, for the processes the runtime starts (what-if replays)
        url = make_url(url).update_query_dict({"options": search_path}).render_as_string(
            hide_password=False)
    config = Settings(database_url=url, policies=policies, **values)  # type: ignore[arg-type]
    engine = make_engine(config.resolved_database_url, **options)
    return runtime_module.configure(config, clock=clock, engine=engine)


@pytest.fixture
def make_runtime(database, clock, tmp_path):  # type: ignore[no-untyped-def]
    """Build a runtime on the test database; keyword overrides go to the complaint policy."""
    made: list[Runtime] = []

    def factory(receiver: WebhookReceiver | None = None, complaint: dict | None = None,
                privacy: dict | None = None, **settings: object) -> Runtime:
        policies = write_policies(tmp_path / f"policies{len(made)}", receiver=receiver,
                                  complaint=complaint, privacy=privacy)
        rt = build_runtime(database, policies, clock, **settings)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.engine.dispose()


def sweep(rt: Runtime) -> TickReport:
    """One sweeper tick at the runtime clock's time, run inline."""
    return Sweeper(rt, InlineRunner(rt)).tick()
