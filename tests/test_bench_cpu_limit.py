"""bench/cpu_limit.py: the benchmark within a share of the CPU, through a cgroup quota."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.cpu_limit import CpuLimitError, cpu_quota


def _own_groups() -> str:
    return Path("/proc/self/cgroup").read_text()


def test_the_block_gets_no_more_cpu_than_its_quota_then_leaves_no_cgroup_behind():
    before = _own_groups()
    try:
        quota = cpu_quota(0.2)
        group = quota.__enter__()
    except CpuLimitError as exc:  # a machine without cgroup CPU control, or not root
        pytest.skip(str(exc))
    try:
        assert group.name in _own_groups()
        started, used = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < 1.0:  # as busy as one core allows
            pass
        used = time.process_time() - used
    finally:
        quota.__exit__(None, None, None)
    assert used < 0.45  # 0.2 of a core over a second; unlimited, this loop takes ~1.0
    assert _own_groups() == before
    assert not group.exists()


def test_a_quota_of_nothing_is_refused():
    with pytest.raises(CpuLimitError, match="more than 0"), cpu_quota(0):
        pass
