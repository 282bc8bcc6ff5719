"""Spikes raise one candidate each; complaints of an open crisis's category join it; bulk
links and two batches at once compensate each customer once.

The spike policy is narrowed to 3 complaints within PT1H so the arithmetic stays short.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from core.cases import CustomerInput, OpenCase
from domain.access import ActorKind
from domain.policy import Tier
from engine.batches import run_batch_timer
from engine.claims import claim_due
from engine.models import Case, Customer, Timer
from processes.complaint.intake import Intake, IntakeWriter
from processes.crisis import compensation as crisis_compensation
from processes.crisis.commands import raise_candidate, submit_candidate
from processes.crisis.links import LinkFilter, link
from processes.crisis.tables import CrisisLink
from tests.store.crisis_helpers import (
    by_lead,
    compensation_counts,
    complaint_in,
    crises,
    crisis_runtime,
    link_last_day,
    linked_cases,
    raise_crisis,
    seed_complaints,
    to_compensation,
)
from tests.store.helpers import load, open_complaint, timeline
from tests.support import SHANGHAI

SPIKE = {"count": 3, "window": "PT1H", "categories": ["delivery", "billing"],
         "notify": ["supervisor"]}


@pytest.fixture
def rt(database, clock, tmp_path):  # type: ignore[no-untyped-def]
    runtime = crisis_runtime(database, clock, tmp_path / "policies", spike=SPIKE)
    yield runtime
    runtime.engine.dispose()


def test_one_spike_raises_one_candidate_even_after_it_is_dismissed(rt, clock):
    complaint_in(rt, "delivery", "a")
    clock.advance(timedelta(minutes=61))  # out of the window before the next two
    complaint_in(rt, "delivery", "b")
    complaint_in(rt, "delivery", "c")
    assert crises(rt) == []
    third = complaint_in(rt, "delivery", "d")
    [first] = crises(rt)
    assert first.data["spike"]["count"] == 3 and third in first.data["spike"]["complaints"]
    by_lead(rt, first.id, "dismiss", reason="a single courier's route")
    # The same spike goes on: the complaints it counted do not count again.
    for ref in ("e", "f"):
        complaint_in(rt, "delivery", ref)
    assert len(crises(rt)) == 1
    complaint_in(rt, "delivery", "g")  # three new ones after the dismissal: a new spike
    assert [c.stage for c in crises(rt)] == ["dismissed", "candidate"]


def test_two_intakes_that_complete_a_spike_at_once_raise_one_candidate(rt):
    complaint_in(rt, "billing", "x0")
    complaint_in(rt, "billing", "x1")
    start = threading.Barrier(2)

    def intake(ref: str) -> int:
        start.wait()
        return complaint_in(rt, "billing", ref)

    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(intake, ("x2", "x3")))
    [candidate] = crises(rt)
    assert set(both) <= linked_cases(rt, candidate.id)  # one by the spike, one on arrival


def test_only_watched_categories_and_categorised_complaints_spike(rt):
    for n in range(4):
        complaint_in(rt, "quality", f"q{n}")
        open_complaint(rt, ref=f"none{n}")  # no category: nothing to group by
    assert crises(rt) == []


def test_a_spike_raised_in_the_middle_of_an_intake_batch(rt):
    """The third complaint of a batch raises a crisis, a case the batch did not count on
    when it took the next ids: every complaint is still written, once, and the later ones
    join the crisis as they arrive."""
    writer = IntakeWriter(rt)

    def intake(n: int) -> Intake:
        return Intake(OpenCase(subject=f"parcel #{n} lost", description="", channel="phone",
                               category="delivery", priority="ordinary",
                               customer=CustomerInput(ref=f"batch-{n}", name="Lin",
                                                      tier=Tier.B, phone=None, email=None)),
                      "agent:test", ActorKind.person, rt.clock.now())

    async def open_all() -> list[Any]:
        return await asyncio.gather(*(writer.open(intake(n)) for n in range(5)))

    opened = [result.opening.case.id for result, _ in asyncio.run(open_all())]
    [crisis] = crises(rt)
    assert len(set(opened)) == 5 and crisis.id not in opened
    assert set(crisis.data["spike"]["complaints"]) == set(opened[:3])
    assert linked_cases(rt, crisis.id or 0) == set(opened)


def test_complaints_of_a_raised_crisis_s_category_join_it_as_they_arrive(rt, clock):
    raised = raise_crisis(rt, category="billing", title="Billing system down")
    arrivals = [complaint_in(rt, "billing", f"b{n}") for n in range(4)]
    other = complaint_in(rt, "delivery", "d0")
    assert linked_cases(rt, raised.id) == set(arrivals) and other not in linked_cases(
        rt, raised.id)
    assert len(crises(rt)) == 1  # arrivals join; they raise no spike of their own
    assert raised.team == "billing" and load(rt, raised.id).assignee == "wang.fang"


def test_two_batches_at_once_compensate_each_customer_once(rt, clock):
    seed_complaints(rt, count=1200, category="delivery",
                    opened_at=clock.now() - timedelta(hours=3))
    crisis = raise_crisis(rt)
    result = link_last_day(rt, crisis)
    assert (result["linked"], result["customers"]) == (1200, 1200)
    to_compensation(rt, crisis.id)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: crisis_compensation.run(rt, crisis.id), range(2)))
    assert compensation_counts(rt, crisis.id) == (1200, 1200)
    assert {o.issued for o in outcomes} == {1200}
    done = load(rt, crisis.id)
    assert done.stage == "reviewing" and done.data["compensation"]["customers"] == 1200
    events = [e for e in _events(rt, crisis.id) if e == "compensation_done"]
    assert events == ["compensation_done"]  # the second finisher found it done


def _events(rt, case_id):  # type: ignore[no-untyped-def]
    return [e.type for e in timeline(rt, case_id)]


def test_bulk_rows_keep_their_times_in_utc(rt, clock):
    seed_complaints(rt, count=3, category="delivery",
                    opened_at=clock.now() - timedelta(hours=1))
    with Session(rt.engine, expire_on_commit=False) as session:
        crisis = raise_candidate(session, title="Lost parcels", description="",
                                 category="delivery", actor="wang.fang",
                                 actor_kind=ActorKind.person, policies=rt.policies,
                                 calendars=rt.calendars, now=clock.now())
        session.commit()
        link(session, crisis, LinkFilter(opened_from=clock.now() - timedelta(days=1),
                                         opened_to=clock.now()),
             by="wang.fang", how="filter", max_window=timedelta(days=30),
             now=clock.now().astimezone(SHANGHAI))  # any aware time is stored as UTC
        session.commit()
    with Session(rt.engine) as session:
        times = set(session.exec(select(CrisisLink.linked_at)))
    assert times == {clock.now()}


def test_a_batch_that_makes_progress_keeps_its_claim(rt, clock):
    seed_complaints(rt, count=600, category="delivery",
                    opened_at=clock.now() - timedelta(hours=1))
    crisis = raise_crisis(rt)
    link_last_day(rt, crisis)
    to_compensation(rt, crisis.id)

    def claim() -> list:  # type: ignore[type-arg]
        return claim_due(rt.engine, Timer, due_column="fire_at", now=clock.now(), limit=10,
                         instance="test-instance", lease=rt.lease)

    assert len(claim()) == 1  # the sweeper takes the batch timer
    clock.advance(rt.lease * 0.8)
    assert crisis_compensation.issue_chunk(rt, crisis.id).issued == 500  # a slow chunk
    clock.advance(rt.lease * 0.5)  # 1.3 leases after the claim, half a lease after the chunk
    assert claim() == []  # still held: the chunk renewed the lease
    clock.advance(rt.lease * 0.6)  # no progress for over a lease: taken over
    assert len(claim()) == 1


def test_a_batch_that_ends_with_a_customer_left_keeps_its_claim_and_resumes(
        rt, clock, monkeypatch):
    seed_complaints(rt, count=4, category="delivery",
                    opened_at=clock.now() - timedelta(hours=3))
    seed_complaints(rt, count=1, category="delivery", prefix="late",
                    opened_at=clock.now() - timedelta(hours=3))
    crisis = raise_crisis(rt)
    with Session(rt.engine, expire_on_commit=False) as session:
        rows = session.exec(select(Case.id, Case.customer_id, Customer.external_ref).join(
            Customer, Customer.id == Case.customer_id)).all()
        first_wave = tuple(case_id for case_id, _, ref in rows if ref.startswith("seed-"))
        [(late_case, late_customer)] = [(c, p) for c, p, ref in rows if ref == "late-0"]
        link(session, crisis, LinkFilter(case_ids=first_wave), by="wang.fang", how="ids",
             max_window=timedelta(days=30), now=clock.now())
        session.commit()
    to_compensation(rt, crisis.id)
    chunk = crisis_compensation.issue_chunk

    def a_link_slips_in_after_the_last_chunk(runtime, crisis_id):  # type: ignore[no-untyped-def]
        done = chunk(runtime, crisis_id)
        with Session(rt.engine) as session:  # as a link that committed meanwhile
            session.add(CrisisLink(crisis_id=crisis_id, case_id=late_case,
                                   customer_id=late_customer,
                                   linked_at=clock.now(), linked_by="system", how="arrival"))
            session.commit()
        monkeypatch.setattr(crisis_compensation, "issue_chunk", chunk)
        return done

    monkeypatch.setattr(crisis_compensation, "issue_chunk",
                        a_link_slips_in_after_the_last_chunk)
    instance = rt.settings.instance_id
    [(timer_id,)] = claim_due(rt.engine, Timer, due_column="fire_at", now=clock.now(), limit=10,
                        instance=instance, lease=rt.lease)
    assert run_batch_timer(rt, timer_id) == {"failed": 1}
    assert load(rt, crisis.id).stage == "compensating"  # not left behind a fired timer
    clock.advance(rt.lease + timedelta(seconds=1))
    [(again,)] = claim_due(rt.engine, Timer, due_column="fire_at", now=clock.now(), limit=10,
                        instance=instance, lease=rt.lease)
    assert (again, run_batch_timer(rt, again)) == (timer_id, {"fired": 1})
    assert compensation_counts(rt, crisis.id) == (5, 5)
    assert load(rt, crisis.id).stage == "reviewing"


def test_two_retries_of_one_raise_at_once_make_one_candidate(rt, clock):
    start = threading.Barrier(2)

    def raise_once(_: int) -> tuple[int, bool]:
        start.wait()
        with Session(rt.engine, expire_on_commit=False) as session:
            case, created = submit_candidate(
                session, idempotency_key="fire-1", title="Depot fire", description="",
                category="delivery", actor="wang.fang", actor_kind=ActorKind.person,
                policies=rt.policies, calendars=rt.calendars, now=clock.now())
            return case.id or 0, created

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(raise_once, range(2)))
    [crisis] = crises(rt)
    assert sorted(outcomes) == [(crisis.id, False), (crisis.id, True)]
