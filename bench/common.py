"""What the benchmarks share: temp dirs, databases, real server processes, percentiles, tables.

Every server is a separate process in its own session (process group). It is stopped
with SIGINT, then SIGTERM, then SIGKILL to the whole group (Caseflow stops its Prefect
server itself, and the kernel kills that one if Caseflow dies); on Linux the kernel
also sends a server SIGTERM if this benchmark process dies first.
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class BenchError(RuntimeError):
    """A benchmark could not run to the end (server died, timed out, wrong results)."""


# --- small helpers -------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"caseflow-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def format_table(title: str, columns: Sequence[tuple[str, str]],
                 rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table; `columns` are (key, header) pairs."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    texts = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max([len(header)] + [len(t[i]) for t in texts]) for i, (_, header) in
              enumerate(columns)]
    lines = [title, "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(t, widths, strict=True)) for t in texts]
    return "\n".join(lines)


def code_version() -> str:
    """The commit checked out in this work tree, read from .git without running git."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).exists():
            return f"{(git / ref).read_text().strip()[:12]} ({ref.rsplit('/', 1)[-1]})"
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return f"{line[:12]} ({ref.rsplit('/', 1)[-1]})"
    except OSError:
        pass
    return "unknown"


# --- how busy the machine is -------------------------------------------------------------
# Two cores are shared with whatever else runs here (another test suite, say), so each
# measurement also reports how many cores other processes used meanwhile.

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float:
    """CPU-seconds all cores have spent busy since boot (0 where /proc is missing)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


def process_cpu(pid: int) -> float:
    """CPU-seconds process `pid` has used so far, all its threads (0 once it is gone)."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(parts[11]) + int(parts[12])) / _TICK  # utime + stime, all threads


def _ours(server_pgids: tuple[int, ...], database: str | None = None
          ) -> dict[int, tuple[float, bool]]:
    """CPU so far of the processes that are part of the measurement, and whether each is
    PostgreSQL's: the server's process group(s), and PostgreSQL's processes (the store
    under test): with `database`, only the backends serving that database (a backend's
    title names it), since other people's databases share the server on this machine;
    none with "" (a store that is not PostgreSQL)."""
    found: dict[int, tuple[float, bool]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.find("(") + 1:stat.rfind(")")]
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            postgres = comm == "postgres" and (database is None or bool(database) and (
                f" {database} ".encode() in (entry / "cmdline").read_bytes()))
        except OSError:
            continue
        if postgres or pgid in server_pgids:
            found[int(entry.name)] = (process_cpu(int(entry.name)), postgres)
    return found


def postgres_cpu(database: str) -> float:
    """CPU-seconds so far of the PostgreSQL backends serving `database` (those alive now)."""
    return sum(cpu for cpu, _ in _ours((), database).values())


class CpuMeter:
    """Cores used by the server (and PostgreSQL), by this client, and by everything else.

    `server_pgid` is the server's process group, or several (a peer and its Prefect API).
    `database`, a PostgreSQL database's name, counts only PostgreSQL's work for it ("":
    none, None: every PostgreSQL process's); `postgres_cores` is the part of
    `server_cores` that PostgreSQL's processes used.
    """

    def __init__(self, server_pgid: int | Sequence[int] | None = None, *,
                 database: str | None = None) -> None:
        if server_pgid is None:
            self.server_pgid: tuple[int, ...] = ()
        elif isinstance(server_pgid, int):
            self.server_pgid = (server_pgid,)
        else:
            self.server_pgid = tuple(server_pgid)
        self.wall = time.perf_counter()
        self.machine = _machine_busy()
        self.me = sum(os.times()[:2])
        self.database = database
        self.ours = _ours(self.server_pgid, database)

    def stop(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self.wall, 1e-9)
        machine = _machine_busy() - self.machine
        me = sum(os.times()[:2]) - self.me
        now = _ours(self.server_pgid, self.database)
        used = {pid: (cpu - self.ours.get(pid, (0.0, postgres))[0], postgres)
                for pid, (cpu, postgres) in now.items()}
        ours = sum(cpu for cpu, _ in used.values())
        postgres = sum(cpu for cpu, is_postgres in used.values() if is_postgres)
        return {"server_cores": ours / wall, "postgres_cores": postgres / wall,
                "client_cores": me / wall, "other_cores": max(0.0, machine - ours - me) / wall}


