"""The case store: SQLModel tables, the same on SQLite and PostgreSQL.

Datetimes are stored as naive UTC and come back timezone-aware (`UtcDateTime`), so
SQLite, which has no timezone type, and PostgreSQL behave the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    inspect,
    text,
)
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store timezone-aware datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None

    # On SQLite, one step each way instead of SQLAlchemy's two (its DATETIME's string
    # formatting and regex parsing, then ours): half the cost, and a complaint's intake
    # converts about 26 of these. The text is SQLAlchemy's own storage format.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The last value's text: a row's times are often one and the same object (a
        # complaint's opening binds `now` nine times over, in a row).
        last: tuple[datetime | None, str | None] = (None, None)

        def process(value: datetime | None) -> str | None:
            nonlocal last
            if value is None:
                return None
            seen, text = last  # one tuple: another thread's value never gets this text
            if value is seen:
                return text
            if value.tzinfo is None:
                raise ValueError("store timezone-aware datetimes only")
            # The UTC time's text without its "+00:00": no naive copy made on the way.
            text = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
            last = (value, text)
            return text

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            # The offset parsed with the rest: 0.09 µs, where parsing and then
            # `replace(tzinfo=UTC)` took 0.66 (a storm's sweep reads tens of thousands).
            return None if value is None else datetime.fromisoformat(value + "+00:00")

        return process


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class (its `__table__`, which SQLModel's types
    do not declare)."""
    table = inspect(model).local_table
    assert isinstance(table, Table), f"{model.__name__} is not a table class"
    return table


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Row) -> int:
    """The primary key of a row read from the store, or added and flushed: SQLModel types
    it `int | None`, since it is None until the row is inserted."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id until it is flushed")
    return row.id


def stored_ids(ids: Iterable[int | None]) -> list[int]:
    """Primary keys read from the store, which has no row without one."""
    # SQLModel types a primary key `int | None` (None until the INSERT); read back, it is
    # set, which no type says: hence the cast, not a check of each.
    return cast(list[int], list(ids))


def _at(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class Customer(SQLModel, table=True):
    """A customer, with the tier that tightens their SLAs."""

    __tablename__ = "customers"
    id: int | None = Field(default=None, primary_key=True)
    external_ref: str | None = Field(default=None, max_length=120, unique=True)
    name: str | None = Field(default=None, max_length=200)
    tier: str = Field(default="C", max_length=8)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    created_at: datetime = _at(nullable=False)
    birthday: date | None = None
    # Greetings (seed 001 §1.1.32) only with the customer's consent; no consent by default.
    greetings_consent: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false()))
    # Satisfaction follow-up: no surveys or return-visit calls once opted out.
    survey_opt_out: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false()))
    preferred_channel: str | None = Field(default=None, max_length=20)  # email | phone
    language: str | None = Field(default=None, max_length=10)  # zh-Hans | en; None: service's


class CustomerIdentity(SQLModel, table=True):
    """A way a customer is recognised on some channel: a phone number, an e-mail address,
    a messaging id (WeCom, WeChat, app). Each belongs to one customer, whichever channel."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_customer_identities_kind_value"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    kind: str = Field(max_length=20)  # phone | email | wecom | wechat | app
    value: str = Field(max_length=200)  # normalised (core.customers.normalise)
    channel: str | None = Field(default=None, max_length=40)  # where it was first seen
    first_seen_at: datetime = _at(nullable=False)


# The conditions of partial indexes (of open cases, of breached clocks): a query uses
# such an index when its conditions imply the index's.
OPEN = text("closed_at IS NULL")
BREACHED = text("breached_at IS NOT NULL")


