"""access control: API keys, and who acted on each timeline entry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:30:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('teams', sa.JSON(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('expires_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('revoked_at', engine.models.UtcDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=120), nullable=True),
    sa.Column('last_used_at', engine.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    op.create_index(op.f('ix_api_keys_name'), 'api_keys', ['name'], unique=False)
    op.add_column('case_events', sa.Column('actor_kind', sa.String(length=12), nullable=False,
                                           server_default='person'))
    # Before this revision the service itself acted under the reserved name "system".
    op.execute("UPDATE case_events SET actor_kind = 'system' WHERE actor = 'system'")


def downgrade() -> None:
    with op.batch_alter_table('case_events') as batch:
        batch.drop_column('actor_kind')
    op.drop_index(op.f('ix_api_keys_name'), table_name='api_keys')
    op.drop_table('api_keys')
