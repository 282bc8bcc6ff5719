"""Alembic environment: runs on the connection `engine.db.migrate` hands it."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import processes.registry  # noqa: F401  (its TABLES: the tables processes declare)

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # `alembic revision --autogenerate` from the command line.
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError(f"{config.config_file_name}: no sqlalchemy.url")
        engine = create_engine(url)
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
