"""indexes of the trends and worklists

Open cases by opening, a clock's outcome by case, surveys by sending.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index('ix_cases_open_by_opening', 'cases', ['process', 'opened_at', 'team'],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_sla_clocks_case_outcome', 'sla_clocks',
                    ['case_id', 'name', 'state', 'breached_at', 'due_at', 'warn_at'])
    op.create_index('ix_surveys_issued_at', 'surveys', ['issued_at'])


def downgrade() -> None:
    op.drop_index('ix_surveys_issued_at', table_name='surveys')
    op.drop_index('ix_sla_clocks_case_outcome', table_name='sla_clocks')
    op.drop_index('ix_cases_open_by_opening', table_name='cases')
