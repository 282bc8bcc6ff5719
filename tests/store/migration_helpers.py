"""Migration tests' shared pieces: a store with its Alembic config, moving it between
revisions, and the check that it stands at the newest revision, matching the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables)
import processes.registry  # noqa: F401  (its TABLES: the tables processes declare)
from engine.db import MIGRATIONS, make_engine


@contextmanager
def alembic_store(database: tuple[str, dict], *,
                  empty: bool = True) -> Iterator[tuple[Engine, Config]]:
    """An engine on the test database and the Alembic config of Caseflow's migrations.

    The database must be `empty` (the `empty_database` fixture): the migration tests run
    the migrations from scratch, not on the migrated copies the other tests get."""
    url, options = database
    engine = make_engine(url, **options)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        if empty:
            assert inspect(engine).get_table_names() == [], "a migration test needs an empty store"
        yield engine, config
    finally:
        engine.dispose()


@contextmanager
def upgraded_to(engine: Engine, config: Config, revision: str) -> Iterator[Connection]:
    """Upgrade to `revision` in a transaction left open for the caller's own statements
    (rows an older store held), committed when the block ends."""
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        yield connection


def downgrade_to(engine: Engine, config: Config, revision: str) -> None:
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def assert_at_head_matching_models(engine: Engine, config: Config) -> None:
    """The store is at the newest revision, whichever that is, and its schema is the models'."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == ScriptDirectory.from_config(
            config).get_current_head()
        assert compare_metadata(context, SQLModel.metadata) == []
