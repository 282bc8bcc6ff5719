"""The ratios beside the peers' figures: what is compared with what."""

from __future__ import annotations

from typing import Any

from bench.intake import FLOOR
from bench.run import add_limit_ratios, add_ratios


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


def _intake(target: str, database: str, clients: int, per_s: float) -> dict[str, Any]:
    return {"database": database, "target": target, "clients": clients, "per_s": per_s}


def test_an_intake_row_is_a_share_of_each_limit_at_its_clients() -> None:
    rows = [_intake("bare FastAPI", "-", 1, 1_600.0), _intake("raw psycopg", "postgres", 1, 900.0),
            _intake(FLOOR, "postgres", 1, 500.0), _intake(FLOOR, "postgres", 16, 400.0),
            _intake("caseflow", "postgres", 1, 250.0), _intake("caseflow", "sqlite", 1, 400.0),
            _intake("caseflow", "postgres", 16, 800.0)]
    add_limit_ratios(rows)
    limits, (on_postgres, on_sqlite, sixteen) = rows[:4], rows[4:]
    assert all("of_bare" not in row and "of_floor" not in row for row in limits)
    assert (on_postgres["of_bare"], on_postgres["of_raw"], on_postgres["of_floor"]) == (
        250 / 1_600, 250 / 900, 0.5)
    assert on_sqlite["of_bare"] == 0.25 and "of_raw" not in on_sqlite \
        and "of_floor" not in on_sqlite
    assert sixteen["of_floor"] == 2.0 and "of_bare" not in sixteen
