"""A team that chose English, on SQLite and PostgreSQL: its escalations and its section of
a review read in English first; the other team and the report as a whole keep the
service's Simplified Chinese first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import yaml
from sqlmodel import Session, col, select

from core.runtime import Runtime
from engine.models import OutboxMessage
from processes.reviews.runs import run_due_review
from tests.conftest import build_runtime, sweep
from tests.store.helpers import open_complaint
from tests.support import shanghai, write_policies


@pytest.fixture
def rt(database, clock, tmp_path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    policies = write_policies(tmp_path / "policies")
    teams = yaml.safe_load((policies / "teams.yaml").read_text(encoding="utf-8"))
    teams["teams"]["billing"]["language"] = "en"
    (policies / "teams.yaml").write_text(yaml.safe_dump(teams, allow_unicode=True),
                                         encoding="utf-8")
    runtime = build_runtime(database, policies, clock)
    yield runtime
    runtime.engine.dispose()


def _subjects(rt: Runtime, case_id: int) -> list[str]:
    with Session(rt.engine) as session:
        return list(session.exec(select(col(OutboxMessage.subject))
                                 .where(col(OutboxMessage.case_id) == case_id)))


def test_escalations_follow_the_language_of_the_case_s_team(rt, clock):
    billing = open_complaint(rt, category="billing", ref="cust-b")
    complaints = open_complaint(rt, category="delivery", ref="cust-c")
    clock.advance(timedelta(minutes=21))
    sweep(rt)
    english, chinese = _subjects(rt, billing), _subjects(rt, complaints)
    assert english and all(s.startswith("[complaint #") and " / [投诉 #" in s for s in english)
    assert chinese and all(s.startswith("[投诉 #") and " / [complaint #" in s for s in chinese)


def test_a_review_writes_each_team_s_section_in_its_language(rt, clock):
    clock.set(shanghai(2026, 11, 11, 10, 0))
    open_complaint(rt, category="billing", ref="cust-b")
    open_complaint(rt, category="delivery", ref="cust-c")
    clock.set(shanghai(2026, 11, 16, 9, 0))
    run = run_due_review(rt, "weekly-complaint-review").run
    assert run is not None and run.status == "succeeded", run and run.error
    result = run.result
    assert result["summary"][0].startswith("本周期内新开 2 件投诉")
    assert result["summary"][0].splitlines()[1].startswith("2 complaints opened")
    billing, complaints = (result["teams"][t]["summary"][0] for t in ("billing", "complaints"))
    assert billing.splitlines()[0].startswith("Complaint on-time rate")
    assert billing.splitlines()[1].startswith("投诉准时率")
    assert complaints.splitlines()[0].startswith("投诉准时率")
