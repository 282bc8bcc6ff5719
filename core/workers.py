"""What the server processes of one service coordinate on: which of them runs the
scheduler, and policy reloads. On PostgreSQL, through PostgreSQL, across hosts
(engine.coordination); on a SQLite file, through files in its data directory, here.

Each worker serves the API with its own runtime and intake writer. The scheduler (the
sweeper, the reviews and their Prefect runner) runs in one process: on a SQLite file, the
one holding an exclusive lock on `scheduler.lock` in the data directory. The others try
again every second, so when that worker dies, and the kernel drops its lock with it,
another takes over. A reload of the policies answered by one worker is followed by the
others within a second: the reload stamps `policies.reloaded` in the data directory, and
every other worker (`CASEFLOW_WORKERS`) reloads when the stamp changes.

On PostgreSQL each worker also holds its instance's liveness lock from its start to its
stop (taken again at the next poll if its connection broke), so that the leader, on any
host, can tell when it died and end its flow runs `Crashed` (engine.flow_runs).
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

from sqlmodel import Session

from core.policy_loader import PolicyError
from core.runtime import Runtime
from engine.coordination import (
    AdvisoryLock,
    Leadership,
    ReloadSignal,
    SignalCounter,
    Watched,
    hold,
    instance_lock,
)
from engine.db import is_postgres

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

    can_be_lost = False

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


class ReloadStamp(Watched):
    """The stamp a policy reload leaves in the data directory for the other workers."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RELOAD_STAMP
        self._token = uuid.uuid4().hex  # this worker's, to tell its own stamps apart
        self._seen = self._read()

    def write(self, version: str, session: Session | None = None) -> None:
        """Say that this worker reloaded, to version `version` (`session`: unused)."""
        text = f"{version} {self._token} {uuid.uuid4().hex}\n"
        draft = self.path.with_name(f".{self.path.name}.{self._token}")
        draft.parent.mkdir(parents=True, exist_ok=True)
        draft.write_text(text, encoding="utf-8")
        os.replace(draft, self.path)  # a reader sees the old stamp or the new, whole
        self._seen = text

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""


def coordination_for(runtime: Runtime) -> tuple[Leadership | None, ReloadSignal | None]:
    """The scheduler's lock (when this process may run it) and the reload signal (when
    others may share the store): through PostgreSQL when the store is PostgreSQL, which
    other hosts may share, else through files in the data directory."""
    settings = runtime.settings
    if is_postgres(runtime.engine):
        lock: Leadership | None = AdvisoryLock(runtime.engine)
        signal: ReloadSignal | None = SignalCounter(runtime.engine)
    else:
        lock = SchedulerLock(settings.data_dir)
        signal = ReloadStamp(settings.data_dir) if settings.workers > 1 else None
    return (lock if settings.scheduler_enabled else None), signal


class WorkerDuties:
    """A worker's background duties: the scheduler while it holds the scheduler lock, and
    following the reloads of the other workers when there are several."""

    def __init__(self, runtime: Runtime, start_scheduler: Callable[[Runtime], Stoppable],
                 *, poll_seconds: float = POLL_SECONDS) -> None:
        self.runtime = runtime
        self._start_scheduler = start_scheduler
        self._poll_seconds = poll_seconds
        self.lock, runtime.reload_stamp = coordination_for(runtime)
        if is_postgres(runtime.engine) and runtime.liveness is None:
            runtime.liveness = instance_lock(runtime.engine, runtime.settings.instance_id)
        self.scheduler: Stoppable | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkerDuties:
        liveness = self.runtime.liveness
        if liveness is not None and not hold(liveness):  # before any flow run of its own
            log.error("could not take the liveness lock of instance %s; the next poll "
                      "tries again", self.runtime.settings.instance_id)
        self._take_the_scheduler()
        watching_lock = self.lock is not None and (not self.lock.held or self.lock.can_be_lost)
        if watching_lock or liveness is not None or self.runtime.reload_stamp is not None:
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
        if self.runtime.liveness is not None:  # last: its flow runs have ended
            self.runtime.liveness.release()

    def poll(self) -> None:
        """Hold the liveness lock, take the scheduler if its lock is free, and follow
        another worker's reload."""
        if self.runtime.liveness is not None and not self.runtime.liveness.acquire():
            log.warning("instance %s does not hold its liveness lock (the store is "
                        "unreachable?); the next poll tries again",
                        self.runtime.settings.instance_id)
        self._take_the_scheduler()
        self._follow_reloads()

    def _watch(self) -> None:
        while not self._stopping.wait(self._poll_seconds):
            try:
                self.poll()
            except Exception:  # the next poll tries again
                log.exception("a worker duty failed")

    def _take_the_scheduler(self) -> None:
        """Start the scheduler on taking the lock; stop it if the lock was lost."""
        if self.lock is None or self._stopping.is_set():
            return
        if self.lock.acquire():
            if self.scheduler is None:
                log.info("this worker (pid %d) runs the scheduler", os.getpid())
                self.scheduler = self._start_scheduler(self.runtime)
        elif self.scheduler is not None:
            # Its connection to the store broke: another instance may lead already.
            log.error("this worker lost the scheduler lock; it stops its scheduler")
            self.scheduler.shutdown()
            self.scheduler = None

    def _follow_reloads(self) -> None:
        stamp = self.runtime.reload_stamp
        if stamp is None or not stamp.changed():
            return
        try:
            self.runtime.reload_policies(stamp=False)
        except PolicyError as exc:  # the files changed again since: keep what runs
            log.error("could not follow another worker's policy reload: %s", exc)
