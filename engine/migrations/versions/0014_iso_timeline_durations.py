"""timeline durations written before the time convention, in ISO 8601

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:30:00
"""

import re
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# Where durations were stored as Python printed them (`0:20:00`, `3 days, 0:00:00`) until
# the time convention: a complaint's `opened` event keeps its clocks' targets, an
# `auto_close` event how long the customer was silent. Nothing else held a duration.
# Only a value in exactly that form is rewritten; anything else (ISO already, free text a
# process copied into `details`) is left as it is.
FIELDS = {"opened": "targets", "auto_close": "silent_for"}
PRINTED = re.compile(r"(?:(-?\d+) days?, )?(\d{1,2}):([0-5]\d):([0-5]\d)(?:\.(\d{6}))?")
BATCH = 1000

events = sa.table("case_events", sa.column("id", sa.Integer), sa.column("type", sa.String),
                  sa.column("details", sa.JSON))


def printed_to_iso(text: object) -> str | None:
    """The ISO 8601 form of a duration Python printed (`0:20:00` -> `PT20M`), or None
    when `text` is not one."""
    found = PRINTED.fullmatch(text) if isinstance(text, str) else None
    if found is None or int(found[2]) > 23:
        return None
    days, hours, minutes, seconds, micros = (int(part or 0) for part in found.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds,
                     microseconds=micros)
    return _iso(span)


def _iso(value: timedelta) -> str:
    # domain.durations.format_duration as it stood at this revision, copied so that a later
    # change there cannot change what this migration writes.
    micros = abs((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds)
    seconds, micros = divmod(micros, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = ["-P" if value < timedelta(0) else "P"]
    if days:
        parts.append(f"{days}D")
    if hours or minutes or seconds or micros:
        parts.append("T")
        if hours:
            parts.append(f"{hours}H")
        if minutes:
            parts.append(f"{minutes}M")
        if micros:
            parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "S")
        elif seconds:
            parts.append(f"{seconds}S")
    elif not days:
        parts.append("0D")
    return "".join(parts)


def rewritten(kind: str, details: dict) -> dict | None:
    """The event's details with its printed durations in ISO 8601, or None if unchanged."""
    value = details.get(FIELDS[kind]) if isinstance(details, dict) else None
    if kind == "opened" and isinstance(value, dict):
        new = {name: printed_to_iso(target) or target for name, target in value.items()}
        return {**details, "targets": new} if new != value else None
    iso = printed_to_iso(value)
    return {**details, FIELDS[kind]: iso} if iso else None


def upgrade() -> None:
    connection = op.get_bind()
    after = 0
    # In batches by id, so a store of millions of events never holds them all in memory.
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.type, events.c.details)
            .where(events.c.type.in_(list(FIELDS)), events.c.id > after)
            .order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            return
        changes = [{"event_id": row.id, "new_details": new} for row in rows
                   if (new := rewritten(row.type, row.details)) is not None]
        if changes:
            connection.execute(
                events.update().where(events.c.id == sa.bindparam("event_id"))
                .values(details=sa.bindparam("new_details", type_=sa.JSON)), changes)
        after = rows[-1].id


def downgrade() -> None:
    # Nothing to undo: the code of revision 0013 already writes and reads ISO 8601, and
    # the printed form cannot be told apart from free text once it is gone. The rows stay
    # in ISO 8601.
    pass
