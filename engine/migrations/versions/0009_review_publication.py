"""review runs record their publication: artifacts written, failed tries, next try

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:00:00
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_artifacts', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('publish_attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('publish_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('publish_after', engine.models.UtcDateTime(),
                                      nullable=True))
    # A succeeded run not yet published is due for its first try now.
    op.execute("UPDATE review_runs SET publish_after = finished_at "
               "WHERE status = 'succeeded' AND published_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('review_runs', schema=None) as batch_op:
        batch_op.drop_column('publish_after')
        batch_op.drop_column('publish_error')
        batch_op.drop_column('publish_attempts')
        batch_op.drop_column('published_artifacts')
