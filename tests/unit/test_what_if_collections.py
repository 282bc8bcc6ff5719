"""While replays run, the garbage collector's youngest generation is looked at less often,
and the setting comes back when the last overlapping replay ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core.whatif import _FEWER_COLLECTIONS, GC_YOUNG_THRESHOLD


@pytest.fixture
def default_threshold() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


def test_overlapping_replays_restore_the_threshold_when_the_last_ends(default_threshold):
    with _FEWER_COLLECTIONS:
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *default_threshold[1:])
        with _FEWER_COLLECTIONS:  # a second replay, from another request
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD  # the first still runs
    assert gc.get_threshold() == default_threshold


def test_a_failing_replay_restores_the_threshold_too(default_threshold):
    with pytest.raises(RuntimeError), _FEWER_COLLECTIONS:
        raise RuntimeError("the store went away")
    assert gc.get_threshold() == default_threshold
