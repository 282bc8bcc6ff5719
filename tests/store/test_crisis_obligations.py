"""A crisis's promises and obligations as people read them, on SQLite and PostgreSQL.

S1 (likely x severe): a status update every PT30M, a public notice within PT1H; S3
(possible x moderate): update every P1D, notice within PT24H. Shanghai times.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from core.queries import get_case
from domain.process import InvalidEvent
from tests.store.crisis_helpers import by_lead, crisis_runtime, raise_crisis
from tests.store.helpers import load, timeline
from tests.support import shanghai


@pytest.fixture
def rt(database, clock, tmp_path):  # type: ignore[no-untyped-def]
    runtime = crisis_runtime(database, clock, tmp_path / "policies")
    yield runtime
    runtime.engine.dispose()


def _notice(rt, crisis_id: int, number: int) -> dict:  # type: ignore[no-untyped-def]
    return load(rt, crisis_id).data["notices"][number - 1]


def test_a_published_notice_never_promises_an_update_time_already_past(rt, clock):
    clock.set(shanghai(2026, 11, 20, 13, 24, 36))
    crisis_id = raise_crisis(rt).id
    by_lead(rt, crisis_id, "confirm", likelihood="likely", impact="severe")  # update_1 13:54:36
    # Drafted before the update is due: the due time to the minute up, never 13:54.
    clock.set(shanghai(2026, 11, 20, 13, 50))
    by_lead(rt, crisis_id, "draft_notice", channel="website", summary="Parcels are late.")
    early = _notice(rt, crisis_id, 1)
    assert "在 2026-11-20 13:55 (UTC+08:00) 前发布" in early["body"]
    by_lead(rt, crisis_id, "approve_notice", actor="liu.yang", notice=1)
    # Drafted after it was due (13:55:01): the update a post now would owe, 14:25:01.
    clock.set(shanghai(2026, 11, 20, 13, 55, 1))
    by_lead(rt, crisis_id, "draft_notice", channel="website", summary="Parcels are late.")
    late = _notice(rt, crisis_id, 2)
    assert "在 2026-11-20 14:26 (UTC+08:00) 前发布" in late["body"]
    # The early notice, approved, would now promise a past time: refused, unpublished.
    with pytest.raises(InvalidEvent, match="13:55 .*which has passed") as refused:
        by_lead(rt, crisis_id, "publish_notice", notice=1)
    assert refused.value.field == "data.notice"
    assert _notice(rt, crisis_id, 1)["status"] == "approved"
    by_lead(rt, crisis_id, "approve_notice", actor="liu.yang", notice=2)
    by_lead(rt, crisis_id, "publish_notice", notice=2)
    assert _notice(rt, crisis_id, 2)["status"] == "published"


def test_obligations_cut_short_by_resolve_are_waived_not_met(rt, clock):
    crisis_id = raise_crisis(rt).id
    by_lead(rt, crisis_id, "confirm", likelihood="possible", impact="moderate")  # S3
    clock.advance(timedelta(hours=1))
    by_lead(rt, crisis_id, "assemble_team", lead="wang.fang", members=["li.wei"])
    clock.advance(timedelta(hours=1))  # no notice, no update: neither due for hours
    by_lead(rt, crisis_id, "resolve", summary="The depot reopened.")
    with Session(rt.engine) as session:
        view = get_case(session, crisis_id, rt, clock.now())
    assert view is not None
    clocks = {c.name: c for c in view.clocks}
    assert clocks["team"].met is True and clocks["team"].waived is None  # met, in time
    for name in ("first_notice", "update_1"):
        assert clocks[name].state == "stopped" and clocks[name].met is None
        assert clocks[name].waived == {"by": "wang.fang", "at": clock.now().isoformat(),
                                       "reason": "the crisis was resolved before it was due"}
    [resolved] = [e for e in timeline(rt, crisis_id) if e.type == "resolve"]
    assert resolved.details["waived"] == ["first_notice", "update_1"]


def test_an_obligation_already_missed_at_resolve_stays_missed(rt, clock):
    crisis_id = raise_crisis(rt).id
    by_lead(rt, crisis_id, "confirm", likelihood="likely", impact="severe")  # S1
    by_lead(rt, crisis_id, "assemble_team", lead="wang.fang", members=["li.wei"])
    clock.advance(timedelta(minutes=45))  # update_1 was due after 30 minutes
    by_lead(rt, crisis_id, "resolve", summary="Contained.")
    with Session(rt.engine) as session:
        view = get_case(session, crisis_id, rt, clock.now())
    assert view is not None
    clocks = {c.name: c for c in view.clocks}
    assert (clocks["update_1"].met, clocks["update_1"].waived) == (False, None)
    assert clocks["first_notice"].met is None and clocks["first_notice"].waived is not None
