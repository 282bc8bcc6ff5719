"""Cases: open, read, post events (the lists are in api/case_lists.py)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.auth import (
    AUTH_ERRORS,
    CheckedFirst,
    IntakeOpenerDep,
    ReaderDep,
    client_address,
    unauthorized,
)
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import (
    ActorKindName,
    CaseCreate,
    CaseId,
    CasePublic,
    CaseReceipt,
    CaseSummary,
    ClockPublic,
    ClockStateName,
    CustomerPublic,
    EventCreate,
    EventPublic,
    NextEscalation,
    Problem,
)
from core import runtime as runtime_module
from core.cases import CaseNotFound, CustomerInput, OpenCase, Opened, post_event
from core.keys import Unauthenticated
from core.queries import (
    CaseView,
    get_case,
    opened_view,
    with_known_contacts,
)
from core.runtime import Runtime
from domain.access import Identity
from domain.complaint import rules as complaint
from domain.policy import Disclosure, Tier
from domain.privacy import disclose
from domain.process import Event
from engine.models import Case, CaseEvent
from processes.complaint.intake import Intake

router = APIRouter(prefix="/cases", tags=["cases"], route_class=CheckedFirst)
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_HEADER = "idempotency-key"  # as FastAPI named it in the docs and in errors
ERRORS = {**AUTH_ERRORS, 404: {"model": Problem, "description": "no such case in your scope"},
          409: {"model": Problem}, 422: {"model": Problem}}


IDEMPOTENCY_KEY = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
    "description": "A retry with the same key and body answers 200 with the case it opened.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
}


# The runtime and the Idempotency-Key are read here, not declared as a dependency and a
# Header parameter as elsewhere: FastAPI solving them cost 6% of a complaint's handling,
# on the endpoint that a flood of complaints calls. The key is documented by hand.
@router.post("", status_code=status.HTTP_201_CREATED, response_model=CasePublic,
             responses={200: {"model": CasePublic | CaseReceipt, "description": "replayed: "
                              "the case that this Idempotency-Key opened before, as you may "
                              "read it now"}, **ERRORS},
             openapi_extra={"parameters": [IDEMPOTENCY_KEY]})
async def create_case(
    body: CaseCreate,
    request: Request,
    response: Response,
    caller: IntakeOpenerDep,
) -> CasePublic | Response:
    """Open a complaint: it is classified, routed, and its SLA clocks start now.

    The answer shows the case even when it is routed to a team outside the caller's scope;
    from then on, only that team (and managers and directors) can read it: a retry then
    answers only that the case exists, and its id.
    """
    rt = runtime_module.current()
    idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        return field_error(["header", IDEMPOTENCY_HEADER],
                           f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters long")
    priorities = complaint.policy_of(rt.policies).priorities
    if body.priority is not None and body.priority not in priorities:
        return field_error(["body", "priority"], f"must be one of {priorities}")
    opening = OpenCase(
        subject=body.subject, description=body.description, channel=body.channel,
        category=body.category, priority=body.priority, idempotency_key=idempotency_key,
        customer=CustomerInput(ref=body.customer.ref, name=body.customer.name,
                               tier=Tier(body.customer.tier) if body.customer.tier else None,
                               phone=body.customer.phone,
                               email=body.customer.email, birthday=body.customer.birthday,
                               greetings_consent=body.customer.greetings_consent,
                               survey_opt_out=body.customer.survey_opt_out,
                               preferred_channel=body.customer.preferred_channel,
                               language=body.customer.language),
    )
    # Written by the intake writer with the other complaints waiting, in one commit; a
    # key from a cache that no revocation empties is checked there (IntakeOpenerDep).
    try:
        opened, created = await rt.intake.open(Intake(
            opening, caller.name, caller.kind, rt.clock.now(),
            unchecked_key=None if rt.keys.stamped else caller.key_id))
    except Unauthenticated as exc:
        rt.limits.failed_auth.spend(client_address(request))
        raise unauthorized(str(exc)) from None
    if isinstance(opened, Opened):
        case_id = opened.opening.case.id
        view = opened_view(opened, rt, rt.clock.now(), caller)
        if view.withholds_contact:  # a known customer: what else may the caller see?
            view = await run_in_threadpool(_with_known_contacts, view, rt, caller)
        answer: CasePublic | Response = case_public(view, rt, caller)
    else:  # an Idempotency-Key seen before: its case, as the caller may read it now
        case_id = opened.id
        response.status_code = status.HTTP_200_OK
        answer = await run_in_threadpool(_replay, opened, rt, caller)
    response.headers["Location"] = f"/cases/{case_id}"
    return answer


def _with_known_contacts(view: CaseView, rt: Runtime, reader: Identity) -> CaseView:
    with Session(rt.engine) as session:
        return with_known_contacts(session, view, reader)


def _replay(case: Case, rt: Runtime, reader: Identity) -> CasePublic | Response:
    with Session(rt.engine) as session:
        view = get_case(session, case.id or 0, rt, rt.clock.now(), reader)
        if view is None:
            return receipt(case, f"/cases/{case.id}")
        return case_public(view, rt, reader)


def receipt(case: Case, location: str) -> Response:
    """The answer to a retried opening whose case the caller may no longer read: that it
    exists and its id (200), nothing else of it: not its timeline, notes or customer."""
    answer = CaseReceipt(id=case.id or 0, process=case.process)
    return JSONResponse(answer.model_dump(exclude_none=True), headers={"Location": location})


@router.get("/{case_id}", response_model=CasePublic, responses=ERRORS)
def read_case(case_id: CaseId, session: SessionDep, rt: RuntimeDep,
              reader: ReaderDep) -> CasePublic:
    """A case with every clock, the next escalation step and the whole timeline."""
    return _read(session, case_id, rt, reader)


@router.post("/{case_id}/events", response_model=CasePublic | CaseReceipt, responses={
    **ERRORS, 200: {"description": "the case; or, when the event moved it out of your "
                    "scope (a transfer), only its id, stage, team and the event recorded"}})
def create_event(case_id: CaseId, body: EventCreate, session: SessionDep, rt: RuntimeDep,
                 caller: ReaderDep) -> CasePublic | CaseReceipt | Response:
    """Apply an event (acknowledge, resolve, confirm...); 409 lists the events you may send."""
    event = Event(body.type, caller.name, body.data, body.note, actor_kind=caller.kind)
    case = post_event(session, case_id=case_id, event=event, policies=rt.policies,
                      calendars=rt.calendars, now=rt.clock.now(), identity=caller, runtime=rt)
    view = get_case(session, case_id, rt, rt.clock.now(), caller)
    if view is None:  # handed on out of the caller's scope: what they did, not the case
        return handed_on(session, case, event)
    return case_public(view, rt, caller)


def handed_on(session: Session, case: Case, event: Event) -> CaseReceipt:
    """The case's place now and the caller's event as recorded, for a caller who may no
    longer read the case."""
    recorded = session.exec(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.type == event.type,
        CaseEvent.actor == event.actor).order_by(col(CaseEvent.id).desc()).limit(1)).one()
    return CaseReceipt(id=case.id or 0, process=case.process, stage=case.stage,
                       team=case.team,
                       event=EventPublic.model_validate(recorded, from_attributes=True))


def _read(session: SessionDep, case_id: int, rt: Runtime, reader: Identity) -> CasePublic:
    """The case as `reader` sees it; not found outside their scope."""
    view = get_case(session, case_id, rt, rt.clock.now(), reader)
    if view is None:
        raise CaseNotFound(case_id)
    return case_public(view, rt, reader)


def case_public(view: CaseView, rt: Runtime, reader: Identity) -> CasePublic:
    """A case as `reader` may see it, contact details disclosed as the privacy policy says."""
    case, customer = view.case, view.customer
    # Whoever opens a case for a stored customer outside their scope learns no contact;
    # in it, only those the view lets them know (`core.queries.known_contacts`).
    contact = (rt.policies.privacy.for_reader(reader.role)
               if reader.sees(team=case.team, assignee=case.assignee) else Disclosure.omitted)
    return CasePublic(
        **{name: getattr(case, name) for name in CaseSummary.model_fields},
        description=case.description, policy_version=case.policy_version,
        customer=CustomerPublic(id=customer.id or 0, ref=customer.external_ref,
                                name=customer.name, tier=customer.tier,
                                phone=disclose(view.contact("phone"), "phone", contact),
                                email=disclose(view.contact("email"), "email", contact),
                                survey_opt_out=customer.survey_opt_out,
                                preferred_channel=customer.preferred_channel,
                                language=customer.language)
        if customer is not None else None,
        allowed_events=view.allowed_events,
        clocks=[ClockPublic(
            # The view's state is a ClockState's value.
            name=c.name, calendar=c.calendar, state=cast(ClockStateName, c.state),
            target=c.target, started_at=c.started_at, due_at=c.due_at, remaining=c.remaining,
            remaining_seconds=c.remaining.total_seconds(), paused=c.state == "paused",
            breached=c.breached, breached_at=c.breached_at, met=c.met, waived=c.waived,
            next_escalation=NextEscalation(**c.next_escalation) if c.next_escalation else None,
        ) for c in view.clocks],
        timeline=[EventPublic(id=e.id or 0, type=e.type, actor=e.actor,
                              # A stored event's actor_kind is an ActorKind's value.
                              actor_kind=cast(ActorKindName, e.actor_kind),
                              at=e.at, details=e.details, request_id=e.request_id)
                  for e in view.timeline],
    )