class Case(SQLModel, table=True):
    """A case of some process; the row holds its current state, the events its history."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_process_stage", "process", "stage"),
        Index("ix_cases_assignee_stage", "assignee", "stage"),
        Index("ix_cases_team_stage", "team", "stage"),
        # The open cases alone (a few percent of a year's), by the supervisors' worklists:
        # per team and person, counted per dimension (core.worklists).
        Index("ix_cases_open_by_team", "team", "assignee", "process", "priority", "stage",
              sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_cases_open_by_assignee", "assignee", "team", "opened_at",
              sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_cases_open_by_process", "process", "priority", "stage",
              sqlite_where=OPEN, postgresql_where=OPEN),
        # The open cases of a process by opening, with their team: the trends' live part.
        Index("ix_cases_open_by_opening", "process", "opened_at", "team",
              sqlite_where=OPEN, postgresql_where=OPEN),
        # Every case by the facet dimensions (core.worklists.facets over all time): a
        # count per combination reads this index alone, in its order, never the table.
        Index("ix_cases_facets", "team", "process", "stage", "priority", "assignee"),
    )
    id: int | None = Field(default=None, primary_key=True)
    process: str = Field(max_length=40)
    stage: str = Field(max_length=40)
    priority: str = Field(max_length=20, index=True)
    tier: str | None = Field(default=None, max_length=8)  # None: a process without customer
    category: str | None = Field(default=None, max_length=80)
    channel: str | None = Field(default=None, max_length=40)
    subject: str = Field(max_length=300)
    description: str = Field(default="")
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    team: str = Field(max_length=80)
    assignee: str | None = Field(default=None, max_length=120)
    escalation_level: int = 0
    resolved_count: int = 0
    policy_version: str = Field(max_length=40)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)
    opened_at: datetime = _at(nullable=False, index=True)
    stage_entered_at: datetime = _at(nullable=False)
    updated_at: datetime = _at(nullable=False)
    closed_at: datetime | None = _at()
    version: int = 1
    # What a process keeps beyond these columns (a PDCA cycle's plan, baseline and check).
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CaseEvent(SQLModel, table=True):
    """One entry of a case's timeline; rows are only ever appended."""

    __tablename__ = "case_events"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    type: str = Field(max_length=40)
    actor: str = Field(max_length=120)
    actor_kind: str = Field(default="person", max_length=12)  # person | integration | system
    at: datetime = _at(nullable=False)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The X-Request-ID of the request that wrote it; None for the sweeper's (migration 0013).
    request_id: str | None = Field(default=None, max_length=64)


class SlaClock(SQLModel, table=True):
    """One SLA clock of a case; `due_at` and `warn_at` are derived, kept for filtering."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("case_id", "name", name="uq_sla_clocks_case_name"),
        Index("ix_sla_clocks_state_due", "state", "due_at"),
        # The running clocks in due order with their case and warning time: the queue's
        # walk and the workload's overdue and at-risk cases (core.worklists) read it
        # alone, never the table.
        Index("ix_sla_clocks_state_due_case", "state", "due_at", "id", "case_id", "warn_at"),
        # Covers the on-time KPI over a whole process: one index scan, no join to cases.
        Index("ix_sla_clocks_on_time", "process", "name", "state", "breached_at", "due_at"),
        # What breached since midnight (core.worklists.overview): the breached clocks only.
        Index("ix_sla_clocks_breached_at", "breached_at",
              sqlite_where=BREACHED, postgresql_where=BREACHED),
        # A case's clock judged met, missed, overdue or at risk without reading its row
        # (the trends' live part, the overview and the workload: a lookup per open case).
        Index("ix_sla_clocks_case_outcome", "case_id", "name", "state", "breached_at",
              "due_at", "warn_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    process: str = Field(max_length=40)  # the case's, copied: a case never changes process
    name: str = Field(max_length=40)
    calendar: str = Field(max_length=80)
    target_seconds: float
    elapsed_seconds: float = 0.0
    state: str = Field(max_length=10)
    steps_fired: int = 0
    started_at: datetime = _at(nullable=False)
    running_since: datetime | None = _at()
    stopped_at: datetime | None = _at()
    breached_at: datetime | None = _at()
    ladder_stopped_at: datetime | None = _at()
    due_at: datetime | None = _at()
    warn_at: datetime | None = _at()


class Timer(SQLModel, table=True):
    """A durable deadline. `key` is unique, and a timer fires at most once."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_status_fire_at", "status", "fire_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    process: str = Field(max_length=40)
    kind: str = Field(max_length=20)
    name: str = Field(max_length=40)
    step: int | None = None
    # pending -> claimed -> fired | obsolete; pending <-> paused; pending|paused -> cancelled;
    # claimed -> pending|paused|cancelled when the case moved while it was claimed
    status: str = Field(max_length=10)
    fire_at: datetime | None = _at()
    claimed_by: str | None = Field(default=None, max_length=120)
    claimed_at: datetime | None = _at()
    fired_at: datetime | None = _at()


