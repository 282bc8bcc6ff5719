"""A condition that a column is among many ids, in the form each store takes best."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Engine, Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def among(engine: Engine, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL, `column = ANY(array)`: one parameter whatever the
    count, where a storm's IN lists of thousands were as many parameters to bind, send and
    parse on every statement. SQLite has no arrays: there, IN with a parameter each."""
    if engine.dialect.name != "postgresql":
        return column.in_(ids)
    return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer())))
