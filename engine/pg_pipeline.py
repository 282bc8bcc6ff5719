"""A transaction's statements sent together on PostgreSQL: a round trip for many.

psycopg begins a transaction by itself before a connection's first statement, and waits
for the BEGIN's answer before it sends that statement; its COMMIT is a round trip of its
own too; and SQLAlchemy reads a statement's columns as soon as it runs, so the reads of
a transaction cannot share a pipeline. The intake writer's batch (its key check, ids,
customers and team loads read, then its rows written) was so seven round trips, each a
wake-up of the server and of the writer, and SQLAlchemy's work for each statement.

Here a transaction on a connection in autocommit mode (psycopg sends nothing of its own
there) is begun by a statement sent with its reads (`begin_with`), and committed by one
sent with its last writes (`commit_with`): two round trips. Whatever runs between them
on the connection runs in that transaction, as the server sees it; a connection given
back to the pool in the middle is rolled back there, as any is.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from sqlalchemy import Connection, Select


class DriverQuery:
    """A SQLAlchemy Core SELECT run by psycopg itself, so that several go in one pipeline.

    Compiled once for the connection's dialect. Its parameters are plain values that
    psycopg adapts as they are (integers, texts, lists of them for `= ANY(...)`), given
    by their bind names; its rows come back as named tuples of its columns' keys, each
    value as the column's type reads it (a `UtcDateTime` aware, in UTC).
    """

    def __init__(self, statement: Select[Any], *, prepare: bool | None = None) -> None:
        """`prepare`: False for a query whose best plan depends on its parameters' values,
        planned anew at each run; else psycopg's default (prepared from its fifth run)."""
        self._statement = statement
        self._prepare = prepare
        self._built: tuple[str, dict[str, Any], Any, list[Any]] | None = None

    def send(self, connection: Connection, params: Mapping[str, Any]) -> psycopg.Cursor[Any]:
        """Run the query on `connection`'s driver connection: in a pipeline, queued."""
        sql, defaults, _, _ = self._build(connection)
        return driver_of(connection).execute(sql, {**defaults, **params},
                                             prepare=self._prepare)

    def rows(self, connection: Connection, cursor: psycopg.Cursor[Any]) -> list[Any]:
        """The rows `cursor` (from `send`) answered, as named tuples."""
        _, _, row, convert = self._build(connection)
        return [row(*(value if read is None else read(value)
                      for value, read in zip(values, convert, strict=True)))
                for values in cursor.fetchall()]

    def _build(self, connection: Connection) -> tuple[str, dict[str, Any], Any, list[Any]]:
        if self._built is None:
            dialect = connection.dialect
            compiled = self._statement.compile(dialect=dialect)
            columns = list(self._statement.selected_columns)
            self._built = (
                compiled.string, dict(compiled.params),
                namedtuple("row", [column.key for column in columns]),  # type: ignore[misc]
                [column.type.result_processor(dialect, None) for column in columns])
        return self._built


def driver_of(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under `connection`."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("not a psycopg connection")
    return driver


def begin_with(connection: Connection,
               reads: Mapping[str, tuple[DriverQuery, Mapping[str, Any]]]
               ) -> dict[str, list[Any]]:
    """Begin a transaction on `connection` (in autocommit mode) and run `reads` (each a
    query and its parameters, by name) in it, in one round trip: each one's rows."""
    driver = driver_of(connection)
    with driver.pipeline():
        driver.execute("BEGIN")
        cursors = {name: query.send(connection, params)
                   for name, (query, params) in reads.items()}
    return {name: query.rows(connection, cursors[name])
            for name, (query, _) in reads.items()}


def commit_with(connection: Connection, writes: Callable[[], None]) -> None:
    """Run `writes` (statements whose answers nobody reads) and commit the transaction
    `begin_with` began, in one round trip. An error in any of them is raised, and
    leaves the transaction to be rolled back."""
    driver = driver_of(connection)
    with driver.pipeline():
        writes()
        driver.execute("COMMIT")
