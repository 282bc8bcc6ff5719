"""Customers' contact details in escalation messages: as the privacy policy says."""

from datetime import timedelta

import pytest
from sqlmodel import Session

from core.cases import CustomerInput, OpenCase, open_case
from domain.policy import Tier
from tests.conftest import sweep

PHONE, EMAIL = "138-1234-5678", "lin.fang@example.com"


def _open_with_contact(rt) -> None:  # type: ignore[no-untyped-def]
    request = OpenCase(subject="parcel arrived broken", description="",
                       customer=CustomerInput(ref="c-9", name="Lin Fang", tier=Tier.B,
                                              phone=PHONE, email=EMAIL))
    with Session(rt.engine, expire_on_commit=False) as session:
        open_case(session, request=request, actor="li.wei", policies=rt.policies,
                  calendars=rt.calendars, now=rt.clock.now())


@pytest.mark.parametrize(("disclosure", "shown", "hidden"), [
    ("masked", ["Lin Fang", "138****5678", "l***@example.com"], [PHONE, EMAIL, "12345678"]),
    ("full", [PHONE, EMAIL], ["****"]),
    ("omitted", ["Lin Fang", "tier B"], ["5678", "example.com"]),
])
def test_the_warning_shows_the_customer_as_the_policy_allows(
        make_runtime, clock, receiver, disclosure, shown, hidden):
    rt = make_runtime(receiver=receiver, privacy={"notifications": disclosure})
    _open_with_contact(rt)
    clock.advance(timedelta(minutes=15))  # 75% of the 20-minute first response
    sweep(rt)
    [message] = receiver.all()
    body = message.body["message"]
    assert "Customer: Lin Fang" in body
    for text in shown:
        assert text in body
    for text in hidden:
        assert text not in body
