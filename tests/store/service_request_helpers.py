"""Helpers for the service-request tests: book through the store commands, read seats."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from core.customers import CustomerClaim
from core.runtime import Runtime
from domain.access import ActorKind
from domain.policy import Tier
from processes.service_request.commands import ServiceSlot, open_request


def book_online(rt: Runtime, *, slot: datetime | None, location: str = "xuhui-store",
                channel: str = "web", service: str = "repair", ref: str | None = None,
                phone: str | None = "13812345678", email: str | None = "lin@example.com",
                messaging: dict[str, str] | None = None) -> int:
    """A request from customer Lin (tier B) on `channel`, holding `slot`; committed."""
    claim = CustomerClaim(ref=ref, name="Lin", tier=Tier.B, phone=phone, email=email,
                          messaging=messaging or {})
    with Session(rt.engine, expire_on_commit=False) as session:
        case = open_request(session, claim=claim, location=location, channel=channel,
                            service=service, slot=slot, description="screen cracked",
                            actor="web-portal", actor_kind=ActorKind.integration,
                            policies=rt.policies, calendars=rt.calendars,
                            now=rt.clock.now())
        session.commit()
        assert case.id is not None
        return case.id


def seats(rt: Runtime, location: str, slot: datetime) -> int:
    """Seats booked in one slot (0 when nobody ever booked it)."""
    with Session(rt.engine) as session:
        row = session.exec(select(ServiceSlot).where(ServiceSlot.location == location,
                                                     ServiceSlot.starts_at == slot)).first()
        return row.booked if row else 0
