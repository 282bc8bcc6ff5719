"""indexes of the supervisors' worklists: open cases by team, person and process; breaches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# Partial indexes, on both databases: only the open cases, a few percent of a year's,
# and only the clocks that breached.
OPEN = sa.text("closed_at IS NULL")
BREACHED = sa.text("breached_at IS NOT NULL")


def upgrade() -> None:
    op.create_index('ix_cases_open_by_team', 'cases',
                    ['team', 'assignee', 'process', 'priority', 'stage'],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_cases_open_by_assignee', 'cases', ['assignee', 'team', 'opened_at'],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_cases_open_by_process', 'cases', ['process', 'priority', 'stage'],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_sla_clocks_breached_at', 'sla_clocks', ['breached_at'],
                    sqlite_where=BREACHED, postgresql_where=BREACHED)


def downgrade() -> None:
    op.drop_index('ix_sla_clocks_breached_at', table_name='sla_clocks')
    op.drop_index('ix_cases_open_by_process', table_name='cases')
    op.drop_index('ix_cases_open_by_assignee', table_name='cases')
    op.drop_index('ix_cases_open_by_team', table_name='cases')
