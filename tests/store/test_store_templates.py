"""The stores the tests get are copies of a template migrated once (tests/support.py,
`StoreTemplates`): each is at the newest revision with the models' schema, the same as the
template, changed by nothing at start-up, and its own."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

from engine.db import make_engine, migrate, schema_revisions
from tests.conftest import _need_postgres
from tests.store.migration_helpers import alembic_store, assert_at_head_matching_models
from tests.support import POSTGRES_URL, StoreTemplates


def test_a_copy_is_at_the_newest_revision_with_the_models_schema(database):
    with alembic_store(database, empty=False) as (engine, config):
        assert_at_head_matching_models(engine, config)


def test_the_runtime_s_upgrade_of_a_copy_changes_nothing(database):
    url, options = database
    engine = make_engine(url, **options)
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement.split()[0].upper())

    try:
        migrate(engine)  # what runtime.configure does at start-up
        found, newest = schema_revisions(engine)
    finally:
        engine.dispose()
    assert found == newest
    assert sent and set(sent) <= {"SELECT", "PRAGMA"}, sent


def test_each_copy_is_a_store_of_its_own(database, store_templates, tmp_path):
    url, _ = database
    sqlite = url.startswith("sqlite")
    with ExitStack() as stack:
        if sqlite:
            other = store_templates.sqlite_copy(tmp_path / "other.db"), {}
            template = make_engine(f"sqlite:///{store_templates.sqlite_template()}")
        else:
            other = stack.enter_context(store_templates.postgres_copy())
            schema, _ = store_templates.postgres_template()
            template = make_engine(POSTGRES_URL,
                                   connect_args={"options": f"-csearch_path={schema}"})
        engines = [make_engine(u, **o) for u, o in (database, other)] + [template]
        for engine in engines:
            stack.callback(engine.dispose)
        this, copy, template = engines

        with this.begin() as connection:
            connection.execute(text("INSERT INTO team_members (team, person, open_cases)"
                                    " VALUES ('complaints', 'li.wei', 3)"))

        assert _members(this) == [("complaints", "li.wei")]
        assert _members(copy) == [] and _members(template) == []


@pytest.mark.postgres
def test_a_postgres_copy_has_the_template_s_tables_columns_indexes_and_constraints(
        store_templates: StoreTemplates):
    _need_postgres()  # fails rather than skips with CASEFLOW_REQUIRE_POSTGRES=1
    template, _ = store_templates.postgres_template()
    admin = make_engine(POSTGRES_URL)
    try:
        with store_templates.postgres_copy() as (_, options):
            copy = options["connect_args"]["options"].removeprefix("-csearch_path=")
            with admin.connect() as connection:
                expected = _catalogue(connection, template)
                found = _catalogue(connection, copy)
    finally:
        admin.dispose()
    assert len(expected["tables"]) > 10 and len(expected["indexes"]) > 10
    assert found == expected


def _members(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [(row.team, row.person) for row in connection.execute(
            text("SELECT team, person FROM team_members"))]


def _catalogue(connection: Connection, schema: str) -> dict[str, list[tuple[str, ...]]]:
    """What a schema holds, its name taken out so that two schemas compare."""

    def rows(sql: str) -> list[tuple[str, ...]]:
        found = connection.execute(text(sql), {"schema": schema}).all()
        return sorted(tuple(str(value).replace(f'"{schema}".', "").replace(f"{schema}.", "")
                            for value in row) for row in found)

    return {
        "tables": rows("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
        "columns": rows(
            "SELECT table_name, column_name, data_type, character_maximum_length,"
            " is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = :schema"),
        "indexes": rows("SELECT tablename, indexname, indexdef FROM pg_indexes"
                        " WHERE schemaname = :schema"),
        "constraints": rows(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
            " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = :schema"),
        "sequences": rows(
            "SELECT sequence_name, start_value, increment FROM information_schema.sequences"
            " WHERE sequence_schema = :schema"),
        "revision": rows(f'SELECT version_num FROM "{schema}".alembic_version'),
    }
