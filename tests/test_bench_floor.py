"""The floor under PostgreSQL intake (`bench.intake.run_floor`): the bare endpoint that
writes a complaint's rows before it answers really writes them, in every worker."""

from __future__ import annotations

import pytest

from bench.common import DEFAULT_POSTGRES_URL
from bench.intake import FLOOR, run_floor
from tests.conftest import _need_postgres

REQUESTS = 6


@pytest.mark.e2e
@pytest.mark.bench
@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_the_floor_writes_a_complaint_for_each_request_it_answers() -> None:
    _need_postgres()
    rows = run_floor(quick=True, postgres_url=DEFAULT_POSTGRES_URL, levels=(1, 3),
                     requests=REQUESTS, workers=2, log=lambda _: None)
    assert [(row["target"], row["clients"], row["workers"]) for row in rows] == [
        (FLOOR, 1, 2), (FLOOR, 3, 2)]
    assert all(row["errors"] == 0 and row["per_s"] > 0 for row in rows), rows
    # Each level's requests and its untimed warm-up (two a client) wrote a case each.
    assert {row["cases_written"] for row in rows} == {2 * REQUESTS + 2 * (1 + 3)}
