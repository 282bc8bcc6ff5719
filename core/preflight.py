"""What a command checks before it writes anything: the store answers, the ports are free.

Each failure is one line for the operator (what, where, why) and an exit code of its own,
so that a script or a service manager can tell them apart (docs/configuration.md).
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from sqlalchemy.engine import make_url

# The exit codes of `caseflow`; 1 stays Python's, for what nobody foresaw (a traceback).
EXIT_OK = 0
EXIT_BAD_INPUT = 2  # a bad flag, setting or policy file, or a store kept for another clock
EXIT_STORE_UNREACHABLE = 3
EXIT_PORT_IN_USE = 4
STORE_TIMEOUT_SECONDS = 5
SQLITE_HEADER = b"SQLite format 3\x00"


class NotReady(Exception):
    """A check failed: `str()` is the line to print, `code` the exit code."""

    code = 1


class StoreUnreachable(NotReady):
    code = EXIT_STORE_UNREACHABLE


class PortInUse(NotReady):
    code = EXIT_PORT_IN_USE


def masked(url: str) -> str:
    """The URL with its password, if any, as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show no part that could be a secret
        return url.split("://", 1)[0] + "://..."


def check_port(host: str, port: int, setting: str = "CASEFLOW_PORT (--port)") -> None:
    """Raise `PortInUse` unless this process could listen on host:port, bound as uvicorn
    binds it (SO_REUSEADDR: a port in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"{where} is in use by another program; stop it or set "
                                f"{setting} to a free port") from None
            reason = exc.strerror or str(exc)
            raise PortInUse(f"cannot listen on {where}: {reason}") from None


def check_store(url: str, shown: str | None = None) -> None:
    """Raise `StoreUnreachable` unless the store at `url` answers (a SQLite file: can be
    opened, or created where it is to be), without creating or changing anything."""
    shown = masked(shown or url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreUnreachable(f"cannot reach the store {shown}: {_one_line(exc)}") from None
    if parsed.get_backend_name() == "sqlite":
        problem = _sqlite_problem(parsed.database)
    else:
        problem = _server_problem(url, parsed.password)
    if problem:
        raise StoreUnreachable(f"cannot reach the store {shown}: {problem}")


def _sqlite_problem(database: str | None) -> str | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    if path.exists():
        if not path.is_file():
            return f"{path} is not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return f"{path}: permission denied"
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            return f"{path} is not a SQLite database"
        return None
    # It will be created, and the directories above it: the nearest one there must allow it.
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {path}: {parent}: permission denied"
    return None


def _server_problem(url: str, password: str | None) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    try:
        options = {"connect_timeout": STORE_TIMEOUT_SECONDS} if url.startswith("postgres") else {}
        engine = create_engine(url, poolclass=NullPool, connect_args=options)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        return reason.replace(password, "***") if password else reason
    return None


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line: libpq's spans several."""
    return " ".join(str(exc).split()) or type(exc).__name__
