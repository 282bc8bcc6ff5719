"""What an operator runs: `caseflow serve` refuses plainly, and writes nothing, when its store
or its port is not there; `caseflow migrate` and alembic name what they apply."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from engine.db import migration_scripts
from tests.e2e.service import ServiceProcess, free_port
from tests.support import REPO, write_policies

HEAD = migration_scripts().get_revision("heads")


def caseflow(tmp_path: Path, *args: str, cwd: Path = REPO,
             **env: str) -> subprocess.CompletedProcess[str]:
    """`caseflow ARGS` in its own process, on a data directory under tmp_path."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
            "CASEFLOW_DATA_DIR": str(tmp_path / "data"),
            "CASEFLOW_POLICIES": str(write_policies(tmp_path / "policies")),
            "CASEFLOW_PREFECT_PORT": str(free_port())}
    return subprocess.run([sys.executable, "-m", "caseflow.cli", *args], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The refusal, which must be one line and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_serve_help_lists_the_flags_the_settings_they_override_and_the_exit_codes(tmp_path):
    result = caseflow(tmp_path, "serve", "--help")
    assert result.returncode == 0
    for text in ("--host", "--port", "--workers", "CASEFLOW_HOST", "CASEFLOW_PORT",
                 "CASEFLOW_WORKERS", "docs/configuration.md", "3  the store cannot be reached",
                 "4  a port is in use"):
        assert text in result.stdout, text


def test_a_bad_flag_is_refused_before_anything_else(tmp_path):
    for flags in (["--port", "0"], ["--port", "http"], ["--workers", "0"]):
        result = caseflow(tmp_path, "serve", *flags)
        assert result.returncode == 2, flags
        assert "caseflow serve: error: argument" in result.stderr
    assert not (tmp_path / "data").exists()


def test_an_unreachable_store_is_one_line_with_the_password_masked_and_exit_3(tmp_path):
    port = free_port()  # nothing listens there
    result = caseflow(tmp_path, "serve", "--port", str(free_port()),
                      CASEFLOW_DATABASE_URL=f"postgresql://caseflow:hunter2-secret@127.0.0.1:"
                                            f"{port}/cf")
    assert result.returncode == 3, result.stderr
    line = one_line(result)
    assert line.startswith("caseflow: refusing to start: cannot reach the store "
                           f"postgresql://caseflow:***@127.0.0.1:{port}/cf: ")
    assert "refused" in line
    assert "hunter2" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()


def test_a_sqlite_file_that_cannot_be_made_is_an_unreachable_store(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    result = caseflow(tmp_path, "serve", "--port", str(free_port()),
                      CASEFLOW_DATA_DIR=str(tmp_path / "file" / "data"))
    assert result.returncode == 3, result.stderr
    assert one_line(result) == (
        f"caseflow: refusing to start: cannot reach the store sqlite:///{tmp_path}/file/data/"
        f"caseflow.db: {tmp_path}/file is not a directory")


def test_a_port_in_use_is_one_line_naming_host_and_port_and_exit_4(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        # The flag overrides the variable: CASEFLOW_PORT names a free port.
        result = caseflow(tmp_path, "serve", "--host", "127.0.0.1", "--port", str(port),
                          CASEFLOW_PORT=str(free_port()))
    assert result.returncode == 4, result.stderr
    assert one_line(result) == (f"caseflow: refusing to start: 127.0.0.1:{port} is in use by "
                                f"another program; stop it or set CASEFLOW_PORT (--port) to "
                                f"a free port")
    assert not (tmp_path / "data").exists()


def test_serve_reads_the_port_from_its_variable_without_the_flag(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = caseflow(tmp_path, "serve", CASEFLOW_PORT=str(port))
    assert result.returncode == 4 and f"127.0.0.1:{port} is in use" in result.stderr


def test_serve_starts_a_fast_clock_on_a_new_store(tmp_path):
    (tmp_path / "data").mkdir()
    service = ServiceProcess(tmp_path / "data", write_policies(tmp_path / "policies"),
                             CASEFLOW_FLOW_RUNNER="inline", CASEFLOW_CLOCK_SPEED="60")
    try:
        service.start()
        assert httpx.get(f"{service.url}/health", timeout=5).status_code == 200
    finally:
        service.stop()
    # Started once, the store's clock runs at 60x: another speed is refused plainly.
    result = caseflow(tmp_path, "serve", CASEFLOW_CLOCK_SPEED="1",
                      CASEFLOW_PORT=str(free_port()))
    assert result.returncode == 2 and "this store's clock has run at 60x" in result.stderr


def _cli_url(database: tuple[str, dict]) -> str:
    """The test database as one URL (the PostgreSQL schema in its options)."""
    url, options = database
    search_path = options.get("connect_args", {}).get("options")
    return f"{url}?options={quote(search_path)}" if search_path else url


@pytest.mark.postgres
def test_migrate_names_what_it_applies_and_says_already_at_head_only_after(tmp_path,
                                                                         empty_database):
    url = _cli_url(empty_database)
    fresh = caseflow(tmp_path, "migrate", CASEFLOW_DATABASE_URL=url)
    assert fresh.returncode == 0, fresh.stderr
    lines = fresh.stdout.splitlines()
    assert lines[0] == "applied 0001: case store"
    assert f"applied {HEAD.revision}: {HEAD.doc}" in lines
    assert lines[-1] == f"now at {HEAD.revision}"
    assert "already" not in fresh.stdout

    again = caseflow(tmp_path, "migrate", CASEFLOW_DATABASE_URL=url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"already at {HEAD.revision} ({HEAD.doc}): nothing to apply\n"


def test_migrate_applies_only_what_a_store_lacks(tmp_path):
    from engine.db import make_engine

    url = f"sqlite:///{tmp_path / 'data' / 'caseflow.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:  # a store left at the revision before the head
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(REPO / "engine" / "migrations"))
        config.attributes["connection"] = connection
        command.upgrade(config, HEAD.down_revision)
    engine.dispose()
    result = caseflow(tmp_path, "migrate")
    assert result.stdout == f"applied {HEAD.revision}: {HEAD.doc}\nnow at {HEAD.revision}\n"


def test_migrate_refuses_an_unreachable_store_in_one_line(tmp_path):
    port = free_port()
    result = caseflow(tmp_path, "migrate",
                      CASEFLOW_DATABASE_URL=f"postgresql://u:pw-secret@127.0.0.1:{port}/x")
    assert result.returncode == 3
    assert one_line(result).startswith(f"caseflow: cannot reach the store "
                                       f"postgresql://u:***@127.0.0.1:{port}/x: ")


def test_alembic_runs_from_any_directory_on_the_service_s_store(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.environ["PATH"], "CASEFLOW_DATA_DIR": str(tmp_path / "data")}
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "engine" / "alembic.ini")]
    upgraded = subprocess.run([*alembic, "upgrade", "head"], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    current = subprocess.run([*alembic, "current"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=120)
    assert current.stdout.strip() == f"{HEAD.revision} (head)", current.stderr
    assert (tmp_path / "data" / "caseflow.db").exists()
    assert "already at" in caseflow(tmp_path, "migrate").stdout


def test_init_writes_the_default_policies_and_never_over_a_file(tmp_path):
    target = tmp_path / "my-policies"
    written = caseflow(tmp_path, "init", str(target))
    assert written.returncode == 0, written.stderr
    shipped = sorted(p.name for p in (REPO / "policies").glob("*.yaml"))
    assert sorted(p.name for p in target.iterdir()) == shipped
    assert f"CASEFLOW_POLICIES={target}" in written.stdout
    (target / "teams.yaml").write_text("# mine\n")
    again = caseflow(tmp_path, "init", str(target))
    assert again.returncode == 2 and "teams.yaml" in again.stderr
    assert (target / "teams.yaml").read_text() == "# mine\n"


def test_the_data_directory_is_dot_data_in_the_current_directory(tmp_path):
    from core.settings import Settings

    here = tmp_path / "here"
    here.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", "from core.settings import Settings; print(Settings().data_dir)"],
        cwd=here, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == str(here / ".data"), result.stderr
    assert Settings(data_dir=Path("relative")).data_dir == Path.cwd() / "relative"


def test_dev_py_help_exits_0():
    for flag in ("--help", "-h", "help"):
        result = subprocess.run([sys.executable, str(REPO / "tools" / "dev.py"), flag],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and "tools/dev.py test" in result.stdout
