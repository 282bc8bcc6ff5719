"""The per-client token bucket (core/limits.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from core.limits import Limits, RateLimiter, retry_after
from core.settings import Settings
from tests.support import Ticks


def test_a_client_gets_its_burst_then_waits_for_the_refill():
    ticks = Ticks()
    limiter = RateLimiter(6, clock=ticks)  # 6 at once, one every 10 seconds
    assert [limiter.spend("10.0.0.1") for _ in range(6)] == [0.0] * 6
    assert limiter.wait("10.0.0.1") == 10.0
    assert limiter.spend("10.0.0.1") == 10.0  # refused: spends nothing more
    ticks.now += 4
    assert limiter.wait("10.0.0.1") == pytest.approx(6.0)
    ticks.now += 6
    assert limiter.wait("10.0.0.1") == 0.0
    assert limiter.spend("10.0.0.1") == 0.0
    assert limiter.spend("10.0.0.1") == 10.0


def test_clients_are_counted_apart_and_a_quiet_one_costs_nothing():
    ticks = Ticks()
    limiter = RateLimiter(2, clock=ticks)
    assert limiter.wait("10.0.0.9") == 0.0  # never failed: no bucket at all
    limiter.spend("10.0.0.1")
    limiter.spend("10.0.0.1")
    assert limiter.wait("10.0.0.1") > 0
    assert limiter.wait("10.0.0.2") == 0.0
    assert limiter.spend("10.0.0.2") == 0.0


def test_a_refilled_bucket_holds_no_more_than_the_burst():
    ticks = Ticks()
    limiter = RateLimiter(3, clock=ticks)
    limiter.spend("a")
    ticks.now += 3600
    assert [limiter.spend("a") for _ in range(4)] == [0.0, 0.0, 0.0, 20.0]


def test_zero_means_no_limit():
    limiter = RateLimiter(0, clock=Ticks())
    assert all(limiter.spend("a") == 0.0 for _ in range(1000))
    assert limiter.wait("a") == 0.0


def test_a_flood_from_many_addresses_does_not_grow_the_table_without_bound():
    limiter = RateLimiter(1, clock=Ticks(), max_clients=100)
    for n in range(1000):
        limiter.spend(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) <= 100
    assert limiter.wait("10.0.3.231") == 60.0  # the newest still wait


def test_retry_after_is_whole_seconds_rounded_up():
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 59.9)] == ["1", "1", "2", "60"]


def test_the_limits_come_from_the_settings(tmp_path):
    settings = Settings(policies=tmp_path, auth_failures_per_minute=7,
                        survey_requests_per_minute=0)
    limits = Limits.from_settings(settings, clock=Ticks())
    assert (limits.failed_auth.capacity, limits.survey.capacity) == (7, 0)
