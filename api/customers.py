"""One customer across channels: find them by an identity, and list their cases.

A customer is one record whichever channel they came through (`core.customers`). Their
cases, of every process and channel, are listed as the caller may see them: an agent or
supervisor sees their teams' cases only, and a customer with none of those is not found
(like one that does not exist), and only the identities that those cases were given
(`core.queries.known_contacts`). Contact details are disclosed per the privacy policy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from api.auth import AUTH_ERRORS, ReaderDep
from api.deps import RuntimeDep, SessionDep
from api.schemas import MAX_ID, CaseId, CaseSummary, Problem
from api.times import UtcDatetime
from core.customers import CustomerClaim, find_by_identity, identities_of
from core.queries import in_scope, known_contacts, newest_first
from core.runtime import Runtime
from domain.access import Identity
from domain.policy import Disclosure
from domain.privacy import disclose
from engine.models import Case, Customer

router = APIRouter(prefix="/customers", tags=["customers"])
NOT_FOUND = {**AUTH_ERRORS, 404: {"model": Problem, "description": "no such customer with "
                                  "a case in your scope"}}


class IdentityOut(BaseModel):
    kind: str
    value: str | None = Field(description="phone and e-mail disclosed as the privacy policy "
                                          "lets the caller see them; messaging ids in full")
    channel: str | None = Field(description="where it was first seen")
    first_seen_at: UtcDatetime


class CustomerCases(BaseModel):
    """A customer, how they are recognised, and their cases across processes and channels."""

    id: int
    ref: str | None
    name: str | None
    tier: str
    identities: list[IdentityOut]
    channels: list[str] = Field(description="every channel their cases came through")
    cases: list[CaseSummary] = Field(description="newest first, every process")
    next_cursor: int | None


@router.get("/{customer_id}/cases", response_model=CustomerCases, responses=NOT_FOUND)
def customer_cases(
    customer_id: CaseId, session: SessionDep, rt: RuntimeDep, reader: ReaderDep,
    process: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> CustomerCases:
    """A customer's cases of every process and channel that you may see."""
    return _customer_cases(session, customer_id, rt, reader, process=process, limit=limit,
                           before_id=before_id)


@router.get("", response_model=CustomerCases, responses=NOT_FOUND)
def find_customer(
    session: SessionDep, rt: RuntimeDep, reader: ReaderDep,
    kind: Literal["phone", "email", "wecom", "wechat", "app"],
    value: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> CustomerCases:
    """The customer a phone number, e-mail address or messaging id belongs to."""
    if kind == "phone":
        claim = CustomerClaim(phone=value)
    elif kind == "email":
        claim = CustomerClaim(email=value)
    else:
        claim = CustomerClaim(messaging={kind: value})
    customer = find_by_identity(session, claim)
    if customer is None or customer.id is None:
        raise HTTPException(404, detail=f"no customer with that {kind}")
    return _customer_cases(session, customer.id, rt, reader, process=None, limit=limit,
                           before_id=before_id, not_found=f"no customer with that {kind}",
                           asked=claim.identities()[0])


def _customer_cases(session: Session, customer_id: int, rt: Runtime, reader: Identity, *,
                    process: str | None, limit: int, before_id: int | None,
                    not_found: str | None = None, asked: tuple[str, str] | None = None
                    ) -> CustomerCases:
    """The customer's cases in `reader`'s scope, and their identities that the reader may
    see (`known_contacts`), with `asked`, the one the reader looked them up by."""
    missing = HTTPException(404, detail=not_found or f"customer {customer_id} not found")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise missing
    scope = [col(Case.customer_id) == customer_id, *in_scope(reader)]
    visible = session.exec(select(func.count()).select_from(Case).where(*scope)).one()
    if reader.team_scoped and not visible:
        raise missing  # nothing of theirs in the caller's teams: say no more
    channels = sorted(c for c in session.exec(select(Case.channel).where(*scope).distinct())
                      if c)
    query = select(Case).where(*scope)
    if process is not None:
        query = query.where(Case.process == process)
    rows, cursor = newest_first(session, query, col(Case.id), limit=limit, before_id=before_id)
    how = rt.policies.privacy.for_reader(reader.role)
    known = known_contacts(session, customer_id, reader)
    return CustomerCases(
        id=customer_id, ref=customer.external_ref, name=customer.name, tier=customer.tier,
        identities=[IdentityOut(kind=i.kind, value=_shown(i.kind, i.value, how),
                                channel=i.channel, first_seen_at=i.first_seen_at)
                    for i in identities_of(session, customer_id)
                    if known is None or (i.kind, i.value) in known or (i.kind, i.value) == asked],
        channels=channels,
        cases=[CaseSummary.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor)


def _shown(kind: str, value: str, how: Disclosure) -> str | None:
    if kind in ("phone", "email"):
        return disclose(value, kind, how)
    return value

