"""closed complaints' on-time figures per UTC hour and team, for the trends

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:10:00
"""

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

FIGURES = ("opened", "clocks_met", "clocks_decided", "cases_on_time", "cases_decided")
BATCH = 5_000

cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("process", sa.String),
                 sa.column("team", sa.String), sa.column("opened_at", sa.DateTime),
                 sa.column("closed_at", sa.DateTime))
clocks = sa.table("sla_clocks", sa.column("case_id", sa.Integer), sa.column("name", sa.String),
                  sa.column("state", sa.String), sa.column("breached_at", sa.DateTime))


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _closed_complaints() -> Iterator[tuple[str, datetime, int, int]]:
    """Each closed complaint's team, opening (naive UTC, as stored) and its first-response
    and resolution clocks met and missed. A closed complaint's clocks are stopped: missed
    is breached, met is stopped without a breach (as core.kpis counts them)."""
    met = sa.and_(clocks.c.state == "stopped", clocks.c.breached_at.is_(None))
    missed = clocks.c.breached_at.is_not(None)
    query = (sa.select(cases.c.team, cases.c.opened_at, _count_if(met), _count_if(missed))
             .select_from(cases.outerjoin(clocks, sa.and_(
                 clocks.c.case_id == cases.c.id,
                 clocks.c.name.in_(("first_response", "resolution")))))
             .where(cases.c.process == "complaint", cases.c.closed_at.is_not(None))
             .group_by(cases.c.id, cases.c.team, cases.c.opened_at))
    result = op.get_bind().execute(query.execution_options(yield_per=BATCH))
    for team, opened_at, n_met, n_missed in result:
        yield team, opened_at, int(n_met), int(n_missed)


def upgrade() -> None:
    op.create_table(
        'closed_complaint_hours',
        sa.Column('hour', sa.DateTime(), nullable=False),
        sa.Column('team', sa.String(length=80), nullable=False),
        sa.Column('opened', sa.Integer(), nullable=False),
        sa.Column('clocks_met', sa.Integer(), nullable=False),
        sa.Column('clocks_decided', sa.Integer(), nullable=False),
        sa.Column('cases_on_time', sa.Integer(), nullable=False),
        sa.Column('cases_decided', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'team'),
    )
    # The complaints closed before this upgrade, counted once now; later ones are added
    # by the transaction that closes them.
    totals: dict[tuple[datetime, str], list[int]] = {}
    for team, opened_at, met, missed in _closed_complaints():
        key = (opened_at.replace(minute=0, second=0, microsecond=0), team)
        row = totals.setdefault(key, [0, 0, 0, 0, 0])
        decided = met + missed > 0
        for i, value in enumerate((1, met, met + missed, int(decided and missed == 0),
                                   int(decided))):
            row[i] += value
    rows = [{"hour": hour, "team": team, **dict(zip(FIGURES, values, strict=True))}
            for (hour, team), values in sorted(totals.items())]
    table = sa.table("closed_complaint_hours", sa.column("hour", sa.DateTime),
                     sa.column("team", sa.String),
                     *[sa.column(name, sa.Integer) for name in FIGURES])
    for lo in range(0, len(rows), BATCH):
        op.get_bind().execute(table.insert(), rows[lo:lo + BATCH])


def downgrade() -> None:
    op.drop_table('closed_complaint_hours')
