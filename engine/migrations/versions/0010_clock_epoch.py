"""the fast clock's epoch, kept in the store so that every instance keeps one time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:30:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clock_epoch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speed', sa.Float(), nullable=False),
    sa.Column('started_at', engine.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('clock_epoch')
