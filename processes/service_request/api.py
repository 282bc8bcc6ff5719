"""Service requests and locations: book, read, list; a location's slots and free seats.

A request is a case of process `service_request`; its events (`accept`, `check_in`,
`start_service`, `complete`, `reschedule`, `cancel`, `transfer`, ...) go to
`POST /cases/{id}/events`. A full slot answers 409 and a closed one 422, each with the
field, the reason and `nearest_free_slots`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.auth import AUTH_ERRORS, CheckedFirst, OpenerDep, ReaderDep
from api.cases import case_public, receipt
from api.deps import RuntimeDep, SessionDep
from api.schemas import MAX_ID, CaseId, CasePublic, CaseReceipt, Model, Problem
from api.times import IsoDuration, UtcDatetime, UtcJson
from core.cases import CaseNotFound
from core.customers import MESSAGING, CustomerClaim
from core.queries import CaseFilter, get_case, list_cases
from core.runtime import Runtime
from domain.access import Identity
from domain.policy import Tier
from domain.service_request import rules as sr
from domain.service_request.locations import as_utc, day_slots
from processes.service_request.commands import submit_request, taken

router = APIRouter(tags=["service requests"], route_class=CheckedFirst)
ERRORS = {**AUTH_ERRORS, 409: {"model": Problem, "description": "the slot is full"},
          422: {"model": Problem, "description": "a wrong field, or a closed slot"}}
Stage = Literal["requested", "scheduled", "checked_in", "in_service", "no_show", "completed",
                "cancelled"]


class CustomerClaimIn(Model):
    """Who the customer is: your id for them, and any of their identities."""

    ref: str | None = Field(default=None, max_length=120)
    name: str | None = Field(default=None, max_length=200)
    tier: Literal["A", "B", "C", "VIP"] | None = None
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    wecom: str | None = Field(default=None, max_length=200, description="WeCom user id")
    wechat: str | None = Field(default=None, max_length=200, description="WeChat open id")
    app: str | None = Field(default=None, max_length=200, description="app account id")


class ServiceRequestCreate(Model):
    customer: CustomerClaimIn
    location: str = Field(max_length=80, examples=["xuhui-store"])
    channel: str = Field(max_length=40, examples=["web", "wecom", "phone", "store"])
    service: str = Field(max_length=80, examples=["repair"])
    slot: datetime | None = Field(default=None, description="the appointment's start, with "
                                  "its offset; held at once (omit: staff schedule it)")
    description: str = Field(default="", max_length=20_000)


class ServiceRequestPublic(BaseModel):
    """A request: where and when, its journey and hand-offs, beside its case."""

    id: int
    stage: Stage
    location: str
    service: str
    origin_channel: str = Field(description="the channel it came in on")
    booking: UtcJson[dict[str, Any]] | None = Field(
        description="location, slot, seq, booked_at")
    checked_in_at: UtcDatetime | None = None
    served_at: UtcDatetime | None = None
    offer_expires_at: UtcDatetime | None = Field(default=None, description="a no-show's "
                                              "offer to reschedule lasts until then")
    offer_at: UtcDatetime | None = Field(default=None, description="a no-show's offer waiting "
                                      "for the end of quiet hours goes then")
    missed: UtcJson[list[dict[str, Any]]] = Field(default_factory=list, description="no-shows")
    transfers: UtcJson[list[dict[str, Any]]] = Field(default_factory=list, description="hand-offs: "
                                            "at, by, from, to, reason, held_for")
    outcome: str | None = None
    followup: int | None = Field(default=None, description="the satisfaction follow-up")
    case: CasePublic


class ServiceRequestPage(BaseModel):
    items: list[ServiceRequestPublic]
    next_cursor: int | None


class LocationPublic(BaseModel):
    key: str
    name: str
    kind: str
    team: str
    calendar: str
    slot_length: IsoDuration
    capacity: int


class SlotPublic(BaseModel):
    starts_at: UtcDatetime
    booked: int
    free: int


@router.post("/service-requests", status_code=status.HTTP_201_CREATED,
             response_model=ServiceRequestPublic,
             responses={200: {"model": ServiceRequestPublic | CaseReceipt, "description":
                              "replayed: the request this Idempotency-Key opened before, as "
                              "you may read it now"}, **ERRORS})
def create_request(
    body: ServiceRequestCreate,
    response: Response,
    session: SessionDep,
    rt: RuntimeDep,
    caller: OpenerDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> ServiceRequestPublic | Response:
    """Open a request on a channel; with a slot, its seat is held now.

    An `Idempotency-Key` (yours: another caller's same key is theirs) makes a retry
    answer 200 with the request it opened, as you may read it now (only that it exists,
    once it has gone to another team); the same key with another body is refused.
    """
    c = body.customer
    claim = CustomerClaim(ref=c.ref, name=c.name, tier=Tier(c.tier) if c.tier else None,
                          phone=c.phone, email=c.email,
                          messaging={k: v for k in MESSAGING if (v := getattr(c, k))})
    slot = as_utc(body.slot, "slot") if body.slot is not None else None
    case, created = submit_request(
        session, idempotency_key=idempotency_key, claim=claim, location=body.location,
        channel=body.channel, service=body.service, slot=slot, description=body.description,
        actor=caller.name, actor_kind=caller.kind, policies=rt.policies,
        calendars=rt.calendars, now=rt.clock.now())
    assert case.id is not None
    location = f"/service-requests/{case.id}"
    if not created:
        if not caller.sees(team=case.team, assignee=case.assignee):
            return receipt(case, location)
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = location
    return request_public(session, case.id, rt, caller, scoped=False)


@router.get("/service-requests/{request_id}", response_model=ServiceRequestPublic,
            responses={**AUTH_ERRORS, 404: {"model": Problem}})
def read_request(request_id: CaseId, session: SessionDep, rt: RuntimeDep,
                 reader: ReaderDep) -> ServiceRequestPublic:
    """A request with its booking, journey, hand-offs and follow-up."""
    return request_public(session, request_id, rt, reader)


@router.get("/service-requests", response_model=ServiceRequestPage, responses=AUTH_ERRORS)
def search_requests(
    session: SessionDep, rt: RuntimeDep, reader: ReaderDep,
    stage: Stage | None = None,
    team: Annotated[str | None, Query(max_length=80)] = None,
    assignee: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ServiceRequestPage:
    """The requests in your scope, newest first."""
    rows, cursor = list_cases(session, CaseFilter(process=sr.NAME, stage=stage, team=team,
                                                  assignee=assignee),
                              now=rt.clock.now(), limit=limit, before_id=before_id,
                              reader=reader)
    return ServiceRequestPage(items=[request_public(session, r.id or 0, rt, reader)
                                     for r in rows], next_cursor=cursor)


@router.get("/locations", response_model=list[LocationPublic], responses=AUTH_ERRORS)
def list_locations(rt: RuntimeDep, reader: ReaderDep) -> list[LocationPublic]:
    """Stores and service centres: their team, opening calendar, slots and capacity."""
    return [LocationPublic(key=key, name=loc.name, kind=loc.kind, team=loc.team,
                           calendar=loc.calendar, slot_length=loc.slot_length,
                           capacity=loc.capacity)
            for key, loc in sr.policy_of(rt.policies).locations.items()]


@router.get("/locations/{location}/slots", response_model=list[SlotPublic],
            responses={**AUTH_ERRORS, 404: {"model": Problem}})
def location_slots(location: Annotated[str, Path(max_length=80)], day: date,
                   session: SessionDep, rt: RuntimeDep, reader: ReaderDep
                   ) -> list[SlotPublic]:
    """A day's slots at a location (its local date): seats booked and free. None on a
    closed day."""
    place = sr.policy_of(rt.policies).locations.get(location)
    if place is None:
        raise HTTPException(404, detail=f"location {location!r} not found; known: "
                                        f"{sorted(sr.policy_of(rt.policies).locations)}")
    slots = day_slots(place, rt.calendars[place.calendar], day)
    if not slots:
        return []
    seats = taken(session, location, slots[0], slots[-1] + timedelta(seconds=1))
    zone = rt.calendars[place.calendar].tz
    return [SlotPublic(starts_at=s.astimezone(zone), booked=seats.get(s, 0),
                       free=max(place.capacity - seats.get(s, 0), 0)) for s in slots]


def request_public(session: Session, request_id: int, rt: Runtime, reader: Identity,
                   *, scoped: bool = True) -> ServiceRequestPublic:
    """A request as `reader` may see it; not found outside their scope."""
    view = get_case(session, request_id, rt, rt.clock.now(), reader, scoped=scoped)
    if view is None or view.case.process != sr.NAME:
        raise CaseNotFound(request_id)
    data = view.case.data
    return ServiceRequestPublic(
        # A stored request's stage is one of its table's (and the model validates it).
        id=request_id, stage=cast(Stage, view.case.stage),
        location=data["location"], service=data["service"],
        origin_channel=data["origin_channel"], booking=data.get("booking"),
        checked_in_at=data.get("checked_in_at"), served_at=data.get("served_at"),
        offer_expires_at=data.get("offer_expires_at"), offer_at=data.get("offer_at"),
        missed=data.get("missed", []),
        transfers=data.get("transfers", []), outcome=data.get("outcome"),
        followup=data.get("followup"), case=case_public(view, rt, reader))
