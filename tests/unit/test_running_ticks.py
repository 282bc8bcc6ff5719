"""A stop waits for the scheduler's ticks in hand, for a bounded time."""

import threading

from core.scheduler import FiringFirst, RunningTicks
from engine.sweeper import TickReport


def test_a_stop_waits_for_the_tick_in_hand_but_not_beyond_its_grace():
    ticks = RunningTicks()
    started, release = threading.Event(), threading.Event()

    def tick() -> None:  # a flow run waiting on a Prefect API that does not answer
        started.set()
        release.wait(10)

    worker = threading.Thread(target=ticks.guard(tick))
    worker.start()
    assert started.wait(10)
    assert not ticks.wait_idle(0.1)
    release.set()
    assert ticks.wait_idle(10)
    worker.join()


def test_a_failing_tick_is_logged_and_counted_out(caplog):
    ticks = RunningTicks()

    def tick() -> None:
        raise RuntimeError("store unavailable")

    ticks.guard(tick)()  # does not raise: the next tick retries
    assert ticks.wait_idle(0)
    assert "failed; the next tick retries" in caplog.text


class _Sweeper:
    """Stands in for the sweeper: records what ran, in order; its firing waits to be let go."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.firing, self.let_go = threading.Event(), threading.Event()

    def fire_due(self) -> TickReport:
        self.firing.set()
        self.let_go.wait(10)
        self.ran.append("fired")
        return TickReport()

    def deliver_due(self) -> TickReport:
        self.ran.append("delivered")
        return TickReport()


def test_a_delivery_waits_for_the_firing_in_progress():
    sweeper = _Sweeper()
    jobs = FiringFirst(sweeper)
    jobs.deliver()  # nothing firing: at once
    firing = threading.Thread(target=jobs.fire)
    firing.start()
    assert sweeper.firing.wait(10)
    delivery = threading.Thread(target=jobs.deliver)
    delivery.start()
    delivery.join(0.2)
    assert delivery.is_alive() and sweeper.ran == ["delivered"]  # it waits for the storm
    sweeper.let_go.set()
    firing.join(10)
    delivery.join(10)
    assert sweeper.ran == ["delivered", "fired", "delivered"]
