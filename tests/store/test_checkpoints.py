"""The intake's checkpointer copies the SQLite log back and has it begin again."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

from sqlalchemy import text

from engine import checkpoints
from engine.checkpoints import Checkpointer
from engine.db import make_engine


def _log_generation(database: Path) -> int:
    """The log header's checkpoint sequence number: it grows each time the log begins again."""
    return struct.unpack(">I", Path(f"{database}-wal").read_bytes()[12:16])[0]


def _write(engine, rows: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (body) VALUES (:body)"),
                           [{"body": "x" * 500} for _ in range(rows)])


def _store(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    _write(engine, 2_000)
    return database, engine


def _wait_for(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_after_a_poke_the_next_commit_begins_the_log_again(tmp_path):
    database, engine = _store(tmp_path)
    first = _log_generation(database)
    checkpointer = Checkpointer(engine)
    checkpointer.poke()

    def begun_again() -> bool:
        _write(engine, 1)
        return _log_generation(database) > first

    assert _wait_for(begun_again)
    engine.dispose()


def test_without_one_the_commits_keep_the_log_growing(tmp_path):
    # SQLite's own checkpoint waits for 40 MB of log (engine.db.AUTOCHECKPOINT_PAGES).
    database, engine = _store(tmp_path)
    first = _log_generation(database)
    for _ in range(20):
        _write(engine, 1)
    assert _log_generation(database) == first
    engine.dispose()


def test_its_thread_ends_when_nothing_pokes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "IDLE_SECONDS", 0.1)
    monkeypatch.setattr(checkpoints, "EVERY_SECONDS", 0.01)
    _, engine = _store(tmp_path)
    checkpointer = Checkpointer(engine)
    checkpointer.poke()
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive()
    assert _wait_for(lambda: not thread.is_alive() and checkpointer._thread is None)
    checkpointer.poke()  # and starts again with the next poke
    assert checkpointer._thread is not None and checkpointer._thread.is_alive()
    engine.dispose()


def _checkpoint_threads() -> int:
    return sum(t.name == "caseflow-checkpoint" for t in threading.enumerate())


def test_in_memory_sqlite_gets_none():
    engine = make_engine("sqlite://")
    before = _checkpoint_threads()
    checkpointer = Checkpointer(engine)
    checkpointer.poke()
    assert checkpointer.path is None and _checkpoint_threads() == before
