"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from engine.db import migrate
from tests.store.migration_helpers import (
    alembic_store,
    assert_at_head_matching_models,
    downgrade_to,
    upgraded_to,
)


def test_migrations_match_the_models_and_run_twice(empty_database):
    with alembic_store(empty_database) as (engine, _):
        migrate(engine)
        migrate(engine)  # a second start-up finds nothing to do
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() is not None
            assert compare_metadata(context, SQLModel.metadata) == []


def test_a_new_store_is_left_unanalysed_for_its_tables_to_fill(empty_database):
    """Statistics of empty tables would have PostgreSQL plan for tables that stay empty
    (the foreign keys' checks scanning the cases as they fill) until its autovacuum
    analyses them again; migrations analyse only a store that has rows."""
    with alembic_store(empty_database) as (engine, _), engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps no statistics of an empty table")
        migrate(engine)
        never = connection.execute(text(
            "SELECT relname FROM pg_class WHERE relname IN ('cases', 'sla_clocks') "
            "AND relnamespace = to_regnamespace(current_schema()) AND reltuples < 0")).scalars()
        assert sorted(never) == ["cases", "sla_clocks"]


def test_a_store_with_cases_upgrades_from_the_first_revision(empty_database):
    with alembic_store(empty_database) as (engine, config):
        with upgraded_to(engine, config, "0001") as connection:
            connection.execute(text(
                "INSERT INTO customers (id, tier, created_at) VALUES (1, 'VIP', :at)"),
                {"at": datetime(2026, 11, 1)})
            connection.execute(text(
                "INSERT INTO cases (id, process, stage, priority, tier, subject, description,"
                " customer_id, team, escalation_level, resolved_count, policy_version,"
                " opened_at, stage_entered_at, updated_at, version) VALUES (1, 'complaint',"
                " 'assigned', 'urgent', 'VIP', 's', '', 1, 'complaints', 0, 0, 'v', :at, :at,"
                " :at, 1)"), {"at": datetime(2026, 11, 1)})
            connection.execute(text(
                "INSERT INTO case_events (case_id, type, actor, at, details) VALUES"
                " (1, 'classify', 'system', :at, '{}')"), {"at": datetime(2026, 11, 1)})
            connection.execute(text(
                "INSERT INTO sla_clocks (case_id, name, calendar, target_seconds,"
                " elapsed_seconds, state, steps_fired, started_at) VALUES (1, 'resolution',"
                " '24x7', 3600, 0, 'running', 0, :at)"), {"at": datetime(2026, 11, 1)})
        migrate(engine)
        with engine.connect() as connection:
            case = connection.execute(text("SELECT tier, customer_id, data FROM cases")).one()
            kind = connection.execute(text("SELECT actor_kind FROM case_events")).scalar_one()
            clock = connection.execute(text("SELECT process FROM sla_clocks")).scalar_one()
        assert (case.tier, case.customer_id) == ("VIP", 1)
        assert case.data in ({}, "{}")
        assert kind == "system"
        assert clock == "complaint"  # copied from its case


def test_the_follow_up_revision_downgrades_and_upgrades_again(empty_database):
    with alembic_store(empty_database) as (engine, config):
        migrate(engine)
        downgrade_to(engine, config, "0004")
        inspector = inspect(engine)
        assert not {"surveys", "survey_answers"} & set(inspector.get_table_names())
        assert {"survey_opt_out", "preferred_channel"}.isdisjoint(
            c["name"] for c in inspector.get_columns("customers"))
        migrate(engine)
        assert_at_head_matching_models(engine, config)


def test_an_unpublished_run_is_due_for_publication_after_the_upgrade(empty_database):
    at = datetime(2026, 11, 17, 1, 0)
    with alembic_store(empty_database) as (engine, config):
        with upgraded_to(engine, config, "0008") as connection:
            for review, published in (("daily-sla-digest", None), ("daily-greetings", at)):
                connection.execute(text(
                    "INSERT INTO review_runs (review, computes, period_start, period_end,"
                    " slot_at, trigger, status, attempts, started_at, finished_at, result,"
                    " published_at) VALUES (:review, 'x', :at, :at, :at, 'schedule',"
                    " 'succeeded', 1, :at, :at, '{}', :published)"),
                    {"review": review, "at": at, "published": published})
        migrate(engine)
        with engine.connect() as connection:
            rows = dict(connection.execute(text(
                "SELECT review, publish_after IS NOT NULL FROM review_runs")).all())
            artifacts = connection.execute(text(
                "SELECT published_artifacts, publish_attempts FROM review_runs")).all()
        assert rows == {"daily-sla-digest": True, "daily-greetings": False}
        assert {(str(a).replace(" ", ""), n) for a, n in artifacts} == {("[]", 0)}
