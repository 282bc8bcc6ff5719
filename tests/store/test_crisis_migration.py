"""The crisis revision (0007) downgrades and upgrades again, and matches the models."""

from sqlalchemy import inspect

from engine.db import migrate
from tests.store.migration_helpers import (
    alembic_store,
    assert_at_head_matching_models,
    downgrade_to,
)


def test_the_crisis_revision_downgrades_and_upgrades_again(empty_database):
    with alembic_store(empty_database) as (engine, config):
        migrate(engine)
        downgrade_to(engine, config, "0006")
        assert not {"crisis_links", "crisis_compensations"} & set(
            inspect(engine).get_table_names())
        migrate(engine)
        assert_at_head_matching_models(engine, config)
