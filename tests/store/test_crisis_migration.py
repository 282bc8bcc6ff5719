"""The crisis revision (0007) downgrades and upgrades again, and matches the models."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from core.db import MIGRATIONS, make_engine, migrate
from core.processes import import_all

import_all()  # the crisis tables


def test_the_crisis_revision_downgrades_and_upgrades_again(database):
    url, options = database
    engine = make_engine(url, **options)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        migrate(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert not {"crisis_links", "crisis_compensations"} & set(
            inspect(engine).get_table_names())
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == ScriptDirectory.from_config(
                config).get_current_head()
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()