class OutboxMessage(SQLModel, table=True):
    """A notification to deliver after commit, with retries; `key` makes it idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=240, unique=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    recipient: str = Field(max_length=120)
    role: str = Field(max_length=40)
    subject: str = Field(max_length=300)
    body: str
    # pending -> claimed -> delivered | pending (retry) | dead
    status: str = Field(max_length=10)
    attempts: int = 0
    created_at: datetime = _at(nullable=False)
    next_attempt_at: datetime = _at(nullable=False)
    claimed_by: str | None = Field(default=None, max_length=120)
    claimed_at: datetime | None = _at()
    delivered_at: datetime | None = _at()
    channel: str | None = Field(default=None, max_length=40)
    last_error: str | None = None


class ClosedComplaintHour(SQLModel, table=True):
    """The on-time figures of the closed complaints opened in one UTC hour, per team: a
    roll-up the trends read instead of the cases and clocks of a whole period.

    A complaint is added in the transaction that closes it (closed is final, and its
    clocks are stopped by then, so its figures never change again); open complaints are
    counted live. Counts of cases, and of their first-response and resolution clocks.
    """

    __tablename__ = "closed_complaint_hours"
    hour: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    team: str = Field(primary_key=True, max_length=80)
    opened: int = 0
    clocks_met: int = 0
    clocks_decided: int = 0
    cases_on_time: int = 0
    cases_decided: int = 0


class RungCount(SQLModel, table=True):
    """Escalation rungs fired, summed in the store by process, ladder level and lateness
    bucket, whichever process fired them (an API instance, a sweeper, a Prefect worker):
    `/metrics` reads them at the scrape (`engine.metrics.StoreCollector`)."""

    __tablename__ = "rung_counts"
    process: str = Field(primary_key=True, max_length=40)
    level: int = Field(primary_key=True)
    # The index of the lateness histogram's bucket (engine.metrics.LATENESS_BUCKETS; its
    # length for +Inf); -1 for a rung with no due time, counted but not in the histogram.
    bucket: int = Field(primary_key=True)
    fired: int = 0
    lateness_seconds: float = 0.0


class ClockEpoch(SQLModel, table=True):
    """When the store's fast clock (`CASEFLOW_CLOCK_SPEED`) started, and its speed: one row,
    which every instance on the store reads, so that all keep the same time."""

    __tablename__ = "clock_epoch"
    id: int = Field(default=1, primary_key=True)
    speed: float
    started_at: datetime = _at(nullable=False)


class TeamMember(SQLModel, table=True):
    """A member of a team queue and their load, for routing."""

    __tablename__ = "team_members"
    team: str = Field(primary_key=True, max_length=80)
    person: str = Field(primary_key=True, max_length=120)
    open_cases: int = 0
    last_assigned_at: datetime | None = _at()


class ApiKey(SQLModel, table=True):
    """An API key for a person or an integration; only a hash of the secret is kept."""

    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, index=True)
    kind: str = Field(max_length=12)  # person | integration
    role: str = Field(max_length=12)
    teams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    prefix: str = Field(max_length=16)  # the key's first characters, to tell keys apart
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _at(nullable=False)
    created_by: str = Field(max_length=120)
    expires_at: datetime | None = _at()
    revoked_at: datetime | None = _at()
    revoked_by: str | None = Field(default=None, max_length=120)
    last_used_at: datetime | None = _at()


class ReviewRun(SQLModel, table=True):
    """One run of a periodic review over one period; never two for the same period."""

    __tablename__ = "review_runs"
    __table_args__ = (
        UniqueConstraint("review", "period_start", name="uq_review_runs_review_period"),
        Index("ix_review_runs_status_published", "status", "published_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    review: str = Field(max_length=60)
    computes: str = Field(max_length=40)
    period_start: datetime = _at(nullable=False)
    period_end: datetime = _at(nullable=False)
    slot_at: datetime = _at(nullable=False)  # the cron slot the run stands for
    trigger: str = Field(max_length=12)  # schedule | manual
    status: str = Field(max_length=12)  # running -> succeeded | failed (-> running: retry)
    attempts: int = 1
    started_at: datetime = _at(nullable=False)
    finished_at: datetime | None = _at()
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    published_at: datetime | None = _at()  # Prefect artifacts written
    # Publishing: the artifact keys written so far (a retry writes only the rest), the
    # failed tries, the last failure, and when to try next (None: published or given up).
    published_artifacts: list[str] = Field(default_factory=list,
                                           sa_column=Column(JSON, nullable=False))
    publish_attempts: int = 0
    publish_error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    publish_after: datetime | None = _at()


class Finding(SQLModel, table=True):
    """An entry of the improvement backlog: what was found, from where, and its fate."""

    __tablename__ = "findings"
    __table_args__ = (
        # A run adds at most one finding per KPI, however often it is retried.
        UniqueConstraint("review_run_id", "kpi", name="uq_findings_run_kpi"),
        Index("ix_findings_status_source", "status", "source"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)  # review | crisis_review | satisfaction | manual
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))
    kpi: str | None = Field(default=None, max_length=60)
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    team: str | None = Field(default=None, max_length=80)
    review_run_id: int | None = Field(default=None, foreign_key="review_runs.id", index=True)
    case_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=12)  # open -> dismissed | promoted
    created_at: datetime = _at(nullable=False)
    created_by: str = Field(max_length=120)
    dismissed_at: datetime | None = _at()
    dismissed_by: str | None = Field(default=None, max_length=120)
    dismiss_reason: str | None = Field(default=None, max_length=2000)
    promoted_at: datetime | None = _at()
    # The PDCA cycle it was promoted to; the cycles table comes with issue 4, item 2.
    pdca_cycle_id: int | None = Field(default=None, index=True)


class Survey(SQLModel, table=True):
    """A satisfaction survey sent for a follow-up: its link's nonce, and whether it was used.

    The link is signed with a secret the store never holds, so the nonce alone makes no
    link. `consumed_at` is set, once, in the transaction that stores the answer.
    """

    __tablename__ = "surveys"
    # Once per customer per period: the latest survey sent to a customer.
    __table_args__ = (Index("ix_surveys_customer_issued", "customer_id", "issued_at"),
                      # The surveys sent in a period: the trends' CSAT per bucket.
                      Index("ix_surveys_issued_at", "issued_at"))
    id: int | None = Field(default=None, primary_key=True)
    followup_case_id: int = Field(foreign_key="cases.id", unique=True)
    source_case_id: int = Field(foreign_key="cases.id", index=True)
    customer_id: int = Field(foreign_key="customers.id")
    agent: str | None = Field(default=None, max_length=120)  # who handled the case
    sent_via: str = Field(max_length=20)  # the contact: email | phone
    nonce: str = Field(max_length=64, unique=True)
    issued_at: datetime = _at(nullable=False)
    expires_at: datetime = _at(nullable=False)
    reminded_at: datetime | None = _at()
    consumed_at: datetime | None = _at()


class SurveyAnswer(SQLModel, table=True):
    """The one answer to a survey, through its link or on a return-visit call."""

    __tablename__ = "survey_answers"
    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", unique=True)
    via: str = Field(max_length=8)  # link | call
    csat: int | None = None
    nps: int | None = None
    speed: int | None = None
    attitude: int | None = None
    resolution: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    answered_at: datetime = _at(nullable=False)
    recorded_by: str = Field(max_length=120)  # "customer", or the agent who called


class Signal(SQLModel, table=True):
    """A counter the instances on PostgreSQL watch: bumped when something they must all
    follow happens (a policy reload), so each can tell it happened (engine.coordination)."""

    __tablename__ = "signals"
    name: str = Field(primary_key=True, max_length=40)
    version: int = 0
