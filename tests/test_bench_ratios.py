"""The ratios beside the peers' figures: what is compared with what."""

from __future__ import annotations

from typing import Any

from bench.run import add_ratios


def _storm(target: str, n: int, record_s: float, notify_s: float, per_s: float
           ) -> dict[str, Any]:
    return {"database": "postgres", "target": target, "runner": "prefect", "mode": "live",
            "n": n, "record_s": record_s, "notify_s": notify_s, "records_per_s": per_s}


def test_a_peers_storm_of_another_size_is_compared_by_its_rate_only() -> None:
    results: dict[str, list[dict[str, Any]]] = {"intake": [], "console": [], "storm": [
        _storm("caseflow", 10_000, 4.0, 6.0, 2_500.0),
        _storm("SpiffWorkflow", 200, 2.0, 3.0, 100.0),
        _storm("prefect-native", 10_000, 40.0, 90.0, 250.0)]}
    add_ratios(results)
    _, smaller, same = results["storm"]
    assert smaller["x_rate"] == 25.0 and "x_record" not in smaller and "x_notify" not in smaller
    assert (same["x_rate"], same["x_record"], same["x_notify"]) == (10.0, 10.0, 15.0)
