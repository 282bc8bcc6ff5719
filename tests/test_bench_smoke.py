"""The benchmark scripts run end to end at quick sizes. This proves they work, not speed.

One run covers Caseflow, both peers (bench/peers/: Prefect-native and SpiffWorkflow) and
the bare FastAPI reference, with small counts: the Prefect-native peer opens about one
complaint a second on SQLite, so `--quick`'s 50 requests per level would take minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
N = 10
PEERS = ("prefect-native", "SpiffWorkflow")


@pytest.mark.e2e
@pytest.mark.bench
@pytest.mark.timeout(600)
def test_quick_benchmark_runs_every_scenario_and_peer_and_prints_its_tables(
        tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--database", "sqlite",
         "--levels", "1,4", "--requests", str(N), "--storm-n", str(N), "--workers", "1,2",
         "--json", str(figures)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the runner unwinds and stops the servers it started
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"bench/run.py --quick did not finish in 540 s\n{out}\n{err}")

    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    for text in ("intake:", "storm:", "cf/peer rate", "peer/cf record"):
        assert text in out, out
    for target in ("caseflow", "bare FastAPI", *PEERS):
        assert target in out, out
    results = json.loads(figures.read_text())["results"]

    intake = results["intake"]
    assert sorted((row["target"], row.get("workers", 0), row["clients"]) for row in intake
                  ) == sorted([("caseflow", workers, clients) for workers in (1, 2)
                               for clients in (1, 4)] + [
        (target, 0, clients) for target in ("bare FastAPI", *PEERS) for clients in (1, 4)])
    assert all(row["errors"] == 0 for row in intake if row["target"] in
               ("caseflow", "bare FastAPI"))
    for row in intake:
        if row["target"] in PEERS:  # a peer accepted complaints and has its ratios
            assert row["per_s"] > 0 and row["x_rate"] > 0 and row["x_p99"] > 0, row

    storms = results["storm"]
    assert [(row["target"], row["mode"], row["n"]) for row in storms] == [
        ("caseflow", "restart", N), ("caseflow", "live", N),
        ("prefect-native", "live", N), ("SpiffWorkflow", "live", N)]
    for row in storms[2:]:  # every complaint escalated once, both people told
        assert row["escalation_entries"] == N and row["posts"] == 2 * N, row
        assert row["x_record"] > 0 and row["x_notify"] > 0, row