def cpu_per_request(cpu: dict[str, float], done: int, wall: float) -> dict[str, float]:
    """The CPU that the server (and, of it, PostgreSQL) spent on each request done, in
    ms: steadier than requests/s when other work shares the machine, which slows every
    request but leaves its CPU about the same."""
    per = wall * 1000 / done if done else float("nan")
    return {"cpu_ms": cpu["server_cores"] * per, "postgres_cpu_ms": cpu["postgres_cores"] * per}


def other_load(seconds: float = 1.0) -> float:
    """Cores busy with other processes right now (nothing of ours should be running)."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.stop()["other_cores"]


def wait_for_calm(cores: float, patience: float, log: Any) -> float:
    """Wait up to `patience` s until other processes use at most `cores`; return their use."""
    deadline = time.monotonic() + patience
    load = other_load(1.0)
    while load > cores and time.monotonic() < deadline:
        log(f"  waiting: other processes use {load:.2f} cores")
        time.sleep(4.0)
        load = other_load(1.0)
    return load


@dataclass(frozen=True)
class Calm:
    """Repeat a measurement that other processes disturbed (used more than `cores`).

    The machine is shared; a test suite or an install running beside a measurement
    takes a core away from it. The calmest attempt is kept, with its `other_cores`.
    """

    cores: float | None = None  # None: measure once, whatever else runs
    retries: int = 2
    patience: float = 180.0

    def measure(self, name: str, fn: Any, log: Any) -> dict[str, Any]:
        best: dict[str, Any] | None = None
        attempts = 1 + (self.retries if self.cores is not None else 0)
        for attempt in range(attempts):
            if attempt:
                wait_for_calm(self.cores or 0.0, self.patience, log)
            row = fn()
            row["attempt"] = attempt + 1  # which attempt this row is
            if best is None or row.get("other_cores", 0.0) < best.get("other_cores", 0.0):
                best = row
            if self.cores is None or row.get("other_cores", 0.0) <= self.cores:
                break
            if attempt + 1 < attempts:
                log(f"  {name}: other processes used {row['other_cores']:.2f} cores "
                    f"meanwhile; measuring again")
        assert best is not None
        best["attempts"] = attempt + 1  # how many were made
        return best


# --- databases -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Database:
    kind: str  # sqlite | postgres
    url: str   # as the service takes it (CASEFLOW_DATABASE_URL)

    @property
    def name(self) -> str | None:
        """A PostgreSQL database's name (its backends' titles name it); None for SQLite."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).database if self.kind == "postgres" else None

    @property
    def sqlalchemy_url(self) -> str:
        """The same URL with the psycopg 3 driver, as the service resolves it."""
        for prefix in ("postgresql://", "postgres://"):
            if self.url.startswith(prefix):
                return "postgresql+psycopg://" + self.url[len(prefix):]
        return self.url


def _with_driver(url: str) -> str:
    return Database("postgres", url).sqlalchemy_url


def postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers at `url`, else the reason it does not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_with_driver(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # the report names the reason; nothing to recover
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()


@contextmanager
def database(kind: str, workdir: Path, postgres_url: str = DEFAULT_POSTGRES_URL
             ) -> Iterator[Database]:
    """A fresh, empty store: a SQLite file in `workdir`, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield Database("sqlite", f"sqlite:///{workdir / 'caseflow.db'}")
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"caseflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_with_driver(postgres_url), isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            fresh = make_url(postgres_url).set(database=name)
            yield Database("postgres", fresh.render_as_string(hide_password=False))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- server processes ----------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark process dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _log_stamp(line: str) -> datetime | None:
    """When a log line was written: the service's stamp (`2026-12-06 19:39:52.426+00:00`,
    core/log_format.py) or logging's default (`2026-12-06 19:39:52,426`, local time)."""
    try:
        return datetime.fromisoformat(line[:29])
    except ValueError:
        pass
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return None


