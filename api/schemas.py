"""Request and response models of the HTTP API (role-named: Create, Public, Page)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.storable import check_storable
from api.times import IsoDuration, UtcDatetime, UtcJson

# Ids are 32-bit integers in the store; anything larger cannot name a case.
MAX_ID = 2**31 - 1
CaseId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Model(BaseModel):
    """A request body: unknown fields are refused, and what could not be stored and read
    back (`api.storable`) is refused before anything is written."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # The outermost model sees the whole body first, so `loc` starts at its root.
        if isinstance(data, dict):
            check_storable(data, ["body"])
        return data


class CustomerIn(Model):
    ref: str | None = Field(default=None, max_length=120, description="your id for the customer")
    name: str | None = Field(default=None, max_length=200)
    tier: Literal["A", "B", "C", "VIP"] | None = Field(
        default=None, description="kept as stored when omitted; C for a new customer")
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    birthday: date | None = Field(default=None, description="for birthday greetings")
    greetings_consent: bool | None = Field(
        default=None, description="the customer agrees to birthday and holiday greetings; "
                                  "omitted: unchanged (no consent for a new customer)")
    survey_opt_out: bool | None = Field(
        default=None, description="true: no satisfaction surveys or return-visit calls; "
                                  "omitted: unchanged (surveys on for a new customer)")
    preferred_channel: Literal["email", "phone"] | None = Field(
        default=None, description="the contact surveys and greetings go to; omitted: "
                                  "unchanged (any contact the customer has)")
    language: Literal["zh-Hans", "en"] | None = Field(
        default=None, description="the language of the customer's messages; omitted: "
                                  "unchanged (the service's, CASEFLOW_LANGUAGE)")


class CaseCreate(Model):
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    customer: CustomerIn
    channel: str | None = Field(default=None, max_length=40, examples=["phone", "wecom", "store"])
    category: str | None = Field(default=None, max_length=80, examples=["billing", "delivery"])
    priority: str | None = Field(default=None, description="skip classification: urgent, ...")


def _document_event_data(schema: dict[str, Any]) -> None:
    """Show each process's event data models (titled `process.event`) in the API docs."""
    from domain.catalogue import definitions  # every process module: only when documented

    schema["anyOf"] = [{**model.model_json_schema(), "title": f"{name}.{event}"}
                       for name, process in sorted(definitions().items())
                       for event, model in sorted(process.TABLE.data.items())]


class EventCreate(Model):
    type: str = Field(min_length=1, max_length=40, examples=["acknowledge"])
    data: dict[str, Any] = Field(
        default_factory=dict, examples=[{}], json_schema_extra=_document_event_data,
        description="The event's data, by process and event: the schemas titled "
                    "`process.event` (a wrong type is 422 naming `data.<field>`); other "
                    "events take none, add_note any.")
    note: str | None = Field(default=None, max_length=5000)


class CustomerPublic(BaseModel):
    id: int
    ref: str | None
    name: str | None
    tier: str
    phone: str | None = Field(description="in full, masked or omitted, as the privacy "
                                          "policy lets the caller's role see it")
    email: str | None = Field(description="like phone")
    survey_opt_out: bool = Field(default=False, description="no surveys or return-visit calls")
    preferred_channel: str | None = Field(default=None, description="email or phone")
    language: str | None = Field(default=None, description="zh-Hans or en; null: the "
                                                           "service's language")


class NextEscalation(BaseModel):
    name: str
    at_percent: int
    level: int
    notify: list[str]
    fire_at: UtcDatetime | None = Field(description="None while the clock is paused")


ClockStateName = Literal["running", "paused", "stopped"]
ActorKindName = Literal["person", "integration", "system"]


class ClockPublic(BaseModel):
    name: str
    calendar: str
    state: ClockStateName
    target: IsoDuration = Field(description="ISO 8601 duration of business time")
    started_at: UtcDatetime
    due_at: UtcDatetime | None = Field(description="None while paused or stopped")
    remaining: IsoDuration = Field(description="business time left, ISO 8601; negative once "
                                               "breached")
    remaining_seconds: float
    paused: bool
    breached: bool
    breached_at: UtcDatetime | None
    met: bool | None = Field(description="for a stopped clock: whether it met its target; "
                                         "null while it runs, or when it was waived")
    next_escalation: NextEscalation | None
    waived: UtcJson[dict[str, Any]] | None = Field(
        default=None, description="an obligation no longer owed, neither met nor missed: "
                                  "`by`, `at`, `reason` (a crisis resolved before it was due)")


