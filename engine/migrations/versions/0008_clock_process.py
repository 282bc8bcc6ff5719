"""each SLA clock carries its case's process, for the on-time KPI over a whole process

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process', sa.String(length=40), nullable=True))
    # A case never changes process, so the copy made here stays true.
    op.execute("UPDATE sla_clocks SET process = "
               "(SELECT cases.process FROM cases WHERE cases.id = sla_clocks.case_id)")
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.alter_column('process', existing_type=sa.String(length=40), nullable=False)
        batch_op.create_index('ix_sla_clocks_on_time',
                              ['process', 'name', 'state', 'breached_at', 'due_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_on_time')
        batch_op.drop_column('process')
