"""Who may read reports and work the improvement backlog, as FastAPI dependencies.

Reports and findings are read by supervisors (their teams' figures), managers and
directors, who also add, dismiss and promote findings (supervisors those of their teams
and the service-wide ones); only the scheduler triggers a review
(`Permission.run_reviews`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.auth import Caller
from domain.access import Identity, Permission

ReportReaderDep = Annotated[Identity, Depends(Caller(Permission.read_reports))]
BacklogEditorDep = Annotated[Identity, Depends(Caller(Permission.manage_backlog))]
SchedulerDep = Annotated[Identity, Depends(Caller(Permission.run_reviews))]


def team_scope(reader: Identity) -> frozenset[str] | None:
    """Give the teams a reader's figures are limited to; None for every team."""
    return reader.teams if reader.team_scoped else None
