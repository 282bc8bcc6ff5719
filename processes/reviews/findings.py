"""The improvement backlog: add findings (from reviews or by hand), dismiss, list, read.

A finding about one team is in the scope of that team's supervisors; a finding about
the whole service (no team, as reviews write them) is in every supervisor's, since each
acts on it in their teams. Managers and directors see and work every finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from core.queries import newest_first
from domain.access import Identity
from domain.calendars import BusinessCalendar
from domain.messages import MessageContext
from domain.policy import PolicySet
from domain.reviews.model import FindingSource, FindingSpec, FindingStatus, check_open
from engine.models import Case, Finding
from processes.pdca.cycles import CycleRequest, open_cycle

REVIEW_ACTOR = "system:reviews"
FOLLOWUP_ACTOR = "system:followup"


class FindingNotFound(LookupError):
    def __init__(self, finding_id: int) -> None:
        super().__init__(f"finding {finding_id} not found")
        self.finding_id = finding_id


def add_review_findings(session: Session, *, run_id: int, specs: Sequence[FindingSpec],
                        now: datetime) -> list[int]:
    """Add a run's findings in the caller's transaction; return their ids."""
    rows = [Finding(source=FindingSource.review, title=spec.title[:300],
                    description=spec.description, kpi=spec.kpi, figures=dict(spec.figures),
                    review_run_id=run_id, case_ids=list(spec.case_ids),
                    status=FindingStatus.open, created_at=now, created_by=REVIEW_ACTOR)
            for spec in specs]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows if row.id is not None]


def add_satisfaction_finding(session: Session, *, source: Case, recovery_id: int,
                             followup_id: int, agent: str | None, answer: Mapping[str, Any],
                             scores: Mapping[str, int], now: datetime,
                             messages: MessageContext) -> Finding:
    """Add a low satisfaction score to the backlog, in the caller's transaction; its text
    in the staff's languages (`messages`: the source case's team's), their own first."""
    m = messages
    comment = answer.get("comment")

    def rated(language: str) -> str:
        return m.text(language, ", ").join(f"{m.name(language, 'score', name)} {value}"
                                           for name, value in scores.items())

    def details(language: str) -> dict[str, object]:
        return {"case": source.id, "scores": rated(language), "recovery": recovery_id,
                "category": (m.name(language, "category", source.category)
                             if source.category else m.text(language, "no category")),
                "channel": (m.name(language, "channel", source.channel)
                            if source.channel else m.text(language, "unknown")),
                "agent": agent or m.text(language, "nobody"),
                "via": m.name(language, "via", str(answer["via"]))}

    title = m.staff(lambda language: m.text(
        language, "Low satisfaction after case #{case}: {scores}", **details(language)), " / ")
    description = m.staff(lambda language: m.text(
        language, "The customer rated case #{case} ({category}, channel {channel}, handled by "
        "{agent}) {scores} via {via}. Recovery case #{recovery} is open.", **details(language)),
        "\n")
    if comment:  # the customer's own words, as they wrote them
        description += "\n" + m.staff(lambda language: m.text(
            language, "They said: {comment}", comment=comment), " / ")
    row = Finding(
        source=FindingSource.satisfaction, title=title[:300], description=description,
        figures={**scores, "via": answer["via"], "followup": followup_id, "agent": agent},
        team=source.team, case_ids=[source.id or 0, recovery_id], status=FindingStatus.open,
        created_at=now, created_by=FOLLOWUP_ACTOR)
    session.add(row)
    session.flush()
    return row


def add_finding(session: Session, *, title: str, description: str, by: Identity,
                now: datetime, kpi: str | None = None, team: str | None = None,
                case_ids: Sequence[int] = (), figures: dict[str, Any] | None = None,
                source: FindingSource = FindingSource.manual) -> Finding:
    """Add a finding by hand and commit it."""
    row = Finding(source=source, title=title, description=description, kpi=kpi,
                  figures=figures or {}, team=team, case_ids=list(case_ids),
                  status=FindingStatus.open, created_at=now, created_by=by.name)
    session.add(row)
    session.commit()
    return row


def _in_scope(reader: Identity) -> list[Any]:
    if not reader.team_scoped:
        return []
    # A service-wide finding is acted on team by team: every supervisor gets it (its
    # other teams' figures are left out where it is shown, `visible_figures`).
    return [or_(col(Finding.team).in_(sorted(reader.teams)), col(Finding.team).is_(None))]


def visible_figures(row: Finding, reader: Identity) -> dict[str, Any]:
    """The finding's figures as `reader` may see them: per team, only their teams'."""
    by_team = row.figures.get("by_team")
    if not reader.team_scoped or not isinstance(by_team, dict):
        return dict(row.figures)
    return {**row.figures, "by_team": {team: figures for team, figures in by_team.items()
                                       if team in reader.teams}}


def get_finding(session: Session, finding_id: int, reader: Identity) -> Finding:
    """Load a finding in the reader's scope, else raise `FindingNotFound`."""
    row = session.exec(select(Finding).where(Finding.id == finding_id,
                                             *_in_scope(reader))).first()
    if row is None:
        raise FindingNotFound(finding_id)
    return row


def _open_for_update(session: Session, finding_id: int, by: Identity, action: str) -> Finding:
    row = session.exec(select(Finding).where(Finding.id == finding_id, *_in_scope(by))
                       .with_for_update()).first()
    if row is None:
        raise FindingNotFound(finding_id)
    check_open(finding_id, row.status, action)
    return row


def dismiss_finding(session: Session, finding_id: int, *, reason: str, by: Identity,
                    now: datetime) -> Finding:
    """Dismiss an open finding with a reason and commit; a closed one is refused (409)."""
    row = _open_for_update(session, finding_id, by, "dismissed")
    row.status = FindingStatus.dismissed
    row.dismissed_at, row.dismissed_by, row.dismiss_reason = now, by.name, reason
    session.add(row)
    session.commit()
    return row


def promote_finding(session: Session, finding_id: int, *, plan: Mapping[str, Any],
                    by: Identity, policies: PolicySet,
                    calendars: Mapping[str, BusinessCalendar], now: datetime,
                    ) -> tuple[Finding, Case]:
    """Open a PDCA cycle for an open finding, linked to it, its run and its cases; commit."""
    row = _open_for_update(session, finding_id, by, "promoted")
    links = {"findings": [finding_id], "cases": list(row.case_ids),
             "review_runs": [row.review_run_id] if row.review_run_id else []}
    cycle = open_cycle(session, request=CycleRequest(plan=plan, team=row.team, links=links),
                       actor=by.name, actor_kind=by.kind, policies=policies,
                       calendars=calendars, now=now)
    row.status, row.promoted_at, row.pdca_cycle_id = FindingStatus.promoted, now, cycle.id
    session.add(row)
    session.commit()
    return row, cycle


def list_findings(session: Session, reader: Identity, *, status: str | None = None,
                  source: str | None = None, limit: int = 50, before_id: int | None = None
                  ) -> tuple[list[Finding], int | None]:
    """List findings newest first, keyset-paginated; return the page and next cursor."""
    query = select(Finding).where(*_in_scope(reader))
    if status is not None:
        query = query.where(Finding.status == status)
    if source is not None:
        query = query.where(Finding.source == source)
    return newest_first(session, query, col(Finding.id), limit=limit, before_id=before_id)
