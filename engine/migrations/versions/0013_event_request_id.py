"""the request that wrote a timeline event

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, as 0012: a nullable column with no default, so existing rows stay
# as they are (no request id: written before requests had one).
def upgrade() -> None:
    op.add_column('case_events', sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('case_events', 'request_id')
