"""Seats: a full or closed slot is refused with the nearest free ones; races for the last
seat have one winner (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from domain.process import Unavailable
from engine.models import Case, Customer
from tests.store.helpers import send
from tests.store.service_request_helpers import book_online, seats
from tests.support import shanghai

SAT_15 = shanghai(2026, 11, 21, 15, 0)


@pytest.fixture
def rt(make_runtime):  # type: ignore[no-untyped-def]
    return make_runtime()


def test_a_full_slot_is_refused_with_the_nearest_free_ones(rt):
    book_online(rt, slot=SAT_15, ref="a")
    book_online(rt, slot=SAT_15, ref="b")
    book_online(rt, slot=SAT_15 + timedelta(minutes=30), ref="c")
    book_online(rt, slot=SAT_15 + timedelta(minutes=30), ref="d")
    with pytest.raises(Unavailable) as refused:
        book_online(rt, slot=SAT_15, ref="e")
    assert refused.value.taken is True and refused.value.field == "slot"
    assert "is full (2 of 2 booked)" in refused.value.reason
    assert refused.value.alternatives == {"location": "xuhui-store", "nearest_free_slots": [
        "2026-11-21T14:00:00+08:00", "2026-11-21T14:30:00+08:00",
        "2026-11-21T16:00:00+08:00"]}
    assert seats(rt, "xuhui-store", SAT_15) == 2
    with Session(rt.engine) as session:  # the refused request left nothing behind
        assert session.exec(select(func.count()).select_from(Case)).one() == 4


@pytest.mark.parametrize(("slot", "reason"), [
    (shanghai(2026, 11, 21, 21, 0), "closed then"),        # after closing
    (shanghai(2026, 11, 21, 15, 10), "every 30 minutes"),  # not a slot's start
    (shanghai(2026, 11, 20, 9, 30), "has passed"),
    (shanghai(2027, 1, 1, 10, 0), "too far ahead"),
])
def test_a_closed_or_impossible_slot_is_invalid_and_names_bookable_ones(rt, slot, reason):
    with pytest.raises(Unavailable) as refused:
        book_online(rt, slot=slot)
    assert refused.value.taken is False and reason in refused.value.reason
    assert len(refused.value.alternatives["nearest_free_slots"]) == 3


def test_a_public_holiday_closes_the_store(rt, clock):
    # 1 January 2027 is New Year's Day: from 21:00 on the 31st to 10:00 on the 2nd,
    # nothing; around 1 January 15:00 the nearest are the 31st evening and the 2nd.
    clock.set(shanghai(2026, 12, 31, 12, 0))
    with pytest.raises(Unavailable) as refused:
        book_online(rt, slot=shanghai(2027, 1, 1, 15, 0))
    free = refused.value.alternatives["nearest_free_slots"]
    assert free == ["2026-12-31T20:00:00+08:00", "2026-12-31T20:30:00+08:00",
                    "2027-01-02T10:00:00+08:00"]


def test_two_bookings_racing_for_the_last_seat_do_not_both_get_it(rt):
    book_online(rt, slot=SAT_15, ref="first")

    def attempt(n: int) -> str:
        try:
            book_online(rt, slot=SAT_15, ref=f"racer-{n}", phone=None, email=None)
            return "booked"
        except Unavailable:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes) == ["booked"] + ["refused"] * 7
    assert seats(rt, "xuhui-store", SAT_15) == 2


def test_rescheduling_races_for_the_last_seat_have_one_winner(rt):
    book_online(rt, slot=SAT_15, ref="first")
    others = [book_online(rt, slot=SAT_15 + timedelta(minutes=30 * (1 + n)), ref=f"o{n}")
              for n in range(6)]
    for case_id in others:
        send(rt, case_id, "accept")

    def attempt(case_id: int) -> str:
        try:
            send(rt, case_id, "reschedule", slot=SAT_15.isoformat())
            return "moved"
        except Unavailable:
            return "refused"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, others))
    assert sorted(outcomes) == ["moved"] + ["refused"] * 5
    assert seats(rt, "xuhui-store", SAT_15) == 2
    moved = [c for c, o in zip(others, outcomes, strict=True) if o == "moved"][0]
    freed = SAT_15 + timedelta(minutes=30 * (1 + others.index(moved)))
    assert seats(rt, "xuhui-store", freed) == 0


def test_one_customer_across_channels(rt):
    web = book_online(rt, slot=None, channel="web", phone="+86 138 1234 5678",
                      email="lin@example.com")
    wecom = book_online(rt, slot=None, channel="wecom", phone=None, email=None,
                        messaging={"wecom": "lin-wx"})
    phone = book_online(rt, slot=None, channel="phone", phone="13812345678", email=None,
                        messaging={"wecom": "lin-wx"})
    store = book_online(rt, slot=None, channel="store", phone=None,
                        email=" LIN@example.com")
    with Session(rt.engine) as session:
        owners = {session.get(Case, c).customer_id for c in (web, phone, store)}  # type: ignore[union-attr]
        wx_owner = session.get(Case, wecom).customer_id  # type: ignore[union-attr]
        assert session.exec(select(func.count()).select_from(Customer)).one() == 2
    # The WeCom id was new on its own; the phone call named it beside the known number,
    # so it stays with its first owner (no silent merge), and the phone finds Lin.
    assert len(owners) == 1 and wx_owner not in owners


def test_placeholder_contacts_never_make_two_customers_one(rt):
    first = book_online(rt, slot=None, ref=None, phone="n/a", email="none")
    second = book_online(rt, slot=None, ref=None, phone="n/a", email="none")
    short = book_online(rt, slot=None, ref=None, phone="110", email=None)
    other = book_online(rt, slot=None, ref=None, phone="110", email=None)
    with Session(rt.engine) as session:
        owners = {session.get(Case, c).customer_id for c in (first, second, short, other)}  # type: ignore[union-attr]
    assert len(owners) == 4


@pytest.mark.parametrize("claims", [
    [{"messaging": {"wecom": "n/a"}}, {"messaging": {"wecom": "n/a"}}],
    [{"messaging": {"wechat": "none"}}, {"messaging": {"wechat": "none"}}],
    [{"messaging": {"app": "000000"}}, {"messaging": {"app": "000000"}}],
    [{"phone": "00000000000"}, {"phone": "00000000000"}],
    [{"phone": "0000000"}, {"phone": "0000000"}],
    [{"phone": "+86 111 1111 1111"}, {"phone": "11111111111"}],
    [{"email": "n/a@n/a"}, {"email": "n/a@n/a"}],
    [{"email": "none@example.com"}, {"email": "none@example.com"}],
], ids=["wecom-n/a", "wechat-none", "app-zeros", "phone-11-zeros", "phone-7-zeros",
        "phone-ones", "email-n/a", "email-none"])
def test_placeholder_messaging_ids_and_repeated_digits_recognise_nobody(rt, claims):
    cases = [book_online(rt, slot=None, ref=None, **{"phone": None, "email": None, **claim})
             for claim in claims]
    with Session(rt.engine) as session:
        owners = {session.get(Case, c).customer_id for c in cases}  # type: ignore[union-attr]
    assert len(owners) == len(cases)


def test_a_contact_owned_by_another_customer_is_not_copied_onto_the_one_recognised(rt):
    lin = book_online(rt, slot=None, ref=None, phone="13812345678", email="lin@example.com")
    wang = book_online(rt, slot=None, ref=None, phone="13900000000", email="wang@example.com")
    # Lin's number with Wang's address: Lin is recognised, Wang's address stays Wang's.
    again = book_online(rt, slot=None, ref=None, phone="13812345678",
                        email="wang@example.com")
    with Session(rt.engine) as session:
        lin_id, wang_id, again_id = (session.get(Case, c).customer_id  # type: ignore[union-attr]
                                     for c in (lin, wang, again))
        assert again_id == lin_id != wang_id
        assert session.get(Customer, lin_id).email == "lin@example.com"  # type: ignore[union-attr]


def test_requests_swapping_slots_at_once_queue_instead_of_deadlocking(rt):
    later = SAT_15 + timedelta(minutes=30)
    pairs = []
    for n in range(3):
        a = book_online(rt, slot=SAT_15 + timedelta(hours=n), ref=f"a{n}")
        b = book_online(rt, slot=later + timedelta(hours=n), ref=f"b{n}")
        send(rt, a, "accept")
        send(rt, b, "accept")
        pairs += [(a, later + timedelta(hours=n)), (b, SAT_15 + timedelta(hours=n))]

    def move(pair: tuple[int, object]) -> None:
        send(rt, pair[0], "reschedule", slot=pair[1].isoformat())  # type: ignore[attr-defined]

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(move, pairs))  # a deadlock would raise here
    for n in range(3):
        assert seats(rt, "xuhui-store", SAT_15 + timedelta(hours=n)) == 1
        assert seats(rt, "xuhui-store", later + timedelta(hours=n)) == 1


def test_racing_retries_with_one_idempotency_key_open_one_request(rt):
    from core.customers import CustomerClaim
    from domain.access import ActorKind
    from processes.service_request.commands import submit_request

    def attempt(_: int) -> tuple[int | None, bool]:
        with Session(rt.engine, expire_on_commit=False) as session:
            case, created = submit_request(
                session, idempotency_key="retry-1", claim=CustomerClaim(phone="13812345678"),
                location="xuhui-store", channel="web", service="repair", slot=SAT_15,
                description="", actor="portal", actor_kind=ActorKind.integration,
                policies=rt.policies, calendars=rt.calendars, now=rt.clock.now())
            return case.id, created

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert len({case_id for case_id, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False, False, False, True]
    assert seats(rt, "xuhui-store", SAT_15) == 1
