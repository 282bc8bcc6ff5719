"""satisfaction follow-up: surveys and their answers, customers' opt-out and preferred channel

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('followup_case_id', sa.Integer(), nullable=False),
    sa.Column('source_case_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=120), nullable=True),
    sa.Column('sent_via', sa.String(length=20), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('issued_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('expires_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('reminded_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('consumed_at', engine.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['followup_case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['source_case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('followup_case_id'),
    sa.UniqueConstraint('nonce')
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index('ix_surveys_customer_issued', ['customer_id', 'issued_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_surveys_source_case_id'), ['source_case_id'],
                              unique=False)

    op.create_table('survey_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('nps', sa.Integer(), nullable=True),
    sa.Column('speed', sa.Integer(), nullable=True),
    sa.Column('attitude', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('answered_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id')
    )
    # Existing customers have not opted out and have no preference: as before.
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_opt_out', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('preferred_channel', sa.String(length=20),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('preferred_channel')
        batch_op.drop_column('survey_opt_out')
    op.drop_table('survey_answers')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surveys_source_case_id'))
        batch_op.drop_index('ix_surveys_customer_issued')
    op.drop_table('surveys')
