"""The cases of one process under way or ended, for the pages that list a few of them
(crises, PDCA cycles), newest first and paged: read through the (process, stage) index,
never by scanning every case."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.queries import in_scope
from domain.access import Identity
from domain.catalogue import definition
from engine.models import Case

STATES = ("open", "ended")  # a page's choice: under way, or closed (or dismissed)


def state_of(value: str | None) -> str:
    """The listing a page was asked for: `ended`, or else what is under way."""
    return value if value in STATES else "open"


def cursor_of(value: str | None) -> int | None:
    """A page's `before` cursor (a case or finding id), or None for the first page."""
    return int(value) if value and value.isdigit() else None


def process_cases(session: Session, process: str, reader: Identity, *, ended: bool,
                  limit: int, before_id: int | None = None) -> tuple[list[Any], int | None]:
    """The newest cases of `process` that `reader` may read, under way or `ended`, older
    than `before_id`: at most `limit`, and the cursor of the next page (None at the end).

    Listing a process's cases newest first by id alone (`core.queries.list_cases`) walks
    the cases from the newest until it finds enough: on a store of 100,000 complaints
    and no crisis, every one of them. Naming the stages lets the store use its
    (process, stage) index, whose entries of one stage are in id order.
    """
    table = definition(process).TABLE
    stages = [stage for stage in table.stages if (stage in table.final_stages) == ended]
    older = [col(Case.id) < before_id] if before_id is not None else []
    # One equality per stage: the store's statistics see that nearly every case is a
    # complaint, so for `stage IN (...)` SQLite scans the whole table (570 ms on
    # 1,000,000 cases with no crisis); `process = ? AND stage = ?` is an index search.
    found = [case for stage in stages for case in session.exec(
        select(Case).where(col(Case.process) == process, col(Case.stage) == stage,
                           *older, *in_scope(reader))
        .order_by(col(Case.id).desc()).limit(limit + 1))]
    found.sort(key=lambda case: -(case.id or 0))
    page = found[:limit]
    return page, (page[-1].id if len(found) > limit else None)
