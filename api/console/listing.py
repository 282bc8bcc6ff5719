"""The open cases of one process, for the pages that list a few of them (crises, PDCA
cycles): read through the (process, stage) index, never by scanning every case."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.queries import in_scope
from domain.access import Identity
from domain.catalogue import definition
from engine.models import Case

MOST = 1000  # open crises or cycles read at most, before the newest are kept


def open_cases(session: Session, process: str, reader: Identity, *, limit: int) -> list[Any]:
    """The newest open cases of `process` that `reader` may read, at most `limit`.

    Listing a process's cases newest first by id alone (`core.queries.list_cases`) walks
    the cases from the newest until it finds enough: on a store of 100,000 complaints
    and no crisis, every one of them. Naming the open stages lets the store use its
    (process, stage) index, and a process has few open cases of this kind.
    """
    table = definition(process).TABLE
    stages = [stage for stage in table.stages if stage not in table.final_stages]
    # One equality per stage: the store's statistics see that nearly every case is a
    # complaint, so for `stage IN (...)`, or with ORDER BY id, SQLite scans the whole
    # table (570 ms on 1,000,000 cases with no crisis); `process = ? AND stage = ?` is an
    # index search (0.1 ms). The open cases of such a process are few.
    found = [case for stage in stages for case in session.exec(select(Case).where(
        col(Case.process) == process, col(Case.stage) == stage, *in_scope(reader))
        .limit(MOST))]
    return sorted(found, key=lambda case: -(case.id or 0))[:limit]
