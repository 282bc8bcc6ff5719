"""`caseflow what-if`: a period's complaints replayed under a directory of policy files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import yaml

from tests.conftest import build_runtime, sweep
from tests.store.helpers import open_complaint, send
from tests.support import REPO, write_policies


def _caseflow(tmp_path, url: str, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "CASEFLOW_DATA_DIR": str(tmp_path / "data"),
           "CASEFLOW_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "caseflow.cli", "what-if", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def _two_late_complaints(sqlite_database, clock, tmp_path) -> str:  # type: ignore[no-untyped-def]
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    try:
        ids = [open_complaint(rt, category="delivery", ref=f"c-{i}") for i in range(2)]
        clock.advance(timedelta(minutes=25))
        sweep(rt)
        for case_id in ids:
            for event in ("acknowledge", "resolve", "confirm"):
                send(rt, case_id, event)
    finally:
        rt.engine.dispose()
    return sqlite_database[0]


def test_what_if_prints_recorded_beside_candidate(sqlite_database, clock, tmp_path):
    url = _two_late_complaints(sqlite_database, clock, tmp_path)
    candidate = write_policies(tmp_path / "candidate")
    data = yaml.safe_load((candidate / "complaint.yaml").read_text())
    data["complaint"]["clocks"]["first_response"]["targets"]["ordinary"] = "PT30M"
    (candidate / "complaint.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    args = ("--policies", str(candidate), "--from", "2026-11-20", "--to", "2026-11-20")
    shown = _caseflow(tmp_path, url, *args)
    assert shown.returncode == 0, shown.stderr
    line = next(li for li in shown.stdout.splitlines() if "on-time first_response" in li)
    assert "0.0% (0/2)" in line and "100.0% (2/2)" in line
    assert "complaints whose outcome changes: 2" in shown.stdout
    said = next(li for li in shown.stdout.splitlines() if "not replayed" in li)
    assert "replayed: complaint" in said and "crisis" in said and "service_request" in said
    as_json = json.loads(_caseflow(tmp_path, url, *args, "--json").stdout)
    assert as_json["recorded"]["breaches"] == 2 and as_json["candidate"]["breaches"] == 0
    assert as_json["replayed"] == ["complaint"] and "crisis" in as_json["not_replayed"]
    split = json.loads(_caseflow(tmp_path, url, *args, "--json", "--processes", "2").stdout)
    assert split == as_json
    other_day = _caseflow(tmp_path, url, "--policies", str(candidate), "--from", "2026-11-21",
                          "--to", "2026-11-21", "--team", "billing", "--json")
    assert json.loads(other_day.stdout)["recorded"]["cases"] == 0


def test_a_bad_candidate_or_period_exits_2_naming_it(sqlite_database, clock, tmp_path):
    url = _two_late_complaints(sqlite_database, clock, tmp_path)
    candidate = write_policies(tmp_path / "candidate")
    text = (candidate / "complaint.yaml").read_text().replace("PT20M", "twenty minutes")
    (candidate / "complaint.yaml").write_text(text)
    bad = _caseflow(tmp_path, url, "--policies", str(candidate), "--from", "2026-11-20",
                    "--to", "2026-11-20")
    assert bad.returncode == 2
    assert "complaint.yaml: complaint.clocks.first_response.targets.ordinary" in bad.stderr
    shipped = str(write_policies(tmp_path / "shipped"))
    for args, said in [(("--from", "2026-11-20", "--to", "2026-11-19"), "is before"),
                       (("--from", "20 Nov", "--to", "2026-11-19"), "not a date"),
                       (("--from", "2026-11-20", "--to", "2026-11-20", "--team", "nobody"),
                        "unknown team"),
                       (("--from", "2026-11-20", "--to", "2026-11-20", "--timezone", "Mars"),
                        "unknown timezone")]:
        refused = _caseflow(tmp_path, url, "--policies", shipped, *args)
        assert refused.returncode == 2 and said in refused.stderr, (args, refused.stderr)
