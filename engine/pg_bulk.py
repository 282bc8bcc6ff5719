"""Many rows in one statement on PostgreSQL: the rows as one JSON document.

`executemany` sends a statement per row (psycopg pipelines them, but each row's
parameters are still built, converted and sent one by one: for a storm's chunk, as much
of the sweeper's time as its decisions), and so do arrays, whose every element psycopg
converts in Python. Here a table's rows go as one JSON text, which orjson writes at C
speed and the server turns back into typed rows (`json_to_recordset`): one statement and
one parameter, whatever the count. Times are sent with their offset and stored as UTC,
as `UtcDateTime` stores them; a JSON column's value is kept as the document has it
(the text `json_text` writes); rows keep their order (ids from a sequence follow it).

The intake's batch writes its tables' rows the same way, all in one statement of
data-modifying CTEs (`engine.store`, `_AtOnce`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Connection, Table, text

from engine.db import json_text
from engine.models import UtcDateTime


def update_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str], key: str = "row_id") -> None:
    """Set `columns` of each row of `table` whose id is the row's `key`."""
    if not rows:
        return
    sets = ", ".join(f'"{name}" = {_value(table.c[name])}' for name in columns)
    record = ", ".join([f'"{key}" integer', *(_field(connection, table.c[name])
                                              for name in columns)])
    connection.execute(text(
        f'UPDATE "{table.name}" SET {sets} FROM json_to_recordset(:rows) AS v({record}) '
        f'WHERE "{table.name}".id = v."{key}"'), {"rows": json_text(list(rows))})


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
                ) -> None:
    """Insert `rows` (the columns of the first in each), in their order."""
    if not rows:
        return
    names = list(rows[0])
    quoted = ", ".join(f'"{name}"' for name in names)
    values = ", ".join(_value(table.c[name]) for name in names)
    record = ", ".join(_field(connection, table.c[name]) for name in names)
    connection.execute(text(
        f'INSERT INTO "{table.name}" ({quoted}) SELECT {values} FROM ROWS FROM '
        f'(json_to_recordset(:rows) AS ({record})) WITH ORDINALITY AS v({quoted}, n) '
        f'ORDER BY v.n'), {"rows": json_text(list(rows))})


def _field(connection: Connection, column: Column[Any]) -> str:
    """The column as a field of the document's rows, with its type there."""
    if isinstance(column.type, JSON):
        kind = "json"
    elif isinstance(column.type, UtcDateTime):
        kind = "timestamptz"  # the offset the text gives, made UTC in `_value`
    else:
        kind = column.type.compile(dialect=connection.dialect)
    return f'"{column.name}" {kind}'


def _value(column: Column[Any]) -> str:
    """The column's value from the document's row `v`."""
    value = f'v."{column.name}"'
    return f"({value} AT TIME ZONE 'UTC')" if isinstance(column.type, UtcDateTime) else value
