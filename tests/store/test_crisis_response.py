"""An S1 crisis in time travel, from a complaint spike to the PDCA cycle its review opens.

Friday 20 November 2026, 10:00 Shanghai. The spike policy: 20 complaints of one
category within PT1H. S1 (likely x severe): team within PT15M, first public notice
within PT1H, a status update every PT30M; the crisis ladder warns the lead at 75% and
tells the lead, supervisor and manager at 100%. The post-crisis review is due within
PT40H of working hours (09-12, 13-18 on weekdays) from the resolution.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from engine.models import Case, Finding, OutboxMessage, Timer
from processes.crisis import compensation as crisis_compensation
from processes.crisis.links import LinkFilter, link
from tests.conftest import sweep
from tests.store.crisis_helpers import (
    by_lead,
    compensation_counts,
    complaint_in,
    crises,
    crisis_runtime,
    linked_cases,
    seed_complaints,
)
from tests.store.helpers import escalations, load, timeline
from tests.support import shanghai

AFFECTED = 5000
SPIKE = 20


@pytest.fixture
def rt(database, clock, tmp_path, receiver):  # type: ignore[no-untyped-def]
    runtime = crisis_runtime(database, clock, tmp_path / "policies", receiver)
    yield runtime
    runtime.engine.dispose()


def test_an_s1_crisis_from_spike_to_review(rt, clock, receiver, monkeypatch):
    start = clock.now()
    # An earlier wave: customers whose parcels were lost two days ago (bulk-linked later).
    seed_complaints(rt, count=AFFECTED - SPIKE - 1, category="delivery",
                    opened_at=start - timedelta(days=2))

    # A spike: 20 delivery complaints in 38 minutes raise one candidate, at the 20th.
    spike = []
    for n in range(SPIKE):
        spike.append(complaint_in(rt, "delivery", f"spike-{n}"))
        assert len(crises(rt)) == (1 if n == SPIKE - 1 else 0)
        clock.advance(timedelta(minutes=2))
    late = complaint_in(rt, "delivery", "spike-late")  # linked as it arrives, no 2nd one
    [candidate] = crises(rt)
    crisis_id = candidate.id
    assert (candidate.stage, candidate.data["raised_by"]) == ("candidate", "detected")
    assert candidate.data["spike"]["count"] == SPIKE
    assert linked_cases(rt, crisis_id) == {*spike, late}
    assert any(e.type == "crisis_linked" for e in timeline(rt, late))
    sweep(rt)
    def heard(person: str, text: str) -> int:
        return sum(text in f"{r.body['title']}\n{r.body['message']}"
                   for r in receiver.for_person(person))

    assert heard("wang.fang", f"[crisis #{crisis_id}] candidate") == 1
    assert heard("liu.yang", f"[crisis #{crisis_id}] candidate") == 1  # the manager too
    sweep(rt)
    assert heard("liu.yang", f"[crisis #{crisis_id}] candidate") == 1  # once

    # Confirmation: likely x severe is S1; the obligations start.
    by_lead(rt, crisis_id, "confirm", likelihood="likely", impact="severe")
    confirmed_at = clock.now()
    crisis = load(rt, crisis_id)
    assert (crisis.stage, crisis.priority) == ("confirmed", "S1")
    due = [e for e in timeline(rt, crisis_id) if e.type == "confirm"][0].details["due"]
    assert due == {name: (confirmed_at + delta).isoformat() for name, delta in (
        ("team", timedelta(minutes=15)), ("first_notice", timedelta(hours=1)),
        ("update_1", timedelta(minutes=30)))}

    clock.advance(timedelta(minutes=10))
    by_lead(rt, crisis_id, "assemble_team", lead="wang.fang",
            members=["li.wei", "zhang.min", "liu.yang"])
    clock.advance(timedelta(minutes=5))
    by_lead(rt, crisis_id, "draft_notice", channel="website",
            summary="Parcels shipped on 18 November were delayed by a depot fire.")
    with pytest.raises(Exception, match="someone other than who drafted it"):
        by_lead(rt, crisis_id, "approve_notice", notice=1)
    with pytest.raises(Exception, match="not approved"):
        by_lead(rt, crisis_id, "publish_notice", notice=1)
    by_lead(rt, crisis_id, "approve_notice", actor="liu.yang", notice=1)
    clock.advance(timedelta(minutes=5))
    by_lead(rt, crisis_id, "publish_notice", notice=1)  # 20 minutes in: on time
    sweep(rt)
    [website] = receiver.for_person("channel-website")
    assert website.body["title"].startswith("服务公告：Spike of delivery complaints")
    assert "depot fire" in website.body["message"]
    assert "[key" not in website.body["message"]  # published as written, not a digest

    # The status update is missed: warned at 22.5 minutes, escalated at 30.
    clock.set(confirmed_at + timedelta(minutes=30))
    sweep(rt)
    assert escalations(rt, crisis_id) == [("update_1", "warning"), ("update_1", "missed")]
    assert load(rt, crisis_id).escalation_level == 1
    assert heard("liu.yang", f"[crisis #{crisis_id}] missed: update 1 at 100%") == 1
    by_lead(rt, crisis_id, "post_update", summary="Depot back up; deliveries resume.")
    clock.advance(timedelta(minutes=29))
    sweep(rt)  # the next update is due 30 minutes after this one, not before
    assert escalations(rt, crisis_id)[-1] == ("update_2", "warning")
    assert receiver.for_person("channel-internal")

    # Every affected customer: the earlier wave by filter; linking twice adds nothing.
    crisis_row = load(rt, crisis_id)
    window = {"category": "delivery", "opened_from": start - timedelta(days=3),
              "opened_to": clock.now()}
    with Session(rt.engine) as session:
        first = link(session, crisis_row, LinkFilter(**window), by="wang.fang", how="filter",
                     max_window=timedelta(days=30), now=clock.now())
        again = link(session, crisis_row, LinkFilter(**window), by="wang.fang", how="filter",
                     max_window=timedelta(days=30), now=clock.now())
        session.commit()
    assert first["linked"] == AFFECTED - SPIKE - 1 and again["linked"] == 0
    assert again["customers"] == AFFECTED

    by_lead(rt, crisis_id, "resolve", summary="All delayed parcels delivered.")
    assert clock.now() == shanghai(2026, 11, 20, 11, 39)
    review = next(c for c in load_clocks(rt, crisis_id) if c.name == "review")
    # 40 working hours from Fri 11:39: Fri 5:21 h, Mon-Thu 32 h, then Fri 27th 2:39 h.
    assert review.due_at == shanghai(2026, 11, 27, 11, 39)

    # Compensation: the batch dies after three chunks of 500, then resumes.
    by_lead(rt, crisis_id, "start_compensation", kind="coupon", value=20)
    real_chunk, calls, spent = crisis_compensation.issue_chunk, [], []

    def timed(runtime, cid):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return real_chunk(runtime, cid)
        finally:
            spent.append(time.perf_counter() - began)

    def dies_at_the_fourth(runtime, cid):  # type: ignore[no-untyped-def]
        calls.append(cid)
        if len(calls) == 4:
            raise ConnectionError("the service went down")
        return timed(runtime, cid)

    monkeypatch.setattr(crisis_compensation, "issue_chunk", dies_at_the_fourth)
    began = time.perf_counter()
    assert sweep(rt).timers.get("failed") == 1
    assert compensation_counts(rt, crisis_id) == (1500, 1500)
    assert load(rt, crisis_id).stage == "compensating"
    monkeypatch.setattr(crisis_compensation, "issue_chunk", timed)
    assert "failed" not in sweep(rt).timers and compensation_counts(rt, crisis_id)[0] == 1500
    clock.advance(timedelta(seconds=61))  # the batch timer's claim runs out: it resumes
    sweep(rt)
    elapsed = time.perf_counter() - began
    assert compensation_counts(rt, crisis_id) == (AFFECTED, AFFECTED)
    print(f"\n{AFFECTED} customers compensated in {len(spent)} chunks: {sum(spent):.2f} s; "
          f"the sweeps, with their 5,000 customer messages delivered: {elapsed:.1f} s")
    done = load(rt, crisis_id)
    assert done.stage == "reviewing"
    assert (done.data["compensation"]["customers"], done.data["compensation"]["issued_now"],
            done.data["compensation"]["total_value"]) == (AFFECTED, 3500, 20.0 * AFFECTED)
    assert crisis_compensation.run(rt, crisis_id).issued == AFFECTED  # a re-run: nothing new
    assert compensation_counts(rt, crisis_id) == (AFFECTED, AFFECTED)
    with Session(rt.engine) as session:
        told = session.exec(select(OutboxMessage.recipient).where(
            col(OutboxMessage.key).startswith(f"crisis:{crisis_id}:compensation:"))).all()
        batch = session.exec(select(Timer).where(Timer.case_id == crisis_id,
                                                 Timer.name == "compensation")).one()
    assert len(told) == len(set(told)) == AFFECTED and batch.status == "fired"

    # The review: findings in the backlog, and a PDCA cycle opened directly.
    by_lead(rt, crisis_id, "complete_review",
            what_happened="A depot fire delayed 5,000 parcels for two days.",
            root_cause="No second depot could take over the sorting.",
            actions=["Agree overflow sorting with a partner depot", "Drill the failover"],
            pdca={"kpi": "complaint_on_time_rate", "target": 0.95,
                  "scope": {"category": "delivery"}})
    closed = load(rt, crisis_id)
    cycle = load(rt, closed.data["review"]["pdca_cycle"])
    assert closed.stage == "closed" and cycle.process == "pdca"
    assert cycle.data["links"] == {"cases": [crisis_id],
                                   "findings": closed.data["review"]["findings"]}
    with Session(rt.engine) as session:
        found = session.exec(select(Finding).where(Finding.source == "crisis_review")).all()
    assert [(f.status, f.pdca_cycle_id) for f in found] == [("promoted", cycle.id)] * 2
    before = len(timeline(rt, crisis_id))
    clock.advance(timedelta(days=10))
    sweep(rt)  # nothing fires twice, nothing fires after the close
    assert len(timeline(rt, crisis_id)) == before


def load_clocks(rt, case_id):  # type: ignore[no-untyped-def]
    from engine.store import load_clocks as stored

    with Session(rt.engine) as session:
        return stored(session, case_id)


__all__ = ["Case"]
