"""Revision 0006: seats and identities; customers stored before become recognisable."""

from datetime import datetime

from sqlalchemy import inspect, text

from engine.db import migrate
from tests.store.migration_helpers import alembic_store, downgrade_to, upgraded_to


def test_existing_customers_contacts_become_identities_and_the_revision_downgrades(
        empty_database):
    with alembic_store(empty_database) as (engine, config):
        with upgraded_to(engine, config, "0005") as connection:
            at = {"at": datetime(2026, 11, 1)}
            connection.execute(text(
                "INSERT INTO customers (id, tier, phone, email, created_at) VALUES"
                " (1, 'B', '+86 138-1234-5678', 'Lin@Example.com', :at),"
                " (2, 'C', '13812345678', NULL, :at),"
                " (3, 'C', 'n/a', 'none', :at), (4, 'C', 'n/a', 'none', :at)"), at)
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT customer_id, kind, value FROM customer_identities ORDER BY id")).all()
        # Normalised; the number both records share stays with the first owner;
        # placeholders identify nobody.
        assert [tuple(r) for r in rows] == [(1, "phone", "13812345678"),
                                            (1, "email", "lin@example.com")]
        downgrade_to(engine, config, "0005")
        assert not {"service_slots", "customer_identities"} & set(
            inspect(engine).get_table_names())
