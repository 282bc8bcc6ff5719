"""A stop waits for the scheduler's ticks in hand, for a bounded time."""

import threading

from core.scheduler import RunningTicks


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
