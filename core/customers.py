"""One customer across channels: recognise them by phone, e-mail or messaging id.

Seed 000 §3.3 asks for one customer record synced across channels. A caller's own id
(`ref`) is authoritative: a known ref is that customer, an unknown one a new customer.
Without a ref, the customer is whoever already owns one of the identities given (phone
first, then e-mail, then messaging ids), else a new record. Every identity given is
then remembered for that customer, unless it belongs to someone else already; two
customers are never merged, and a phone number or e-mail address another customer owns
is not copied onto the one recognised (their messages would reach the other). A value
that identifies nobody (a phone number without enough digits, an e-mail without an `@`)
is kept as a contact but never used to recognise anyone: two customers who typed "n/a"
are not made one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from core.models import Customer, CustomerIdentity
from domain.policy import Tier

MESSAGING = ("wecom", "wechat", "app")
MIN_PHONE_DIGITS = 7  # fewer is a typo or a placeholder, not someone's number


@dataclass(frozen=True)
class CustomerClaim:
    """Who the customer says they are, on one channel."""

    ref: str | None = None
    name: str | None = None
    tier: Tier | None = None  # None keeps a known customer's tier (C for a new one)
    phone: str | None = None
    email: str | None = None
    messaging: Mapping[str, str] = field(default_factory=dict)  # kind -> id

    def identities(self) -> list[tuple[str, str]]:
        """(kind, normalised value) in recognition order, leaving out unusable values."""
        given = [("phone", self.phone), ("email", self.email),
                 *[(kind, self.messaging.get(kind)) for kind in MESSAGING]]
        return [(kind, found) for kind, value in given
                if value and (found := normalise(kind, value)) is not None]


def normalise(kind: str, value: str) -> str | None:
    """One spelling per identity: digits of a phone (China's +86 dropped), lower-case
    e-mail, trimmed messaging ids; None for a value that cannot identify anyone."""
    value = value.strip()
    if kind == "phone":
        digits = re.sub(r"[^\d+]", "", value)
        for prefix in ("+86", "0086"):
            if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
                digits = digits[len(prefix):]
        usable = len(re.sub(r"\D", "", digits)) >= MIN_PHONE_DIGITS and "+" not in digits[1:]
        return digits if usable else None
    if kind == "email":
        local, at, domain = value.lower().partition("@")
        return f"{local}@{domain}" if local and at and domain else None
    return value or None


def recognise(session: Session, claim: CustomerClaim, *, channel: str | None,
              now: datetime) -> Customer:
    """The customer the claim stands for, created if new, with its identities remembered.

    Two callers racing to create the same new customer make one of them fail on the
    identity's unique key; the caller retries and then recognises the winner.
    """
    customer = _by_ref(session, claim.ref) if claim.ref else None
    if customer is None and not claim.ref:
        customer = find_by_identity(session, claim)
    if customer is None:
        customer = Customer(external_ref=claim.ref, created_at=now)
    if claim.tier is not None:
        customer.tier = claim.tier.value
    if claim.name is not None:
        customer.name = claim.name
    for kind in ("phone", "email"):
        value = getattr(claim, kind)
        normal = normalise(kind, value) if value is not None else None
        owner = _owner(session, kind, normal) if normal is not None else None
        # Recognised by another identity, a contact someone else owns is not theirs to
        # take: messages to this customer must not reach that one (a ref is the caller's
        # word that it is theirs).
        if value is not None and (claim.ref or owner in (None, customer.id)):
            setattr(customer, kind, value)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    _remember(session, customer.id, claim, channel=channel, now=now)
    return customer


def _remember(session: Session, customer_id: int, claim: CustomerClaim, *,
             channel: str | None, now: datetime) -> None:
    """Record the claim's identities for `customer_id` (those nobody else owns)."""
    for kind, value in claim.identities():
        owner = session.exec(select(CustomerIdentity).where(
            CustomerIdentity.kind == kind, CustomerIdentity.value == value)).first()
        if owner is None:
            session.add(CustomerIdentity(customer_id=customer_id, kind=kind, value=value,
                                         channel=channel, first_seen_at=now))
    session.flush()


def _by_ref(session: Session, ref: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_ref == ref)).first()


def find_by_identity(session: Session, claim: CustomerClaim) -> Customer | None:
    """The customer who owns one of the claim's identities (phone first), if any."""
    for kind, value in claim.identities():
        owner = _owner(session, kind, value)
        if owner is not None:
            return session.get(Customer, owner)
    return None


def _owner(session: Session, kind: str, value: str) -> int | None:
    return session.exec(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == kind, CustomerIdentity.value == value)).first()


def identities_of(session: Session, customer_id: int) -> list[CustomerIdentity]:
    """Every identity a customer is recognised by, oldest first."""
    return list(session.exec(select(CustomerIdentity)
                             .where(CustomerIdentity.customer_id == customer_id)
                             .order_by(col(CustomerIdentity.id))))
