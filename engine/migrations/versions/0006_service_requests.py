"""service requests: seats booked per location slot, and customers' identities across channels

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:30:00
"""

import re

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_slots',
    sa.Column('location', sa.String(length=80), nullable=False),
    sa.Column('starts_at', engine.models.UtcDateTime(), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('location', 'starts_at', name='pk_service_slots')
    )
    op.create_table('customer_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', engine.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value', name='uq_customer_identities_kind_value')
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'),
                              ['customer_id'], unique=False)
    # Customers stored before: their phone numbers and e-mail addresses become their
    # identities, so a request on another channel finds them (the first owner keeps one
    # shared by several records; nothing is merged).
    customers = sa.table('customers', sa.column('id', sa.Integer()),
                         sa.column('phone', sa.String()), sa.column('email', sa.String()),
                         sa.column('created_at', engine.models.UtcDateTime()))
    connection = op.get_bind()
    seen: set[tuple[str, str]] = set()
    rows = []
    for row in connection.execute(sa.select(customers).order_by(customers.c.id)):
        for kind, value in (("phone", row.phone), ("email", row.email)):
            if not value:
                continue
            normal = _normalise(kind, value)
            if normal is not None and (kind, normal) not in seen:
                seen.add((kind, normal))
                rows.append({"customer_id": row.id, "kind": kind, "value": normal,
                             "channel": None, "first_seen_at": row.created_at})
    if rows:
        identities = sa.table('customer_identities', sa.column('customer_id', sa.Integer()),
                              sa.column('kind', sa.String()), sa.column('value', sa.String()),
                              sa.column('channel', sa.String()),
                              sa.column('first_seen_at', engine.models.UtcDateTime()))
        op.bulk_insert(identities, rows)


def _normalise(kind: str, value: str) -> str | None:
    """core.customers.normalise as of this revision (a migration must not change later):
    None for a value that identifies nobody ("n/a", a number with too few digits)."""
    value = value.strip()
    if kind == "email":
        local, at, domain = value.lower().partition("@")
        return f"{local}@{domain}" if local and at and domain else None
    digits = re.sub(r"[^\d+]", "", value)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix):]
    usable = len(re.sub(r"\D", "", digits)) >= 7 and "+" not in digits[1:]
    return digits if usable else None


def downgrade() -> None:
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))
    op.drop_table('customer_identities')
    op.drop_table('service_slots')
