"""periodic reviews, the improvement backlog, and customers' birthday and greeting consent

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review', sa.String(length=60), nullable=False),
    sa.Column('computes', sa.String(length=40), nullable=False),
    sa.Column('period_start', engine.models.UtcDateTime(), nullable=False),
    sa.Column('period_end', engine.models.UtcDateTime(), nullable=False),
    sa.Column('slot_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('trigger', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('finished_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('published_at', engine.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('review', 'period_start', name='uq_review_runs_review_period')
    )
    with op.batch_alter_table('review_runs', schema=None) as batch_op:
        batch_op.create_index('ix_review_runs_status_published', ['status', 'published_at'],
                              unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kpi', sa.String(length=60), nullable=True),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('team', sa.String(length=80), nullable=True),
    sa.Column('review_run_id', sa.Integer(), nullable=True),
    sa.Column('case_ids', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('dismissed_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('dismissed_by', sa.String(length=120), nullable=True),
    sa.Column('dismiss_reason', sa.String(length=2000), nullable=True),
    sa.Column('promoted_at', engine.models.UtcDateTime(), nullable=True),
    # No foreign key yet: the PDCA cycles table arrives with the next revision.
    sa.Column('pdca_cycle_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['review_run_id'], ['review_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('review_run_id', 'kpi', name='uq_findings_run_kpi')
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_pdca_cycle_id'), ['pdca_cycle_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_findings_review_run_id'), ['review_run_id'],
                              unique=False)
        batch_op.create_index('ix_findings_status_source', ['status', 'source'], unique=False)

    # Existing customers have given no consent: greetings stay off until they do.
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('greetings_consent', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('greetings_consent')
        batch_op.drop_column('birthday')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_status_source')
        batch_op.drop_index(batch_op.f('ix_findings_review_run_id'))
        batch_op.drop_index(batch_op.f('ix_findings_pdca_cycle_id'))
    op.drop_table('findings')
    with op.batch_alter_table('review_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_review_runs_status_published')
    op.drop_table('review_runs')
