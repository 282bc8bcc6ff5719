"""Statements that every request runs, sent straight to the SQLite driver.

SQLAlchemy's execution of a statement (its execution context, parameter handling and
result set-up) costs 20-60 µs of CPU; SQLite itself takes 2-5 µs for the small
statements of an intake. A complaint's intake runs about ten, in the one writer that
all intakes queue for, so that machinery was half of the writer's time. A `Direct`
statement is compiled by SQLAlchemy once per set of parameter names, and then runs on
the driver's cursor of the caller's connection, inside the caller's transaction, with
the same type conversions SQLAlchemy would apply (its own bind and result processors).

On PostgreSQL, where the round trip to the server dwarfs that machinery, and on any
other store, the statement runs through SQLAlchemy as usual: the answer has the same
shape either way (`first`, `one`, `all`, `scalar`, `scalar_one`, rows with attributes).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import ArgumentError, DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import ClauseElement, Executable, Insert
from sqlmodel import Session

from engine.db import sqlite_driver

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None
_T = TypeVar("_T")


class DirectResult:
    """The rows a `Direct` statement returned, read like SQLAlchemy's `Result`."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def scalar(self) -> Any | None:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Bind(NamedTuple):
    """One of the driver's positional parameters: the caller's value named `name`, or
    a `fixed` one (a literal in the statement, a column's scalar default), converted."""

    name: str
    given: bool
    fixed: Any
    convert: Processor


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for SQLite with one set of parameter names: its SQL, how to
    make the driver's parameters from the caller's, and how to make rows of its answer."""

    sql: str
    binds: tuple[_Bind, ...]  # in the driver's positional order
    row: Any  # the namedtuple class of a returned row, or None
    results: tuple[Processor, ...]

    def parameters(self, params: Params) -> list[Any]:
        values = []
        for name, given, fixed, convert in self.binds:  # a tuple each: unpacked, not looked up
            value = params[name] if given else fixed
            values.append(value if convert is None else convert(value))
        return values

    def make_row(self, raw: Sequence[Any]) -> Any:
        return self.row._make([value if convert is None else convert(value)
                               for value, convert in zip(raw, self.results, strict=True)])


class Direct:
    """A Core statement that runs on the SQLite driver's cursor (see the module's note)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[frozenset[str], _Plan] = {}
        self._returning_ids: Any = None  # `inserted_ids` off SQLite: the insert RETURNING them

    def inserted_ids(self, db: Session | Connection, rows: Sequence[Params]) -> list[int]:
        """Insert `rows` with this INSERT (one without RETURNING) and return their new
        primary keys, in order. On SQLite each is the driver's `lastrowid`, so no row is
        read back and converted; elsewhere one INSERT RETURNING them all runs."""
        if not rows:
            return []
        connection = connection_of(db)
        if connection.dialect.name != "sqlite":
            if self._returning_ids is None:
                assert isinstance(self.statement, Insert), "inserted_ids needs an INSERT"
                table = self.statement.table
                assert isinstance(table, Table), "into a table, which has a primary key"
                self._returning_ids = self.statement.returning(
                    *table.primary_key.columns, sort_by_parameter_order=True)
            return list(connection.execute(self._returning_ids, list(rows)).scalars())
        return self._on_cursor(connection, rows, _new_ids)

    def execute(self, db: Session | Connection,
                params: Params | Sequence[Params] | None = None) -> Any:
        """Run the statement in `db`'s transaction: one set of parameters, or many (an
        insert of many rows); the answer is a `DirectResult`, or SQLAlchemy's `Result`
        off SQLite."""
        connection = connection_of(db)
        if connection.dialect.name != "sqlite":
            assert isinstance(self.statement, Executable)  # a statement, not a clause
            return connection.execute(self.statement, params)
        many = params if isinstance(params, Sequence) else [params or {}]
        if not many:
            return DirectResult([])
        return self._on_cursor(connection, many, _run)

    def _on_cursor(self, connection: Connection, many: Sequence[Params],
                   work: Callable[[Any, _Plan, Sequence[Params]], _T]) -> _T:
        """`work(cursor, plan, many)` on the driver's cursor in `connection`'s transaction."""
        if not connection.in_transaction():
            connection.begin()  # as SQLAlchemy's own first statement would
        plan = self._plan(connection.dialect, many[0])
        cursor = sqlite_driver(connection).cursor()
        try:
            return work(cursor, plan, many)
        except connection.dialect.loaded_dbapi.Error as exc:
            # Wrapped as SQLAlchemy wraps it, so that callers catching its IntegrityError
            # or OperationalError (a race to retry) catch this too.
            raise DBAPIError.instance(plan.sql, many, exc, connection.dialect.loaded_dbapi.Error,
                                      dialect=connection.dialect) from exc
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, params: Params) -> _Plan:
        names = frozenset(params)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = _compile(self.statement, dialect, names)
        return plan


def _run(cursor: Any, plan: _Plan, many: Sequence[Params]) -> DirectResult:
    if plan.row is None:
        if len(many) == 1:
            cursor.execute(plan.sql, plan.parameters(many[0]))
        else:
            cursor.executemany(plan.sql, [plan.parameters(p) for p in many])
        return DirectResult([])
    rows = []
    for one in many:  # the driver returns no rows from executemany
        cursor.execute(plan.sql, plan.parameters(one))
        rows += [plan.make_row(raw) for raw in cursor.fetchall()]
    return DirectResult(rows)


def _new_ids(cursor: Any, plan: _Plan, rows: Sequence[Params]) -> list[int]:
    ids = []
    for row in rows:
        cursor.execute(plan.sql, plan.parameters(row))
        ids.append(cursor.lastrowid)
    return ids


def connection_of(db: Session | Connection) -> Connection:
    """The connection of `db`'s transaction, a session's pending changes flushed to it."""
    if isinstance(db, Session):
        if db.autoflush:  # as Session.execute does: the statement sees pending changes
            db.flush()
        return db.connection()
    return db


def _compile(statement: ClauseElement, dialect: Dialect, names: frozenset[str]) -> _Plan:
    # The parameters' names decide which columns an insert or update sets, as they
    # do in SQLAlchemy's own execution.
    compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(names))
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("a Direct statement takes no expanding (IN list) parameters")
    defaults = {}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default if column in compiled.insert_prefetch else column.onupdate
        if default is None or not default.is_scalar:
            raise ValueError(f"{column} has a default that only SQLAlchemy's execution "
                             "computes: give its value, or run the statement through it")
        defaults[column.key] = default.arg
    binds = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in names:
            binds.append(_Bind(name, True, None, convert))
        elif name in defaults:
            binds.append(_Bind(name, False, defaults[name], convert))
        elif not bind.required:
            binds.append(_Bind(name, False, bind.effective_value, convert))
        else:
            raise ArgumentError(f"a value is required for the parameter {name!r}")
    columns = list(getattr(statement, "exported_columns", ()))
    return _Plan(
        sql=compiled.string, binds=tuple(binds),
        row=namedtuple("Row", [column.key for column in columns]) if columns else None,  # noqa: PYI024
        results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in columns))
