"""What the server processes of one service coordinate on (`CASEFLOW_WORKERS`): which of
them runs the scheduler, and policy reloads.

Each worker serves the API with its own runtime and intake writer. The scheduler (the
sweeper, the reviews and their Prefect runner) runs in one process per data directory:
the one holding an exclusive lock on `scheduler.lock` there. The others try again every
second, so when that worker dies, and the kernel drops its lock with it, another takes
over. A reload of the policies answered by one worker is followed by the others within
a second: the reload stamps `policies.reloaded` in the data directory, and every other
worker reloads when the stamp changes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from core.policy_loader import PolicyError
from core.runtime import Runtime

LOCK_FILE = "scheduler.lock"
RELOAD_STAMP = "policies.reloaded"
POLL_SECONDS = 1.0

log = logging.getLogger("caseflow.workers")


class Stoppable(Protocol):
    def shutdown(self) -> None: ...


class SchedulerLock:
    """An exclusive, non-blocking lock on `scheduler.lock` in a data directory.

    flock: the kernel releases it when its holder dies however it dies, and the
    descriptor is not inherited, so a subprocess (the Prefect API) cannot keep it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if it is free; True while this holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for whoever looks
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


class ReloadStamp:
    """The stamp a policy reload leaves in the data directory for the other workers."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RELOAD_STAMP
        self._token = uuid.uuid4().hex  # this worker's, to tell its own stamps apart
        self._seen = self._read()

    def write(self, version: str) -> None:
        """Say that this worker reloaded, to version `version`."""
        text = f"{version} {self._token} {uuid.uuid4().hex}\n"
        draft = self.path.with_name(f".{self.path.name}.{self._token}")
        draft.parent.mkdir(parents=True, exist_ok=True)
        draft.write_text(text, encoding="utf-8")
        os.replace(draft, self.path)  # a reader sees the old stamp or the new, whole
        self._seen = text

    def changed(self) -> bool:
        """Whether another worker reloaded since this one last looked."""
        text = self._read()
        if text == self._seen:
            return False
        self._seen = text
        return True

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""


class WorkerDuties:
    """A worker's background duties: the scheduler while it holds the scheduler lock, and
    following the reloads of the other workers when there are several."""

    def __init__(self, runtime: Runtime, start_scheduler: Callable[[Runtime], Stoppable],
                 *, poll_seconds: float = POLL_SECONDS) -> None:
        self.runtime = runtime
        self._start_scheduler = start_scheduler
        self._poll_seconds = poll_seconds
        data_dir = runtime.settings.data_dir
        self.lock = SchedulerLock(data_dir) if runtime.settings.scheduler_enabled else None
        if runtime.settings.workers > 1:
            runtime.reload_stamp = ReloadStamp(data_dir)
        self.scheduler: Stoppable | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkerDuties:
        self._take_the_scheduler()
        waiting_for_lock = self.lock is not None and not self.lock.held
        if waiting_for_lock or self.runtime.reload_stamp is not None:
            self._thread = threading.Thread(target=self._watch, name="caseflow-worker-duties",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.lock is not None:
            self.lock.release()

    def poll(self) -> None:
        """Take the scheduler if its lock is free, and follow another worker's reload."""
        self._take_the_scheduler()
        self._follow_reloads()

    def _watch(self) -> None:
        while not self._stopping.wait(self._poll_seconds):
            try:
                self.poll()
            except Exception:  # the next poll tries again
                log.exception("a worker duty failed")

    def _take_the_scheduler(self) -> None:
        if self.lock is None or self.scheduler is not None or self._stopping.is_set():
            return
        if self.lock.acquire():
            log.info("this worker (pid %d) runs the scheduler", os.getpid())
            self.scheduler = self._start_scheduler(self.runtime)

    def _follow_reloads(self) -> None:
        stamp = self.runtime.reload_stamp
        if stamp is None or not stamp.changed():
            return
        try:
            self.runtime.reload_policies(stamp=False)
        except PolicyError as exc:  # the files changed again since: keep what runs
            log.error("could not follow another worker's policy reload: %s", exc)
