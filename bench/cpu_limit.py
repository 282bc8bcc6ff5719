"""Run the benchmark within a share of the machine's CPU: a cgroup's CPU quota.

This machine is a virtual one whose speed swings by more than half over a day: the bare
FastAPI endpoint cost 0.61 ms of CPU a request at 17:53 on 23 November and 0.26 ms at
20:11 (bench/README.md, "the machine's speed"). A figure taken at a fast hour says little
about a slow one. With `--cpus 0.85`, the benchmark's own process (its client threads)
and every process it starts (servers, their Prefect API, the peers) share 0.85 cores of
CPU time: what the two cores did at that slow hour, 2 x 0.26 / 0.61. The quota is
handed out in periods of 10 ms, so a process that used up its share waits at most that
long for the next.

The cgroup is made under the CPU controller's hierarchy (cgroup v2's `cpu.max`, or v1's
`cpu.cfs_quota_us`), which needs root; the process moves back and the cgroup is removed
at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

CGROUPS = Path("/sys/fs/cgroup")
PERIOD_US = 10_000


class CpuLimitError(RuntimeError):
    """The quota could not be set up here (no cgroup CPU controller, or no permission)."""


@contextmanager
def cpu_quota(cores: float, *, root: Path = CGROUPS) -> Iterator[Path]:
    """Run the block, and every process started in it, within `cores` cores of CPU time.
    Yields the cgroup's directory."""
    if cores <= 0:
        raise CpuLimitError(f"--cpus must be more than 0, not {cores}")
    quota_us = max(1_000, round(cores * PERIOD_US))  # the kernel's least is 1 ms
    v2 = (root / "cgroup.controllers").is_file()
    home = _own_cgroup(root, v2)
    group = home / f"caseflow-bench-{os.getpid()}"
    try:
        group.mkdir()
        if v2:
            (group / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota_us))
        (group / "cgroup.procs").write_text(str(os.getpid()))  # every thread, and children
    except OSError as exc:
        _remove(group)
        raise CpuLimitError(f"cannot limit the CPU through {group}: {exc}") from exc
    try:
        yield group
    finally:
        (home / "cgroup.procs").write_text(str(os.getpid()))
        _remove(group)


def _own_cgroup(root: Path, v2: bool) -> Path:
    """The directory of this process's cgroup under the CPU controller."""
    base = root if v2 else root / "cpu"
    if not v2 and not (base / "cpu.cfs_quota_us").is_file():
        raise CpuLimitError(f"no cgroup CPU controller under {root}")
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v2 and controllers == "") or (not v2 and "cpu" in controllers.split(",")):
            return base / path.lstrip("/")
    raise CpuLimitError("this process's CPU cgroup is not in /proc/self/cgroup")


def _remove(group: Path) -> None:
    # Not made, or a process outlived the block: the kernel keeps it until that one ends.
    with suppress(OSError):
        group.rmdir()