class ServerProcess:
    """A server started as its own process group, with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int,
                 log_path: Path) -> None:
        self.name, self.port, self.log_path, self.env = name, port, log_path, env
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_after: float | None = None
        self.headers: dict[str, str] = {}  # credentials for calls that need them
        self.companions: list[ServerProcess] = []  # e.g. a peer's Prefect API server
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started_at = time.perf_counter()
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def wait_ready(self, path: str = "/health", timeout: float = 90.0) -> float:
        """Poll `path` until it answers 200; return the seconds since start."""
        deadline = self.started_at + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise BenchError(f"{self.name} exited with {self.proc.returncode} before "
                                     f"it was ready:\n{self.log_tail()}")
                try:
                    if client.get(self.base_url + path).status_code == 200:
                        self.ready_after = time.perf_counter() - self.started_at
                        return self.ready_after
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def wait_settled(self, cores: float = 0.1, timeout: float = 90.0) -> float:
        """Wait until the server's process group idles (under `cores` for a second).

        Caseflow keeps working after /health answers: its Prefect runner imports and
        starts the local Prefect API in a background thread, which takes seconds of
        CPU. Measuring before that is over measures the warm-up too.
        """
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            meter = CpuMeter(self.pgids)
            time.sleep(1.0)
            if meter.stop()["server_cores"] < cores:
                break
        return time.perf_counter() - started

    @property
    def pgids(self) -> tuple[int, ...]:
        """The process groups whose CPU counts as this server's: its own and its companions'."""
        return (self.proc.pid, *(c.proc.pid for c in self.companions))

    def alive(self) -> bool:
        return self.proc.poll() is None and all(c.alive() for c in self.companions)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def seconds_until_logged(self, text: str) -> float | None:
        """Seconds from start until the first log line (stamped `%(asctime)s`) with `text`."""
        self._log.flush()
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:
            if text in line:
                stamp = _log_stamp(line)
                return None if stamp is None else stamp.timestamp() - self.started_wall
        return None

    def stop(self) -> None:
        """SIGINT (graceful), then SIGTERM, then SIGKILL to the whole process group."""
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        for sig, grace in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None and not _group_alive(pgid):
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + grace
            while time.monotonic() < end:
                if self.proc.poll() is not None and not _group_alive(pgid):
                    break
                time.sleep(0.05)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _clean_env() -> dict[str, str]:
    """This environment without Caseflow or Prefect settings, so each server gets only ours."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CASEFLOW_", "PREFECT_"))} | {"PYTHONUNBUFFERED": "1"}


def caseflow_command() -> list[str]:
    """The `caseflow serve` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "caseflow"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "caseflow.cli", "serve"]


@contextmanager
def caseflow_server(
    *,
    data_dir: Path,
    db: Database,
    policies: Path | None = None,
    flow_runner: str = "prefect",
    env: dict[str, str] | None = None,
    ready_timeout: float = 90.0,
    wait: bool = True,
) -> Iterator[ServerProcess]:
    """Run `caseflow serve` on a free port; stop it (and its Prefect server) afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = _clean_env() | {
        "CASEFLOW_DATA_DIR": str(data_dir),
        "CASEFLOW_DATABASE_URL": db.url,
        "CASEFLOW_POLICIES": str(policies or ROOT / "policies"),
        "CASEFLOW_HOST": "127.0.0.1",
        "CASEFLOW_PORT": str(port),
        "CASEFLOW_PREFECT_PORT": str(free_port()),  # its Prefect server's, not 4200
        "CASEFLOW_FLOW_RUNNER": flow_runner,
        "PREFECT_HOME": str(data_dir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    } | (env or {})
    server = ServerProcess("caseflow", caseflow_command(), full_env, port,
                           data_dir / "server.log")
    try:
        if wait:
            server.wait_ready("/health", ready_timeout)
            server.headers = _agent_credentials(server, data_dir)
        yield server
    finally:
        server.stop()


def _agent_credentials(server: ServerProcess, data_dir: Path) -> dict[str, str]:
    """An agent key for the complaints team, made with the admin key of the first start."""
    admin = (data_dir / "admin-key.txt").read_text().strip()
    created = httpx.post(f"{server.base_url}/admin/keys", timeout=10,
                         headers={"Authorization": f"Bearer {admin}"},
                         json={"name": "bench", "kind": "integration", "role": "agent",
                               "teams": ["complaints"]})
    if created.status_code != 201:
        raise BenchError(f"could not create a key: {created.status_code} {created.text[:200]}")
    return {"Authorization": f"Bearer {created.json()['key']}"}


@contextmanager
def bare_server(workdir: Path, ready_timeout: float = 30.0, *, postgres_url: str | None = None,
                workers: int = 1) -> Iterator[ServerProcess]:
    """Run the bare FastAPI reference app (bench/bare_app.py) under uvicorn on a free port;
    with `postgres_url`, writing a complaint's rows there for each request, in `workers`
    server processes."""
    port = free_port()
    cmd = [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port)]
    if postgres_url:
        cmd += ["--postgres-url", postgres_url, "--workers", str(workers)]
    server = ServerProcess("bare FastAPI", cmd, _clean_env(), port, workdir / "bare.log")
    try:
        server.wait_ready("/health", ready_timeout)
        yield server
    finally:
        server.stop()
