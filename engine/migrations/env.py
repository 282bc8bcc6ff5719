"""Alembic environment: runs on the connection `engine.db.migrate` hands it, or, from the
alembic command line, on the service's store."""

from alembic import context
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import processes.registry  # noqa: F401  (its TABLES: the tables processes declare)
from core.settings import Settings
from engine.db import make_engine

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # The alembic command line (`upgrade head`, `revision --autogenerate`): the store
        # alembic.ini names, else the service's.
        url = config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                if connection.dialect.name == "sqlite":
                    # As engine.db.migrate: SQLite's batch copies of tables need it off.
                    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                    connection.commit()
                context.configure(connection=connection, target_metadata=target_metadata,
                                  render_as_batch=True)
                with context.begin_transaction():
                    context.run_migrations()
        finally:
            engine.dispose()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
