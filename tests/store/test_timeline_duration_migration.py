"""Revision 0014 rewrites the timeline durations stored before the time convention
(`0:20:00`) in ISO 8601 (`PT20M`), leaves free text alone, and downgrades without a loss."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, text

from engine.db import migrate
from tests.store.migration_helpers import (
    alembic_store,
    assert_at_head_matching_models,
    downgrade_to,
    upgraded_to,
)

AT = datetime(2026, 11, 1)
# (type, details as a store before the time convention held them, details after 0014)
EVENTS = [
    ("opened", {"channel": "phone", "targets": {"first_response": "0:20:00",
                                                "resolution": "1 day, 0:00:00"}},
     {"channel": "phone", "targets": {"first_response": "PT20M", "resolution": "P1D"}}),
    ("opened", {"targets": {"first_response": "2:00:00", "resolution": "3 days, 0:00:00"}},
     {"targets": {"first_response": "PT2H", "resolution": "P3D"}}),
    ("opened", {"targets": {"first_response": "0:00:04.500000", "resolution": "10:30:15"}},
     {"targets": {"first_response": "PT4.5S", "resolution": "PT10H30M15S"}}),
    # Written after the convention, or text someone typed: as they are.
    ("opened", {"targets": {"first_response": "PT20M", "resolution": "about a day"}},
     {"targets": {"first_response": "PT20M", "resolution": "about a day"}}),
    ("opened", {"targets": {"first_response": "25:00:00"}, "note": "0:20:00"},
     {"targets": {"first_response": "25:00:00"}, "note": "0:20:00"}),
    ("opened", {"channel": "web"}, {"channel": "web"}),
    ("auto_close", {"silent_for": "3 days, 0:00:00"}, {"silent_for": "P3D"}),
    ("auto_close", {"silent_for": "P3D"}, {"silent_for": "P3D"}),
    ("auto_close", {"silent_for": "since Monday"}, {"silent_for": "since Monday"}),
    # Other events' text is never a stored duration, even when it looks like one.
    ("comment", {"text": "0:20:00", "silent_for": "1 day, 0:00:00"},
     {"text": "0:20:00", "silent_for": "1 day, 0:00:00"}),
]


def _old_store(connection: Connection) -> None:
    connection.execute(text(
        "INSERT INTO cases (id, process, stage, priority, tier, subject, description,"
        " team, escalation_level, resolved_count, policy_version, opened_at,"
        " stage_entered_at, updated_at, version, data) VALUES (1, 'complaint', 'assigned',"
        " 'ordinary', 'B', 's', '', 'complaints', 0, 0, 'v', :at, :at, :at, 1, '{}')"),
        {"at": AT})
    for kind, details, _ in EVENTS:
        connection.execute(text(
            "INSERT INTO case_events (case_id, type, actor, actor_kind, at, details) VALUES"
            " (1, :type, 'system', 'system', :at, :details)"),
            {"type": kind, "at": AT, "details": json.dumps(details)})


def _details(connection: Connection) -> list[dict]:
    rows = connection.execute(text("SELECT details FROM case_events ORDER BY id")).scalars()
    return [json.loads(row) if isinstance(row, str) else row for row in rows]


def test_old_timeline_durations_read_in_iso_8601_after_the_upgrade(empty_database):
    with alembic_store(empty_database) as (engine, config):
        with upgraded_to(engine, config, "0013") as connection:
            _old_store(connection)
        migrate(engine)
        assert_at_head_matching_models(engine, config)
        with engine.connect() as connection:
            assert _details(connection) == [after for _, _, after in EVENTS]


def test_a_downgrade_keeps_iso_8601_and_a_second_upgrade_changes_nothing(empty_database):
    with alembic_store(empty_database) as (engine, config):
        with upgraded_to(engine, config, "0013") as connection:
            _old_store(connection)
        migrate(engine)
        downgrade_to(engine, config, "0013")
        with engine.connect() as connection:
            # Revision 0013's code reads and writes ISO 8601 too: nothing to put back.
            assert _details(connection) == [after for _, _, after in EVENTS]
        migrate(engine)
        with engine.connect() as connection:
            assert _details(connection) == [after for _, _, after in EVENTS]
