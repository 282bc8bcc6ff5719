"""index of the running clocks with their cases

The clocks by state and due time with their id, case and warning time: the queue's walk
and the workload's overdue and at-risk cases read it alone.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 21:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_sla_clocks_state_due_case', 'sla_clocks',
                    ['state', 'due_at', 'id', 'case_id', 'warn_at'])
    # The new index's statistics now, on both stores (as 0019 does for the cases', and
    # as there not on an empty store).
    if op.get_bind().execute(sa.text('SELECT 1 FROM sla_clocks LIMIT 1')).first() is not None:
        op.execute('ANALYZE sla_clocks')


def downgrade() -> None:
    op.drop_index('ix_sla_clocks_state_due_case', table_name='sla_clocks')
