"""Many rows in one statement on PostgreSQL: the rows as one JSON document.

`executemany` sends a statement per row (psycopg pipelines them, but each row's
parameters are still built, converted and sent one by one: for a storm's chunk, as much
of the sweeper's time as its decisions), and so do arrays, whose every element psycopg
converts in Python. Here a table's rows go as one JSON text, which orjson writes at C
speed and the server turns back into typed rows (`json_to_recordset`): one statement and
one parameter, whatever the count. Times are sent with their offset and stored as UTC,
as `UtcDateTime` stores them; a JSON column's value is kept as the document has it
(the text `json_text` writes); rows keep their order (ids from a sequence follow it).

The intake's batch writes all its tables' rows the same way, in one statement of
data-modifying CTEs (`TablesAtOnce`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, ColumnDefault, Connection, Table, text

from engine.db import json_text
from engine.models import TeamMember, UtcDateTime, table_of


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


class TablesAtOnce:
    """One PostgreSQL statement that inserts the rows of several tables and changes team
    members' loads: each table's rows bound as one JSON array, made into rows by
    `json_populate_recordset` with the table's own row type, each insert (and the loads'
    update) a data-modifying CTE. The foreign keys between the tables are checked at
    the statement's end, when all its rows are in.

    A statement for each table, its rows bound and executed one by one (executemany),
    cost SQLAlchemy's and psycopg's work for each row (two thirds of the intake writer's
    CPU), and the server a Bind and an Execute for each. An array a column, unnested,
    cost as much again in psycopg's conversion of each array (in Python); orjson writes
    a table's rows as one JSON text for a tenth of that. The statement's text stays
    under psycopg's 4 KB limit for the statements whose parsing it keeps, and it is the
    same for every batch (a table without rows binds `[]`), so the server prepares it.
    """

    def __init__(self) -> None:
        self._built: dict[tuple[bool, ...], Any] = {}

    def run(self, connection: Connection, rows: list[tuple[Table, list[dict[str, Any]]]],
            loads: list[dict[str, Any]]) -> None:
        """Insert `rows` (each table's, in the order given) and apply the `loads` changes
        (`engine.store.MemberLoads`'), with one statement."""
        if not loads and not any(values for _, values in rows):
            return
        # A table whose rows give their ids (taken first) inserts them; else its sequence's.
        with_ids = tuple(bool(values) and "id" in values[0] for _, values in rows)
        statement = self._built.get(with_ids)
        if statement is None:
            statement = self._built[with_ids] = self._build(
                connection, [table for table, _ in rows], with_ids)
        params = {table.name: _json_rows(table, values, ids)
                  for (table, values), ids in zip(rows, with_ids, strict=True)}
        params["loads"] = json_text([
            {"team": change["queue"], "person": change["member"], "shift": change["by"],
             "at": _UTC.process_bind_param(change["at"], connection.dialect)}
            for change in loads])
        connection.execute(statement, params)

    @staticmethod
    def _build(connection: Connection, tables: list[Table], with_ids: tuple[bool, ...]
               ) -> Any:
        quote = connection.dialect.identifier_preparer.quote
        ctes = []
        for table, ids in zip(tables, with_ids, strict=True):
            columns = ", ".join(quote(c.key) for c in table.c if ids or c.key != "id")
            ctes.append(f"new_{table.name} AS (INSERT INTO {quote(table.name)} ({columns}) "
                        f"SELECT {columns} FROM json_populate_recordset("
                        f"NULL::{quote(table.name)}, CAST(:{table.name} AS json)))")
        members, team, person = (quote(MEMBERS.name), quote(MEMBERS.c.team.key),
                                 quote(MEMBERS.c.person.key))
        open_cases, last = quote(MEMBERS.c.open_cases.key), quote(MEMBERS.c.last_assigned_at.key)
        # The rows locked in one order, (team, person), as every transaction locks them:
        # an update's own order is its plan's. The last assignment only moves forward: a
        # batch that read the loads before another committed may commit after it.
        ctes.append(
            f"loads AS (UPDATE {members} AS m SET {open_cases} = m.{open_cases} + d.shift, "
            f"{last} = greatest(d.at, m.{last}) FROM (SELECT t.{team}, t.{person}, c.shift, "
            f"c.at FROM {members} AS t JOIN json_to_recordset(CAST(:loads AS json)) "
            f"AS c(team text, person text, shift integer, at timestamp) "
            f"ON t.{team} = c.team AND t.{person} = c.person "
            f"ORDER BY t.{team}, t.{person} FOR UPDATE OF t) AS d "
            f"WHERE m.{team} = d.{team} AND m.{person} = d.{person})")
        return text("WITH " + ", ".join(ctes) + " SELECT 1")


def _json_rows(table: Table, rows: list[dict[str, Any]], ids: bool) -> str:
    """`rows` of `table` as one JSON array, every column given (a missing one has its
    default, as an insert of that row gives it), times in UTC.

    A time already in UTC goes as it is: the server reads its text (`+00:00`) into the
    column's `timestamp` as that time, and converting each of a complaint's 28 times
    was a tenth of the writer's work. Other zones are converted first, since the server
    drops the offset of a text it reads into a `timestamp`."""
    if not rows:
        return "[]"
    defaults, times = _row_plan(table, ids)
    written = []
    for row in rows:
        values = {**defaults, **row}
        for key in times:
            value = values[key]
            if value is not None and value.tzinfo is not UTC:
                values[key] = _in_utc(value)
        written.append(values)
    return json_text(written)


def _in_utc(value: datetime) -> datetime:
    """An aware time in UTC; a naive one is refused, as `UtcDateTime` refuses it."""
    if value.tzinfo is None:
        raise ValueError("store timezone-aware datetimes only")
    return value.astimezone(UTC)


@cache
def _row_plan(table: Table, ids: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The columns a JSON row of `table` gives, with their defaults (the id only when
    the rows give theirs), and those of them that hold times."""
    defaults = {key: value for key, value in column_defaults(table).items()
                if ids or key != "id"}
    return defaults, tuple(key for key in time_columns(table) if key in defaults)


@cache
def column_defaults(table: Table) -> dict[str, Any]:
    """A column not given in a row has its scalar default, as an insert of that row gives
    it."""
    return {c.key: c.default.arg if isinstance(c.default, ColumnDefault) else None
            for c in table.c}


@cache
def time_columns(table: Table) -> list[str]:
    """The columns of `table` that hold times (`UtcDateTime`)."""
    return [c.key for c in table.c if isinstance(c.type, UtcDateTime)]


MEMBERS = table_of(TeamMember)
_UTC = UtcDateTime()
TABLES_AT_ONCE = TablesAtOnce()
