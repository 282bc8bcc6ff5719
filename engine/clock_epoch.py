"""One fast clock per store: its start and speed are kept in the store, not per process.

A fast clock (`CASEFLOW_CLOCK_SPEED` above 1) that started when each process started
would put two instances started 25 s apart at speed 60 25 minutes apart, and one would
fire the other's timers early. The first instance records when the store's fast clock
started; every later one, and every restart, runs from there. An instance at another
speed than the store's (real time included) is refused: the times the store holds were
made at that speed.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.clock import SystemClock
from engine.models import ClockEpoch

REAL_TIME = 1.0


class ClockConflict(Exception):
    """An instance whose clock speed is not the store's (refused at start-up)."""


def shared_clock(engine: Engine, speed: float) -> SystemClock:
    """The clock of an instance at `speed` on this store: the store's fast clock, which
    the first fast instance starts; real time when the store has none and `speed` is 1."""
    epoch = stored_epoch(engine)
    if epoch is None and speed != REAL_TIME:
        epoch = _start(engine, speed)
    if epoch is None:
        return SystemClock(REAL_TIME)
    if epoch.speed != speed:
        raise ClockConflict(
            f"CASEFLOW_CLOCK_SPEED is {speed:g}, but this store's clock has run at "
            f"{epoch.speed:g}x since {epoch.started_at:%Y-%m-%d %H:%M:%S}Z (real time), and "
            f"every instance on a store keeps its time: start this one with "
            f"CASEFLOW_CLOCK_SPEED={epoch.speed:g}, or use a new store at another speed")
    return SystemClock(epoch.speed, since=epoch.started_at)


def stored_epoch(engine: Engine) -> ClockEpoch | None:
    """The store's fast-clock epoch; None if it has none (or is not migrated yet)."""
    if not inspect(engine).has_table(ClockEpoch.__tablename__):
        return None
    with Session(engine) as session:
        return session.get(ClockEpoch, 1)


def _start(engine: Engine, speed: float) -> ClockEpoch:
    """Record that the store's fast clock starts now; another instance that got there
    first wins, and its epoch is the one returned."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            epoch = ClockEpoch(speed=speed, started_at=SystemClock(REAL_TIME).now())
            session.add(epoch)
            session.commit()
            return epoch
    except IntegrityError:
        found = stored_epoch(engine)
        assert found is not None
        return found
