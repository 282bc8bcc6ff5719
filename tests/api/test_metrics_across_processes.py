"""Rungs fired by another process on the store (a Prefect worker in server mode, a second
instance) are in this API's `/metrics`: the rung series are read from the store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.api.helpers import open_case
from tests.api.test_metrics import moved, scrape

ROOT = Path(__file__).resolve().parents[2]
LATENESS = "caseflow_escalation_rung_lateness_seconds"


def _fire_in_another_process(database: tuple[str, dict], runtime, at) -> dict:  # type: ignore[no-untyped-def]
    url, options = database
    done = subprocess.run(
        [sys.executable, "-m", "tests.api.fire_elsewhere", url, json.dumps(options),
         str(runtime.settings.policies), at.isoformat()],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rungs_another_process_fired_are_counted_in_this_api_s_metrics(
        client, runtime, clock, database):  # type: ignore[no-untyped-def]
    before = scrape(client)
    for n in range(3):
        open_case(client, customer={"ref": f"elsewhere-{n}", "name": "Lin", "tier": "B"})
    # Past the warning (15 min) and the breach (20 min): fired by the other process only.
    assert _fire_in_another_process(database, runtime,
                                    clock.now() + timedelta(minutes=21)) == {"fired": 6}
    after = scrape(client)
    for level in ("0", "1"):
        assert moved(before, after, "caseflow_escalation_rungs_fired_total",
                     process="complaint", level=level) == 3
    assert moved(before, after, f"{LATENESS}_count", process="complaint") == 6
    # 6 minutes late for each warning, 1 minute for each breach (the clock jumped).
    assert moved(before, after, f"{LATENESS}_sum", process="complaint") == pytest.approx(
        3 * 360 + 3 * 60)
    assert moved(before, after, f"{LATENESS}_bucket", process="complaint", le="60.0") == 3
    assert moved(before, after, f"{LATENESS}_bucket", process="complaint", le="300.0") == 3
    assert moved(before, after, f"{LATENESS}_bucket", process="complaint", le="+Inf") == 6
    # Nothing was counted in this process's memory: a second scrape reads the same totals.
    again = scrape(client)
    rung_series = {key for key in after if key[0].startswith("caseflow_escalation_")}
    assert rung_series and all(again[key] == after[key] for key in rung_series)


def test_a_rolled_back_firing_counts_nothing(runtime, client):  # type: ignore[no-untyped-def]
    from sqlmodel import Session

    from engine import metrics
    from engine.models import RungCount

    before = scrape(client)
    with Session(runtime.engine) as session:
        metrics.rung_fired(session, "complaint", 1, None, runtime.clock.now())
        session.rollback()
        session.commit()
    with Session(runtime.engine) as session:
        metrics.rung_fired(session, "complaint", 2, None, runtime.clock.now())
        session.commit()
        assert session.get(RungCount, ("complaint", 2, -1)) is not None
    after = scrape(client)
    assert moved(before, after, "caseflow_escalation_rungs_fired_total",
                 process="complaint", level="1") == 0
    assert moved(before, after, "caseflow_escalation_rungs_fired_total",
                 process="complaint", level="2") == 1
    # A rung with no due time is counted, outside the lateness histogram.
    assert moved(before, after, f"{LATENESS}_count", process="complaint") == 0
