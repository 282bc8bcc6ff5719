"""The wheel, as an operator installs it: the runtime lock with its hashes into a fresh venv,
then the wheel, then `caseflow serve` from an empty directory on the embedded defaults."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import free_port
from tests.support import REPO

pytestmark = pytest.mark.packaging
# What the wheel is built from: the rest of the checkout (tests, docs, .venv) stays out.
SOURCES = ("pyproject.toml", "README.md", "policies", "domain", "engine", "core", "processes",
           "api", "flows", "tasks", "caseflow")


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: a checkout on it, with its editable install's metadata, would
    # have pip take the wheel as installed already, and install nothing.
    kwargs.setdefault("env", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            timeout=900, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the runtime lock (hashes required) and the wheel; its bin/."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, source / name)
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check"]
    _run(*pip, "install", "--quiet", "--require-hashes", "-r", REPO / "requirements.lock")
    _run(*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", source)
    [wheel] = (root / "dist").glob("caseflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("caseflow-0.1.0.data/data/share/caseflow/policies/complaint.yaml",
                    "core/locale/zh_Hans/LC_MESSAGES/caseflow.po", "engine/alembic.ini",
                    "engine/migrations/env.py", "engine/migrations/versions/0001_case_store.py",
                    # the console's pages, style sheet and texts
                    "api/console/templates/base.html", "api/console/static/console.css",
                    "core/locale/zh_Hans/LC_MESSAGES/console.po"):
        assert shipped in names, shipped
    assert not [n for n in names if n.startswith("tests/")]
    # No index: whatever the wheel needs must have come with the runtime lock.
    _run(*pip, "install", "--quiet", "--no-index", wheel)
    return venv / "bin"


def test_the_installed_wheel_serves_on_its_embedded_defaults(installed, tmp_path):
    workdir = tmp_path / "empty"
    workdir.mkdir()
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           # Only so as not to collide with a Prefect server of another test on 4200.
           "CASEFLOW_PREFECT_PORT": str(free_port())}
    log = (tmp_path / "service.log").open("w+")
    service = subprocess.Popen([installed / "caseflow", "serve", "--port", str(port)],
                               cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and service.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200, _tail(log)
        assert answer.json()["database"] == "sqlite"
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0, _tail(log)
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
    said = _tail(log)
    venv = installed.parent
    assert f"data: {workdir / '.data'}" in said
    assert f"policies: {venv / 'share' / 'caseflow' / 'policies'}" in said
    assert (workdir / ".data" / "caseflow.db").exists()
    assert (workdir / ".data" / "admin-key.txt").exists()


def test_the_installed_package_migrates_with_caseflow_and_with_alembic(installed, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    migrated = _run(installed / "caseflow", "migrate", cwd=tmp_path, env=env)
    assert migrated.stdout.startswith("applied 0001: case store\n")
    site = _run(installed / "python", "-c", "import engine, pathlib; "
                "print(pathlib.Path(engine.__file__).parent)", cwd=tmp_path, env=env)
    ini = Path(site.stdout.strip()) / "alembic.ini"
    current = _run(installed / "alembic", "-c", ini, "current", cwd=tmp_path, env=env)
    assert "(head)" in current.stdout
    policies = tmp_path / "mine"
    _run(installed / "caseflow", "init", policies, cwd=tmp_path, env=env)
    checked = _run(installed / "caseflow", "check-policies", cwd=tmp_path,
                   env={**env, "CASEFLOW_POLICIES": str(policies)})
    assert f"policies OK: {policies}" in checked.stdout


def _tail(log: object) -> str:
    log.seek(0)  # type: ignore[attr-defined]
    return log.read()[-5000:]  # type: ignore[attr-defined]
