"""Per-client rate limits held in the process: a token bucket for each client address."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.settings import Settings

# Buckets kept at most; past it, the full ones are dropped (a full bucket is no bucket),
# then the oldest, so that a flood from many addresses cannot grow the process.
MAX_CLIENTS = 10_000


class RateLimiter:
    """At most `per_minute` attempts at once per client, refilled at `per_minute` a
    minute; 0 means no limit. `clock` gives seconds (monotonic; tests pass their own)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client: (tokens, at)
        self._lock = threading.Lock()  # the survey page is answered in the thread pool

    def __len__(self) -> int:
        """The clients being counted."""
        return len(self._buckets)

    def wait(self, client: str) -> float:
        """Seconds until `client` may try again; 0 now. Spends nothing."""
        if not self._buckets:  # nobody is being limited: the usual case, and a fast one
            return 0.0
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                return 0.0
            return self._wait(self._refilled(bucket))

    def spend(self, client: str) -> float:
        """Spend one attempt of `client`'s; answer 0, or the seconds to wait when none
        was left (and then spend nothing)."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.pop(client, None)  # re-inserted last: the newest
            tokens = self.capacity if bucket is None else self._refilled(bucket)
            wait = self._wait(tokens)
            self._buckets[client] = (tokens if wait else tokens - 1, self.clock())
            if len(self._buckets) > self.max_clients:
                self._prune()
            return wait

    def _refilled(self, bucket: tuple[float, float]) -> float:
        tokens, at = bucket
        return min(self.capacity, tokens + (self.clock() - at) * self.rate)

    def _wait(self, tokens: float) -> float:
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _prune(self) -> None:
        kept = {client: bucket for client, bucket in self._buckets.items()
                if self._refilled(bucket) < self.capacity}
        self._buckets = dict(list(kept.items())[-(self.max_clients // 2):])


def retry_after(wait: float) -> str:
    """A `Retry-After` value: whole seconds, rounded up (past a float's noise)."""
    return str(max(1, math.ceil(round(wait, 6))))


@dataclass
class Limits:
    """The limits of one server process: each worker counts its own clients."""

    failed_auth: RateLimiter
    survey: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings,
                      clock: Callable[[], float] = time.monotonic) -> Limits:
        return cls(failed_auth=RateLimiter(settings.auth_failures_per_minute, clock=clock),
                   survey=RateLimiter(settings.survey_requests_per_minute, clock=clock))
