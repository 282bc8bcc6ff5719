"""case store

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 17:58:59.480465
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_ref', sa.String(length=120), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('tier', sa.String(length=8), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('created_at', engine.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_ref')
    )
    op.create_table('team_members',
    sa.Column('team', sa.String(length=80), nullable=False),
    sa.Column('person', sa.String(length=120), nullable=False),
    sa.Column('open_cases', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', engine.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('team', 'person')
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('tier', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=80), nullable=False),
    sa.Column('assignee', sa.String(length=120), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('resolved_count', sa.Integer(), nullable=False),
    sa.Column('policy_version', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('opened_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('stage_entered_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('updated_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('closed_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_assignee_stage', ['assignee', 'stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_opened_at'), ['opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_priority'), ['priority'], unique=False)
        batch_op.create_index('ix_cases_process_stage', ['process', 'stage'], unique=False)
        batch_op.create_index('ix_cases_team_stage', ['team', 'stage'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=240), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('next_attempt_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('claimed_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('delivered_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('sla_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('calendar', sa.String(length=80), nullable=False),
    sa.Column('target_seconds', sa.Float(), nullable=False),
    sa.Column('elapsed_seconds', sa.Float(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('steps_fired', sa.Integer(), nullable=False),
    sa.Column('started_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('running_since', engine.models.UtcDateTime(), nullable=True),
    sa.Column('stopped_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('breached_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('ladder_stopped_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('due_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('warn_at', engine.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'name', name='uq_sla_clocks_case_name')
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clocks_state_due', ['state', 'due_at'], unique=False)

    op.create_table('timers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('step', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('fire_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('claimed_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('fired_at', engine.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timers_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_timers_status_fire_at', ['status', 'fire_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_index('ix_timers_status_fire_at')
        batch_op.drop_index(batch_op.f('ix_timers_case_id'))

    op.drop_table('timers')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_state_due')

    op.drop_table('sla_clocks')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_case_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_team_stage')
        batch_op.drop_index('ix_cases_process_stage')
        batch_op.drop_index(batch_op.f('ix_cases_priority'))
        batch_op.drop_index(batch_op.f('ix_cases_opened_at'))
        batch_op.drop_index(batch_op.f('ix_cases_customer_id'))
        batch_op.drop_index('ix_cases_assignee_stage')

    op.drop_table('cases')
    op.drop_table('team_members')
    op.drop_table('customers')
