"""escalation rungs fired, counted in the store for every process's /metrics

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


# Counting starts at the upgrade: rungs fired before it were counted only in the memory
# of the process that fired them, and a timer row does not say its rung's ladder level.
def upgrade() -> None:
    op.create_table(
        'rung_counts',
        sa.Column('process', sa.String(length=40), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('fired', sa.Integer(), nullable=False),
        sa.Column('lateness_seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('process', 'level', 'bucket'),
    )


def downgrade() -> None:
    op.drop_table('rung_counts')
