"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import core.models  # noqa: F401  (registers the tables)
from core.db import make_engine, migrate


def test_migrations_match_the_models_and_run_twice(database):
    url, options = database
    engine = make_engine(url, **options)
    try:
        migrate(engine)
        migrate(engine)  # a second start-up finds nothing to do
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() is not None
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()
