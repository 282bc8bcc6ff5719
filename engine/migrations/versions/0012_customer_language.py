"""the language a customer reads their messages in

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite has both since 3.35): a batch copy of `customers` would need
# the foreign keys that point at it switched off.
def upgrade() -> None:
    op.add_column('customers', sa.Column('language', sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'language')
