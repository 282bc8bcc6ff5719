"""A condition that a column is among many values, in the form each store takes best."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Engine, Integer, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def among(engine: Engine, column: Any, values: Collection[int] | Collection[str]
          ) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL, `column = ANY(array)`: one parameter whatever the
    count, where a storm's IN lists of thousands were as many parameters to bind, send and
    parse on every statement. SQLite has no arrays: there, IN with a parameter each."""
    if engine.dialect.name != "postgresql":
        return column.in_(values)
    item = String() if any(isinstance(value, str) for value in values) else Integer()
    return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
