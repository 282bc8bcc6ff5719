"""A fast clock is the store's: instances started apart keep one time, other speeds refused."""

from datetime import UTC, datetime, timedelta

import pytest

import engine.clock
from engine.clock_epoch import ClockConflict, shared_clock, stored_epoch
from tests.conftest import build_runtime
from tests.support import write_policies

START = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def wall(monkeypatch):  # type: ignore[no-untyped-def]
    """The system's clock, moved by the test: seconds since the Unix epoch."""
    now = [START.timestamp()]
    monkeypatch.setattr(engine.clock, "wall_time", lambda: now[0])
    return now


def _instance(database, tmp_path, speed: float):  # type: ignore[no-untyped-def]
    """A runtime as a started instance makes it: its clock from the settings."""
    return build_runtime(database, write_policies(tmp_path / "policies"), None,  # type: ignore[arg-type]
                         clock_speed=speed)


def test_instances_started_25_s_apart_at_speed_60_keep_one_time(database, tmp_path, wall):
    first = _instance(database, tmp_path, 60)
    wall[0] += 25
    second = _instance(database, tmp_path, 60)
    assert first.clock.now() == second.clock.now() == START + timedelta(minutes=25)
    wall[0] += 10
    assert first.clock.now() == second.clock.now() == START + timedelta(minutes=35)
    # A restart an hour later runs on from the same start, not from its own.
    wall[0] += 3600
    again = _instance(database, tmp_path, 60)
    assert again.clock.now() == START + timedelta(minutes=35, hours=60)
    for rt in (first, second, again):
        rt.engine.dispose()


def test_an_instance_at_another_speed_than_the_store_s_is_refused(database, tmp_path, wall):
    first = _instance(database, tmp_path, 60)
    for speed in (30, 1):
        with pytest.raises(ClockConflict, match=(
                f"CASEFLOW_CLOCK_SPEED is {speed}, but this store's clock has run at 60x "
                "since 2026-12-06 08:00:00Z")):
            _instance(database, tmp_path, speed)
    first.engine.dispose()


def test_real_time_leaves_no_epoch_and_two_starting_together_share_the_first(
        database, tmp_path, wall):
    rt = _instance(database, tmp_path, 1)
    assert stored_epoch(rt.engine) is None
    assert rt.clock.now() == START
    # Two instances recording the epoch at once: the one that lost reads the winner's.
    from engine.clock_epoch import _start

    won = _start(rt.engine, 60)
    wall[0] += 5
    lost = _start(rt.engine, 60)
    assert (lost.speed, lost.started_at) == (won.speed, won.started_at) == (60, START)
    assert shared_clock(rt.engine, 60).now() == START + timedelta(minutes=5)
    rt.engine.dispose()
