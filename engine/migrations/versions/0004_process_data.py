"""process data on cases, and cases without a customer (PDCA cycles)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('data', sa.JSON(), nullable=False, server_default='{}'))
        batch.alter_column('customer_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('tier', existing_type=sa.String(length=8), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.alter_column('tier', existing_type=sa.String(length=8), nullable=False)
        batch.alter_column('customer_id', existing_type=sa.Integer(), nullable=False)
        batch.drop_column('data')
