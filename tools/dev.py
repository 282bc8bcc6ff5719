#!/usr/bin/env python3
"""Set up the project's virtual environment, then run the service, the tests or the linters.

    python3 tools/dev.py up      # install (once) and start the service on embedded defaults
    python3 tools/dev.py test    # install (once) and run the whole test suite (what CI runs)
    python3 tools/dev.py lint    # ruff, the import contracts (lint-imports), then mypy
    python3 tools/dev.py bench   # the benchmarks in bench/ (see bench/README.md)

Tests, in tiers (docs/testing.md), on both cores (pytest-xdist):

    python3 tools/dev.py test           # everything, as CI runs it: SQLite and PostgreSQL,
                                        # end-to-end, server-mode and the benchmark smoke test
    python3 tools/dev.py test --fast    # tests/unit and tests/api on SQLite only (their
                                        # PostgreSQL runs left out): 1-2 minutes
    python3 tools/dev.py test --bench   # the benchmark tests alone (marker `bench`)
    python3 tools/dev.py test ARGS...   # pytest ARGS, e.g. tests/store -x, -m "not postgres",
                                        # -k escalation; add -n 0 for one process (--pdb)

--fast and --bench take more pytest arguments after them. The database tests run on
SQLite and on PostgreSQL (127.0.0.1:5432, database `test`) when it is reachable; with
CASEFLOW_REQUIRE_POSTGRES=1, as in CI, they fail rather than skip without it. Markers:
postgres (a test's PostgreSQL run), e2e, server, bench, serial (one at a time, beside the others).

Only the Python standard library is used here, so this runs on a machine that has
nothing but Python 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".caseflow-installed"
# What the service runs on, then what its tests, linters and benchmarks add (tools/lock.py).
LOCKS = ("requirements.lock", "requirements-dev.lock")
# pytest-xdist, a worker per core, each file's tests on one worker; the tests marked
# `serial` (tests/conftest.py) run beside them, one at a time, in a process of their own.
PARALLEL = ["-n", "auto", "--dist", "loadfile"]
# The whole suite's parallel pass takes a worker more than the cores: its end-to-end tests
# spend much of their time waiting on the service processes they start.
WHOLE_SUITE = ["-n", str((os.cpu_count() or 1) + 1), "--dist", "loadfile"]
FAST = ["tests/unit", "tests/api", "-m", "not postgres"]
BENCH = ["-m", "bench"]


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in (*LOCKS, "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the locked dependencies, unless already done for this lock."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Caseflow needs Python 3.11; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing locked dependencies into .venv (first run takes a minute) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    locks = [arg for lock in LOCKS for arg in ("-r", str(ROOT / lock))]
    subprocess.run([*pip, "--require-hashes", *locks], check=True, cwd=ROOT)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def run(*argv: str) -> int:
    return subprocess.run(list(argv), cwd=ROOT).returncode


def test(python: str, args: list[str]) -> int:
    """The whole suite, a tier (--fast, --bench), or pytest with `args`; on both cores."""
    pytest = [python, "-m", "pytest"]
    if args[:1] == ["--fast"]:
        return run(*pytest, *PARALLEL, *FAST, *args[1:])
    if args[:1] == ["--bench"]:  # two tests: no workers
        return run(*pytest, *BENCH, *args[1:])
    if args:
        return run(*pytest, *PARALLEL, *args)
    return whole_suite(pytest)


def whole_suite(pytest: list[str]) -> int:
    """Every test: the parallel pass on both cores, and beside it the `serial` tests one
    at a time in a process of their own. Those mostly wait on what they start (Prefect
    servers, the service, Chromium), which leaves a core idle when they run alone; they
    only must not run beside each other. Their output is held and printed after the
    parallel pass's, so the two never interleave."""
    with tempfile.TemporaryFile("w+") as held:
        print("the serial tests run beside the others; their output follows theirs", flush=True)
        serial = subprocess.Popen([*pytest, "-m", "serial"], cwd=ROOT, stdout=held,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            failed = run(*pytest, *WHOLE_SUITE, "-m", "not serial")
        finally:
            serial_failed = serial.wait()
            held.seek(0)
            sys.stdout.write(held.read())
            sys.stdout.flush()
    return failed or serial_failed


def lint(extra: list[str]) -> int:
    """Run every linter, each whatever the others found; fail if any fails. `extra`
    goes to ruff (`lint --fix`)."""
    checks = [
        ("ruff", [str(BIN / "python"), "-m", "ruff", "check", ".", *extra]),
        ("lint-imports", [str(BIN / "lint-imports")]),
        ("mypy", [str(BIN / "python"), "-m", "mypy"]),  # its files are in pyproject.toml
    ]
    failed = [name for name, argv in checks if run(*argv) != 0]
    if failed:
        print(f"lint failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if command not in {"up", "test", "lint", "bench"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    if command == "test" and extra[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    ensure_venv()
    python = str(BIN / "python")
    if command == "up":
        os.chdir(ROOT)  # the data directory is .data in the directory it starts in
        os.execv(str(BIN / "caseflow"), [str(BIN / "caseflow"), "serve", *extra])
    if command == "test":
        return test(python, extra)
    if command == "lint":
        return lint(extra)
    return run(python, "bench/run.py", *extra)


if __name__ == "__main__":
    raise SystemExit(main())