class EventPublic(BaseModel):
    id: int
    type: str
    actor: str
    actor_kind: ActorKindName
    at: UtcDatetime
    details: UtcJson[dict[str, Any]]
    request_id: str | None = Field(
        default=None, description="the X-Request-ID of the request that wrote it; "
                                  "null for what the service did by itself (an escalation)")


class CaseSummary(BaseModel):
    id: int
    process: str
    stage: str
    priority: str
    tier: str | None
    category: str | None
    channel: str | None
    subject: str
    team: str
    assignee: str | None
    escalation_level: int
    opened_at: UtcDatetime
    updated_at: UtcDatetime
    closed_at: UtcDatetime | None


class CasePublic(CaseSummary):
    description: str
    customer: CustomerPublic | None = Field(description="None for a process without one")
    policy_version: str
    allowed_events: list[str]
    clocks: list[ClockPublic]
    timeline: list[EventPublic]


class CaseReceipt(BaseModel):
    """The answer about a case the caller may not read (any more): a retried opening
    whose case went to another team, or an event that moved it there (a transfer).
    It says that the case exists and its id; an event's answer adds where the case is
    now and the event as recorded, which the caller just did."""

    id: int
    process: str
    readable: Literal[False] = Field(default=False, description="the case is outside your "
                                     "scope now: reading it answers 404")
    stage: str | None = Field(default=None, description="after an event: the case's stage")
    team: str | None = Field(default=None,
                             description="after an event: the team that has the case now")
    event: EventPublic | None = Field(default=None,
                                      description="after an event: the event you recorded")


class NextRungPublic(BaseModel):
    """The next escalation step of a clock and who it reaches."""

    name: str
    level: int
    at: UtcDatetime | None = Field(description="when it fires; None while the clock is paused")
    notify: list[str] = Field(description="roles: assignee, supervisor, manager, director")
    reaches: list[str] = Field(description="the people those roles are for this case")


class SlaSummaryPublic(BaseModel):
    """A case's most pressing clock: the running one due soonest, else a paused one,
    else the last one stopped."""

    clock: str
    due_at: UtcDatetime | None = Field(description="None while paused or stopped")
    time_left: IsoDuration | None = Field(description="business time left; None once "
                                                      "breached or stopped")
    overdue_by: IsoDuration | None = Field(description="business time past due, while "
                                                       "breached and not stopped")
    breached: bool
    paused: bool
    escalation_level: int = Field(description="the case's: 0 none, 1 supervisor, 2 manager, "
                                              "3 director")
    next_rung: NextRungPublic | None


class CaseRow(CaseSummary):
    sla: SlaSummaryPublic | None = Field(description="None for a case without clocks")


class CasePage(BaseModel):
    items: list[CaseRow]
    total: int = Field(description="the cases the filters select, over every page")
    next_page: str | None = Field(default=None, description=(
        "either sort: pass as `cursor` for the next page (None: this is the last)"))
    next_cursor: int | None = Field(description="sort=newest: pass as `before_id` for the "
                                                "next page")
    next_offset: int | None = Field(default=None, description=(
        "sort=due: pass as `offset` for the next page (`cursor` costs the same however "
        "deep the page; an offset, more the deeper it is)"))


class Problem(BaseModel):
    """An error the client can act on."""

    detail: UtcJson[Any]


class KeyCreate(Model):
    name: str = Field(min_length=1, max_length=120, examples=["li.wei"],
                      description="the person (as named in teams.yaml) or the integration")
    kind: Literal["person", "integration"] = "person"
    role: Literal["agent", "supervisor", "manager", "director", "admin", "scheduler"]
    teams: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        default_factory=list, max_length=50, examples=[["complaints"]],
        description="required for agents and supervisors, refused for the other roles")
    expires_at: datetime | None = Field(default=None, description="with a timezone; "
                                                                  "no expiry when omitted")


class KeyPublic(BaseModel):
    id: int
    name: str
    kind: str
    role: str
    teams: list[str]
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: UtcDatetime
    created_by: str
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    revoked_by: str | None
    last_used_at: UtcDatetime | None = Field(description="to within an hour")


class KeyCreated(KeyPublic):
    key: str = Field(description="the API key itself: shown this once, never again")


class IdentityPublic(BaseModel):
    name: str
    kind: str
    role: str
    teams: list[str]
    key_id: int | None = Field(description="None for an identity provider's token")


class PolicyReload(BaseModel):
    previous_version: str
    version: str
    changed: bool
