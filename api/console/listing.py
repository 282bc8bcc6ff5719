"""The open cases of one process, for the pages that list a few of them (crises, PDCA
cycles): read through the (process, stage) index, never by scanning every case."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.queries import in_scope
from domain.access import Identity
from domain.catalogue import definition
from engine.models import Case


def open_cases(session: Session, process: str, reader: Identity, *, limit: int) -> list[Any]:
    """The newest open cases of `process` that `reader` may read, at most `limit`.

    Listing a process's cases newest first by id alone (`core.queries.list_cases`) walks
    the cases from the newest until it finds enough: on a store of 100,000 complaints
    and no crisis, every one of them. Naming the open stages lets the store use its
    (process, stage) index, and a process has few open cases of this kind.
    """
    table = definition(process).TABLE
    stages = [stage for stage in table.stages if stage not in table.final_stages]
    return list(session.exec(select(Case).where(
        col(Case.process) == process, col(Case.stage).in_(stages), *in_scope(reader))
        .order_by(col(Case.id).desc()).limit(limit)))
