"""The one place that reads the wall clock. Everything else is handed `now`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def wall_time() -> float:
    """Seconds since the Unix epoch, from the system's clock."""
    return time.time()


class SystemClock:
    """Wall-clock time in UTC, optionally running faster (speed 60: one minute per second).

    A fast clock runs from `since` (by default, when it is made): instances that share a
    store share its start (`engine.clock_epoch`), and so keep one time.
    """

    def __init__(self, speed: float = 1.0, *, since: datetime | None = None) -> None:
        self.speed = speed
        self._origin = since.astimezone(UTC) if since else datetime.fromtimestamp(wall_time(), UTC)
        self._origin_real = self._origin.timestamp()

    def now(self) -> datetime:
        elapsed = wall_time() - self._origin_real
        return self._origin + timedelta(seconds=elapsed * self.speed)


class FrozenClock:
    """A clock that moves only when told to: the tests' time machine."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            self._now = moment.astimezone(UTC)
            return self._now
