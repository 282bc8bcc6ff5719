"""crisis response: complaints linked to crises, and compensation once per customer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:30:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crisis_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crisis_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('linked_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('linked_by', sa.String(length=120), nullable=False),
    sa.Column('how', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['crisis_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('crisis_id', 'case_id', name='uq_crisis_links_crisis_case')
    )
    with op.batch_alter_table('crisis_links', schema=None) as batch_op:
        batch_op.create_index('ix_crisis_links_crisis_customer', ['crisis_id', 'customer_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_crisis_links_case_id'), ['case_id'], unique=False)

    op.create_table('crisis_compensations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crisis_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('run', sa.Integer(), nullable=False),
    sa.Column('issued_at', engine.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['crisis_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('crisis_id', 'customer_id',
                        name='uq_crisis_compensations_crisis_customer')
    )


def downgrade() -> None:
    op.drop_table('crisis_compensations')
    with op.batch_alter_table('crisis_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crisis_links_case_id'))
        batch_op.drop_index('ix_crisis_links_crisis_customer')
    op.drop_table('crisis_links')
