#!/usr/bin/env python3
"""Write the dependency locks from pyproject.toml, with pip-tools, keeping every pin they hold.

    python3 tools/lock.py                             # after changing pyproject's dependencies
    python3 tools/lock.py --upgrade-package prefect   # move one package (options go to both)

- requirements.lock: what the service needs to run (pyproject's `dependencies`), which is
  all an operator installs: `pip install --require-hashes -r requirements.lock`, then the
  wheel;
- requirements-dev.lock: the same, with the `dev` (tests, lint) and `bench` extras, pinned
  to the versions of requirements.lock (`tools/dev.py` installs both).

Both carry the sha256 of every file PyPI has for each pin, so pip refuses a file it has
never seen. pip-compile keeps the versions already in a lock unless told to move them. It
runs in a throwaway virtual environment; only the Python standard library is used here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ["pip==26.3", "pip-tools==7.7.0"]
# --no-strip-extras: pip 23 (Python 3.11's) refuses `httpx[http2]`, which prefect asks for,
# in hash-checking mode unless the pin carries the extra too.
COMMON = ["--quiet", "--generate-hashes", "--no-strip-extras", "--no-emit-index-url",
          "--no-emit-find-links"]


def main() -> int:
    extra = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="caseflow-lock-") as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check"]
        subprocess.run([*pip, *TOOLS], check=True)
        compile_ = [str(venv / "bin" / "pip-compile"), *COMMON, *extra]
        # The command the locks' headers tell their readers to run.
        env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "python3 tools/lock.py"}
        subprocess.run([*compile_, "--output-file", "requirements.lock", "pyproject.toml"],
                       check=True, cwd=ROOT, env=env)
        subprocess.run([*compile_, "--extra", "dev", "--extra", "bench",
                        "--constraint", "requirements.lock",
                        "--output-file", "requirements-dev.lock", "pyproject.toml"],
                       check=True, cwd=ROOT, env=env)
    print("wrote requirements.lock and requirements-dev.lock")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
