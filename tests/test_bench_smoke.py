"""The benchmark scripts run end to end at quick sizes. This proves they work, not speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_quick_benchmark_runs_every_scenario_and_prints_its_table(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--database", "sqlite",
         "--json", str(figures)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=200)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the runner unwinds and stops the servers it started
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"bench/run.py --quick did not finish in 200 s\n{out}\n{err}")

    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    for title in ("intake:", "storm:"):
        assert title in out, out
    for target in ("caseflow", "bare FastAPI"):
        assert target in out, out
    results = json.loads(figures.read_text())["results"]
    assert {row["target"] for row in results["intake"]} == {"caseflow", "bare FastAPI"}
    assert all(row["errors"] == 0 for row in results["intake"])
    assert [(row["database"], row["n"]) for row in results["storm"]] == [("sqlite", 50)]
