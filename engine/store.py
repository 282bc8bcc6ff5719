"""Load cases as domain snapshots and persist domain decisions in one transaction.

`persist_decision` is the single write path: it updates the case row, rewrites the
clocks, appends the timeline, syncs the durable timers with what the case now needs
(cancelling the obsolete ones) and queues the notifications in the outbox.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    Row,
    String,
    Table,
    any_,
    bindparam,
    case,
    event,
    func,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, select

from domain.calendars import BusinessCalendar
from domain.catalogue import definition
from domain.clocks import Clock, ClockState
from domain.complaint.routing import MemberLoad
from domain.policy import EscalationStep, PolicySet, Tier
from domain.process import CaseSnapshot, CustomerContact, Decision
from domain.timers import TimerSpec, plan_escalation_timers
from engine import metrics, request_context
from engine.db import connection_of, pipelined
from engine.models import (
    Case,
    CaseEvent,
    Customer,
    CustomerIdentity,
    OutboxMessage,
    SlaClock,
    TeamMember,
    Timer,
    UtcDateTime,
    table_of,
)
from engine.pg_bulk import TABLES_AT_ONCE, column_defaults, time_columns
from engine.pg_pipeline import DriverQuery

LIVE_TIMER_STATES = ("pending", "paused")
CASES = table_of(Case)
CUSTOMERS = table_of(Customer)
IDENTITIES = table_of(CustomerIdentity)
CLOCKS = table_of(SlaClock)
EVENTS = table_of(CaseEvent)
TIMERS = table_of(Timer)
OUTBOX = table_of(OutboxMessage)
MEMBERS = table_of(TeamMember)
# Built once: building a statement costs more than running it (every intake runs these).
_LAST_CASE_ID = select(func.max(CASES.c.id))
_NEXT_SERIAL_CASE_ID = select(func.nextval(func.pg_get_serial_sequence(CASES.name, "id")))
# A block of the next case ids and as many customer ids, and `events` timeline ids, one
# statement for a batch's complaints (those whose customer is known leave their customer
# id a gap). A row past the `n`th takes a timeline id only: a CASE evaluates its branch
# only for the rows it is taken for.
_SERIES = func.generate_series(1, bindparam("rows")).table_valued("row").render_derived()
_NEXT_SERIAL_IDS = (
    select(case((_SERIES.c.row <= bindparam("n"),
                 func.nextval(func.pg_get_serial_sequence(CASES.name, "id")))).label("case_id"),
           case((_SERIES.c.row <= bindparam("n"),
                 func.nextval(func.pg_get_serial_sequence(CUSTOMERS.name, "id")))
                ).label("customer_id"),
           case((_SERIES.c.row <= bindparam("events"),
                 func.nextval(func.pg_get_serial_sequence(EVENTS.name, "id")))
                ).label("event_id"))
    .select_from(_SERIES))
# Inline: no implicit RETURNING of the new row's id, which SQLAlchemy adds to an insert
# of one row and then reads at once, which a psycopg pipeline cannot answer yet (a batch
# of one firing rung failed so); nothing reads these inserts' ids.
_INSERT: dict[str, Insert] = {table.name: insert(table).inline() for table in
                              (CUSTOMERS, IDENTITIES, CASES, CLOCKS, EVENTS, TIMERS, OUTBOX)}
# A block of the next timeline ids, for a batch's entries on PostgreSQL (`Appends.insert`).
_NEXT_SERIAL_EVENT_IDS = (
    select(func.nextval(func.pg_get_serial_sequence(EVENTS.name, "id")))
    .select_from(func.generate_series(1, bindparam("n"))))
# New timeline entries' ids, in the order of the rows given ("insertmanyvalues").
_INSERT_RETURNING_ID = insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True)
_MEMBER_LOADS = (
    select(MEMBERS.c.person, MEMBERS.c.open_cases, MEMBERS.c.last_assigned_at)
    .where(MEMBERS.c.team == bindparam("queue"))
    # Lock in one order in every transaction, so two intakes cannot deadlock.
    .order_by(MEMBERS.c.person).with_for_update())
# Several teams' at once, for a batch's reads sent together (`engine.pg_pipeline`), not
# locked: the batch writes its changes as shifts (`TablesAtOnce`), which lock the rows
# only as it commits. Locked from the read, the batches of two processes took turns
# from the first round trip of one to the commit of the other, the machine partly
# idle. Two batches at once may then both choose by loads that the other is
# about to change: the counts stay exact, and the next choice sees both.
TEAMS_LOADS = DriverQuery(
    select(MEMBERS.c.team, MEMBERS.c.person, MEMBERS.c.open_cases, MEMBERS.c.last_assigned_at)
    .where(MEMBERS.c.team == any_(bindparam("teams", type_=ARRAY(String())))))
# A batch's ids (`Appends.take_ids`), read with others.
NEXT_IDS = DriverQuery(_NEXT_SERIAL_IDS)
# A member's open cases moved `by`, and their last assignment set when `at` is given.
_LOAD_CHANGE = (
    update(MEMBERS).where(MEMBERS.c.team == bindparam("queue"),
                          MEMBERS.c.person == bindparam("member"))
    .values(open_cases=MEMBERS.c.open_cases + bindparam("by"),
            last_assigned_at=func.coalesce(bindparam("at", type_=UtcDateTime()),
                                           MEMBERS.c.last_assigned_at)))


def snapshot_of(case: Case | Row[Any], clocks: Sequence[SlaClock | Row[Any]],
                customer: Customer | Row[Any] | None = None) -> CaseSnapshot:
    """The domain's view of a stored case, a model or a row (with the customer's contact,
    when given)."""
    assert case.id is not None
    return CaseSnapshot(
        id=case.id, process=case.process, stage=case.stage, priority=case.priority,
        tier=Tier(case.tier) if case.tier else None, team=case.team, assignee=case.assignee,
        opened_at=case.opened_at, stage_entered_at=case.stage_entered_at,
        escalation_level=case.escalation_level, resolved_count=case.resolved_count,
        category=case.category, channel=case.channel,
        clocks={row.name: clock_of(row) for row in clocks},
        customer=CustomerContact(name=customer.name, phone=customer.phone, email=customer.email)
        if customer is not None else None,
        data=dict(case.data), subject=case.subject,
    )


def clock_of(row: SlaClock | Row[Any]) -> Clock:
    return Clock(
        name=row.name, calendar=row.calendar, target=timedelta(seconds=row.target_seconds),
        started_at=row.started_at, state=ClockState(row.state),
        elapsed=timedelta(seconds=row.elapsed_seconds), running_since=row.running_since,
        stopped_at=row.stopped_at, breached_at=row.breached_at, steps_fired=row.steps_fired,
        ladder_stopped_at=row.ladder_stopped_at,
    )


def load_case(session: Session, case_id: int, *, for_update: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def load_clocks(session: Session, case_id: int) -> list[SlaClock]:
    return list(session.exec(select(SlaClock).where(SlaClock.case_id == case_id)))


def persist_decision(
    session: Session,
    case: Case,
    clock_rows: list[SlaClock],
    decision: Decision,
    *,
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    new_case: bool = False,
    case_timers: list[Timer | NewTimer] | None = None,
    appends: Appends | None = None,
) -> None:
    """Write one decision: case row, clocks, timeline, timers and outbox, in `session`.

    `new_case` says the case is being opened, so it has no timers to look up yet.
    `case_timers`, when given, are all the case's timer rows, already loaded (firing
    timers together); new timers are appended to it, so it stays complete. `appends`,
    when given, collects the timeline and outbox rows for the caller to insert together.
    """
    before, after = decision.before, decision.after
    assert case.id is not None
    for column, value in case_columns(after).items():
        setattr(case, column, value)
    case.updated_at = now
    case.version += 1
    process = definition(case.process)
    closing = after.stage in process.TABLE.final_stages
    if closing and case.closed_at is None:
        case.closed_at = now
        metrics.case_closed(session, case.process)
    if new_case:
        metrics.case_opened(session, case.process)
    session.add(case)
    _adjust_load(session, before, after, process.TABLE.final_stages)

    ladder = process.ladder(policies)
    _write_clocks(session, case.id, case.process, clock_rows, after, ladder, calendars)
    events = timeline_rows(case.id, decision, now)
    sync_timers(session, case.id, case.process, timers_wanted(after, policies, calendars),
                new_case=new_case, loaded=case_timers, appends=appends)
    messages = outbox_rows(case.id, decision, now)
    if appends is not None:
        appends.events += events
        appends.messages += messages
    else:
        session.add_all([CaseEvent(**row) for row in events]
                        + [OutboxMessage(**row) for row in messages])


def persist_new_case(session: Session, case: Case, decide: Callable[[int], Decision], *,
                     policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                     now: datetime) -> Decision:
    """Insert `case`, as it stands before it opens, then write its opening decision, which
    `decide(case id)` makes; return that decision."""
    session.add(case)
    session.flush()
    assert case.id is not None
    decision = decide(case.id)
    persist_decision(session, case, [], decision, policies=policies, calendars=calendars,
                     now=now, new_case=True)
    return decision


@dataclass(frozen=True)
class Opening:
    """A case as its opening wrote it: the rows to answer with, none read back."""

    case: Any  # the cases row, with its attributes
    # The sla_clocks and case_events rows' values; a timeline entry's with its id once
    # inserted (a clock's id is in no answer: it is not read back).
    clock_values: list[dict[str, Any]]
    event_values: list[dict[str, Any]]

    @property
    def clocks(self) -> list[Any]:
        """Its clocks' rows, with their attributes (their ids None), in the order written."""
        return [_WRITTEN[CLOCKS.name].row(values) for values in self.clock_values]

    @property
    def timeline(self) -> list[Any]:
        """Its timeline's rows, with their attributes."""
        return [_WRITTEN[EVENTS.name].row(values) for values in self.event_values]


def new_case_id(db: Session | Connection, appends: Appends | None = None) -> int:
    """The id for a case about to be written, taken first because its opening decision
    names it. PostgreSQL's comes from the table's sequence. SQLite's is the one it would
    choose itself, the highest plus one: the transaction writing the case holds the
    store's write lock, and were it not, the insert would fail on the key and be retried.
    In a batch (`appends`), the highest is the one the batch took last, unless it has
    taken none; a case that something else in the batch wrote meanwhile (a crisis that a
    complaint raised) makes the next insert fail on the key, and the batch is written
    again one complaint at a time. On PostgreSQL a batch takes `appends.id_block` ids
    with one statement (`Appends.take_ids`), and hands them out in order: a statement
    each was a round trip each. Ids taken and not used (a replayed key) are a gap, as a
    rollback leaves.
    """
    connection = connection_of(db)
    if connection.dialect.name != "sqlite":
        if appends is None or appends.id_block < 1:
            return int(connection.execute(_NEXT_SERIAL_CASE_ID).scalar_one())
        if not appends.case_ids:
            appends.take_ids(connection)
        return int(appends.case_ids.pop(0))
    last = appends.last_case_id if appends is not None else None
    if last is None:
        last = connection.execute(_LAST_CASE_ID).scalar() or 0
    if appends is not None:
        appends.last_case_id = last + 1
    return last + 1


def new_customer_id(db: Session | Connection, appends: Appends) -> int | None:
    """The id for a new customer of a batch (`appends`) on PostgreSQL, taken with the
    batch's case ids, so that its row can wait to be inserted with the others'
    (`Appends.customers`); None elsewhere, where the caller inserts it at once."""
    connection = connection_of(db)
    if connection.dialect.name == "sqlite" or appends.id_block < 1:
        return None
    if not appends.customer_ids:
        appends.take_ids(connection)
    return int(appends.customer_ids.pop(0))


def persist_opening(db: Session | Connection, decision: Decision, columns: Mapping[str, Any], *,
                    policies: PolicySet, calendars: Mapping[str, BusinessCalendar],
                    now: datetime, appends: Appends | None = None) -> Opening:
    """Write a new case with its first decision: what `persist_new_case` writes.

    `decision.after.id` is the case's id, from `new_case_id`; `columns` are the case
    row's columns that no decision sets (subject, customer, idempotency key...). The
    row is written once, as the decision leaves it: inserting it and then updating it
    cost the writer 6% more instructions. Plain statements and no model objects,
    because every intake runs this: a complaint's opening is the case's insert and the
    update of its assignee's load, then its clocks, timeline, timers and notifications,
    which `appends`, when given, collects (the case row too) for the caller to insert
    with those of other openings (a batch of intakes); the opening's timeline then has
    its ids once it has. A caller that lets something read the case before that
    inserts the cases collected first (`Appends.insert_cases`).
    """
    before, after = decision.before, decision.after
    process = definition(after.process)
    # Version 2, as for a case of any process: written new, then its first decision.
    values: dict[str, Any] = {**columns, **case_columns(after), "id": after.id,
                              "process": after.process, "opened_at": after.opened_at,
                              "updated_at": now, "version": 2}
    if after.stage in process.TABLE.final_stages:
        values["closed_at"] = now
    rows = appends if appends is not None else Appends(ids=True)
    connection = connection_of(db)
    rows.cases.append(values)
    _adjust_load(connection, before, after, process.TABLE.final_stages, rows.loads)
    metrics.case_opened(connection, after.process, closed="closed_at" in values)
    warn_fraction = process.ladder(policies)[0].at_percent / 100
    clocks = [{"case_id": after.id, "process": after.process, "name": name,
               "started_at": clock.started_at,
               **clock_columns(clock, calendars[clock.calendar], warn_fraction)}
              for name, clock in after.clocks.items()]
    timeline = timeline_rows(after.id, decision, now)
    rows.clocks += clocks
    rows.events += timeline
    rows.timers += [NewTimer.wanted(spec, after.id, after.process)
                    for spec in timers_wanted(after, policies, calendars)]
    rows.messages += outbox_rows(after.id, decision, now)
    if appends is None:
        rows.insert(connection)
    return Opening(case=_WRITTEN[CASES.name].row(values), clock_values=clocks,
                   event_values=timeline)


# A named tuple whose fields are a table's columns: known at run time only, so not typed.
_row_type: Callable[[str, list[str]], Callable[..., tuple[Any, ...]]] = namedtuple


class _Written:
    """A table's rows as an insert wrote them, made from the values given, not read back:
    reading back, and converting, what an opening had just written cost a tenth of a
    complaint's intake. A column not given has its scalar default, or None."""

    def __init__(self, table: Table) -> None:
        for column in table.c:
            # A default that SQL or a function computes could not be made up here.
            assert column.server_default is None, column
            assert column.default is None or column.default.is_scalar, column
        self._make = _row_type(f"{table.name}_row", [c.key for c in table.c])
        self._defaults = column_defaults(table)
        self._times = time_columns(table)

    def row(self, values: Mapping[str, Any]) -> Any:
        """The row of `values` (its id among them); its times in UTC, as the store gives
        them."""
        row = {**self._defaults, **values}
        for key in self._times:
            if row[key] is not None:
                row[key] = row[key].astimezone(UTC)
        return self._make(**row)


_WRITTEN = {table.name: _Written(table) for table in (CASES, CLOCKS, EVENTS)}


def case_columns(case: CaseSnapshot) -> dict[str, Any]:
    """The case row's columns that a decision sets from the case as it now is."""
    return {
        "stage": case.stage, "priority": case.priority,
        # A hand-off may move a case to another team or channel (a service-request transfer).
        "team": case.team, "channel": case.channel,
        "assignee": case.assignee, "escalation_level": case.escalation_level,
        "resolved_count": case.resolved_count, "stage_entered_at": case.stage_entered_at,
        "data": dict(case.data),
    }


def timeline_rows(case_id: int, decision: Decision, now: datetime) -> list[dict[str, Any]]:
    """The decision's timeline entries as `case_events` rows, with the id of the request
    that writes them, if a request does."""
    request_id = request_context.current()
    return [{"case_id": case_id, "type": entry.type, "actor": entry.actor,
             "actor_kind": entry.actor_kind.value, "at": now, "details": dict(entry.details),
             "request_id": request_id}
            for entry in decision.timeline]


@event.listens_for(CaseEvent, "before_insert")
def _stamp_request_id(mapper: Any, connection: Any, target: CaseEvent) -> None:
    """A timeline event a command adds as a model (not through `timeline_rows`) records
    the request that writes it too."""
    if target.request_id is None:
        target.request_id = request_context.current()


def outbox_rows(case_id: int, decision: Decision, now: datetime) -> list[dict[str, Any]]:
    """The decision's notices as pending `outbox` rows, due now."""
    return [{"key": notice.key, "case_id": case_id, "recipient": notice.recipient,
             "role": notice.role, "subject": notice.subject[:300], "body": notice.body,
             "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
            for notice in decision.notices]


def timers_wanted(case: CaseSnapshot, policies: PolicySet,
                  calendars: Mapping[str, BusinessCalendar]) -> list[TimerSpec]:
    """Every durable timer the case needs now: its clocks' next rungs and its process's own."""
    process = definition(case.process)
    return (plan_escalation_timers(case, process.ladder(policies), calendars)
            + process.process_timers(case, policies))


def clock_columns(clock: Clock, calendar: BusinessCalendar, warn_fraction: float
                  ) -> dict[str, Any]:
    """A clock's stored columns, with its derived due and warning times."""
    return {
        # A case moved to another location moves its clocks to that calendar.
        "calendar": clock.calendar,
        "target_seconds": clock.target.total_seconds(),
        "elapsed_seconds": clock.elapsed.total_seconds(),
        "state": clock.state.value, "steps_fired": clock.steps_fired,
        "running_since": clock.running_since, "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at, "ladder_stopped_at": clock.ladder_stopped_at,
        "due_at": clock.due_at(calendar),
        "warn_at": clock.moment_at_fraction(calendar, warn_fraction),
    }


class MemberLoads:
    """Team members' open-case counts and last assignments as a transaction changes them:
    each team's rows read once and locked (`team`), and every change written back with
    one statement (`write`). A batch of openings routes its cases to the same few people:
    reading and updating their rows for each case cost three statements a case.
    """

    def __init__(self) -> None:
        self._teams: dict[str, dict[str, MemberLoad]] = {}
        self._changes: dict[tuple[str, str], dict[str, Any]] = {}

    def team(self, db: Session | Connection, team: str) -> dict[str, MemberLoad]:
        """The loads of the team's members (former members' too), as this transaction has
        them, by person."""
        loads = self._teams.get(team)
        if loads is None:
            rows = connection_of(db).execute(_MEMBER_LOADS, {"queue": team})
            loads = self._teams[team] = {
                row.person: MemberLoad(row.person, row.open_cases, row.last_assigned_at)
                for row in rows}
        return loads

    def read(self, teams: Sequence[str], rows: Sequence[Any]) -> None:
        """The loads of `teams`, as this transaction read them (`TEAMS_LOADS`' `rows`),
        for `team` to answer without reading."""
        for team in teams:
            self._teams.setdefault(team, {})
        for row in rows:
            self._teams[row.team][row.person] = MemberLoad(row.person, row.open_cases,
                                                          row.last_assigned_at)

    def change(self, team: str, person: str, *, by: int = 0, at: datetime | None = None
               ) -> None:
        """`person` of `team` has `by` more open cases, and was last given one `at`."""
        change = self._changes.setdefault(
            (team, person), {"queue": team, "member": person, "by": 0, "at": None})
        change["by"] += by
        change["at"] = at or change["at"]
        known = self._teams.get(team, {})
        if person in known:
            load = known[person]
            known[person] = MemberLoad(person, load.open_cases + by,
                                       at or load.last_assigned_at)

    def write(self, db: Session | Connection) -> None:
        """Write the changes, in the order the rows are locked in, and forget them."""
        changes = self.take_changes()
        if changes:
            connection_of(db).execute(_LOAD_CHANGE, changes)

    def take_changes(self) -> list[dict[str, Any]]:
        """The changes not written yet, in the order the rows are locked in, for the
        caller to write; forgotten here."""
        changes = [self._changes[key] for key in sorted(self._changes)]
        self._changes = {}
        return changes


@dataclass
class Appends:
    """New clocks, timeline, outbox and timer rows of many decisions, inserted with one
    statement per table: where a store's own way of writing many rows at once goes.

    A storm's chunk of escalation rungs writes thousands of them, and a batch of intakes
    tens: building an ORM object for each cost more than the rest of the decision, and a
    statement for each (SQLAlchemy's execution of one costs several times SQLite's work
    on a small insert) more than its rows. With `ids`, each timeline row gets its id, in
    place, to answer with (a clock's id is in no answer, so it is not read back).
    """

    # New customer rows (with ids from `new_customer_id`), inserted first, then new case
    # rows (`persist_opening`'s): the other rows point at them.
    customers: list[dict[str, Any]] = field(default_factory=list)
    # New identities of customers (`core.customers.KnownCustomers.remember_identities`),
    # inserted with the customers, after them.
    identities: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    timers: list[NewTimer] = field(default_factory=list)
    loads: MemberLoads = field(default_factory=MemberLoads)
    ids: bool = False
    last_case_id: int | None = None  # the last case id the batch took (`new_case_id`)
    # On PostgreSQL, how many case and customer ids `new_case_id` and `new_customer_id`
    # take from the sequences at once (the complaints of a batch; 0: a case id at a time,
    # and customers inserted at once), and those taken and not handed out yet.
    id_block: int = 0
    # Timeline ids taken with them (`id_block` times as many), for `insert`: an opening
    # writes a few timeline entries, whose ids, taken on their own, were a round trip.
    events_each: int = 0
    case_ids: list[int] = field(default_factory=list)
    customer_ids: list[int] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)

    def take_ids(self, connection: Connection) -> None:
        """The next `id_block` case ids and as many customer ids, and `events_each` times
        as many timeline ids the first time, with one statement."""
        self.use_ids(connection.execute(_NEXT_SERIAL_IDS, self.ids_wanted()).all())

    def ids_wanted(self) -> dict[str, int]:
        """The parameters of the statement that takes the ids (`NEXT_IDS`)."""
        events = 0 if self.event_ids else self.id_block * self.events_each
        return {"n": self.id_block, "events": events, "rows": max(self.id_block, events)}

    def use_ids(self, rows: Sequence[Any]) -> None:
        """Hand out the ids of `rows`, as the statement of `ids_wanted` answered."""
        self.case_ids = sorted(row[0] for row in rows if row[0] is not None)
        self.customer_ids = sorted(row[1] for row in rows if row[1] is not None)
        self.event_ids += sorted(row[2] for row in rows if row[2] is not None)

    def insert(self, db: Session | Connection) -> None:
        """Insert what was collected, in the order the decisions were made, and the
        changes to team members' loads; and forget them.

        With `ids` on PostgreSQL the timeline's ids are taken from its sequence first
        (with the case ids, `events_each`, or here), and every row then goes in one
        pipeline: one round trip for all, where an
        insert that answered with its ids (which SQLAlchemy reads at once, so outside a
        pipeline) cost one more, and was a statement of another text for every batch
        size, which the server could not prepare. SQLite's come back from its insert.
        """
        connection = connection_of(db)
        numbered = self.ids and connection.dialect.name != "sqlite"
        if self.events and numbered:
            # Those taken with the case ids first (the rest a gap, as a rollback leaves).
            taken, self.event_ids = (self.event_ids[:len(self.events)],
                                     self.event_ids[len(self.events):])
            wanting = len(self.events) - len(taken)
            if wanting:
                taken += sorted(connection.execute(_NEXT_SERIAL_EVENT_IDS,
                                                   {"n": wanting}).scalars())
            for row, new_id in zip(self.events, taken, strict=True):
                row["id"] = new_id
        if numbered:  # every row at once (see `engine.pg_bulk.TablesAtOnce`)
            TABLES_AT_ONCE.run(connection, [
                (CUSTOMERS, self.customers), (IDENTITIES, self.identities),
                (CASES, self.cases), (CLOCKS, self.clocks),
                (EVENTS, self.events), (OUTBOX, self.messages),
                (TIMERS, [timer.columns() for timer in self.timers])],
                self.loads.take_changes())
            self.customers, self.identities, self.cases = [], [], []
            self.clocks, self.events, self.messages, self.timers = [], [], [], []
            return
        # On PostgreSQL nothing in the pipeline reads an answer; SQLite, whose timeline
        # insert does, has no pipeline.
        with pipelined(connection):
            self._insert_new(connection)
            if self.events and self.ids and not numbered:
                new_ids = connection.execute(_INSERT_RETURNING_ID, self.events)
                for row, new_id in zip(self.events, new_ids.scalars(), strict=True):
                    row["id"] = new_id
            self.loads.write(connection)
            if self.clocks:
                connection.execute(_INSERT[CLOCKS.name], self.clocks)
            if self.events and (numbered or not self.ids):
                connection.execute(_INSERT[EVENTS.name], self.events)
            if self.messages:
                connection.execute(_INSERT[OUTBOX.name], self.messages)
            if self.timers:
                connection.execute(_INSERT[TIMERS.name],
                                   [timer.columns() for timer in self.timers])
        self.clocks, self.events, self.messages, self.timers = [], [], [], []

    def insert_cases(self, db: Session | Connection) -> None:
        """Insert the new customer and case rows collected so far, for what must see them
        before the rest (a watcher of cases opened, a lookup of an idempotency key); and
        forget them. In one round trip on PostgreSQL."""
        connection = connection_of(db)
        with pipelined(connection):
            self._insert_new(connection)

    def _insert_new(self, connection: Connection) -> None:
        self.insert_customers(connection)
        if self.cases:
            connection.execute(_INSERT[CASES.name], self.cases)
            self.cases = []

    def insert_customers(self, db: Session | Connection) -> None:
        """Insert the new customer rows collected so far, and the identities, for what
        must see them before the rest (a change to one); and forget them."""
        if self.customers:
            connection_of(db).execute(_INSERT[CUSTOMERS.name], self.customers)
            self.customers = []
        if self.identities:
            connection_of(db).execute(_INSERT[IDENTITIES.name], self.identities)
            self.identities = []

    def pending_key(self, stored_key: str) -> bool:
        """Whether a case collected and not inserted yet has this idempotency key."""
        return any(case.get("idempotency_key") == stored_key for case in self.cases)


@dataclass
class NewTimer:
    """A timer not inserted yet: its row's columns, which later decisions may still set."""

    key: str
    case_id: int
    process: str
    kind: str
    name: str
    step: int | None
    status: str = "pending"
    fire_at: datetime | None = None

    @classmethod
    def wanted(cls, spec: TimerSpec, case_id: int, process: str) -> NewTimer:
        """The timer `spec` asks for, pending until its time (paused without one)."""
        return cls(key=spec.key, case_id=case_id, process=process, kind=spec.kind,
                   name=spec.name, step=spec.step,
                   status="pending" if spec.fire_at is not None else "paused",
                   fire_at=spec.fire_at)

    def columns(self) -> dict[str, Any]:
        """Its row's columns: the fields as they are (`asdict` copies each value deeply,
        which cost 10% of an intake)."""
        return dict(vars(self))


def _write_clocks(
    session: Session,
    case_id: int,
    process: str,
    rows: list[SlaClock],
    after: CaseSnapshot,
    ladder: list[EscalationStep],
    calendars: Mapping[str, BusinessCalendar],
) -> None:
    by_name = {row.name: row for row in rows}
    warn_fraction = ladder[0].at_percent / 100
    for name, clock in after.clocks.items():
        row = by_name.get(name) or SlaClock(
            case_id=case_id, process=process, name=name, calendar=clock.calendar,
            target_seconds=0, state="", started_at=clock.started_at)
        values = clock_columns(clock, calendars[clock.calendar], warn_fraction)
        # Only what changed: setting a mapped attribute is costly, and an escalation
        # storm rewrites thousands of clocks of which most fields stay as they were.
        for column, value in values.items():
            if getattr(row, column) != value:
                setattr(row, column, value)
        session.add(row)


def sync_timers(session: Session, case_id: int, process: str, wanted: list[TimerSpec], *,
                new_case: bool = False, loaded: list[Timer | NewTimer] | None = None,
                appends: Appends | None = None) -> None:
    """Make the case's live timers match `wanted`: add, move, pause, revive or cancel.

    `loaded` is every timer of the case when the caller has them (new ones are appended
    to it); otherwise they are read here. With `appends`, new timers are left to it.
    """
    if new_case:
        existing: dict[str, Timer | NewTimer] = {}
    elif loaded is not None:
        existing = {t.key: t for t in loaded}
    else:
        existing = {t.key: t for t in session.exec(select(Timer).where(Timer.case_id == case_id))}
    wanted_keys = {spec.key for spec in wanted}
    for key, old in existing.items():
        if key not in wanted_keys and old.status in LIVE_TIMER_STATES:
            old.status = "cancelled"
            _keep(session, old)
    for spec in wanted:
        timer = existing.get(spec.key)
        if timer is None:
            if appends is not None:
                timer = NewTimer.wanted(spec, case_id, process)
                appends.timers.append(timer)
            else:
                timer = Timer(**NewTimer.wanted(spec, case_id, process).columns())
            if loaded is not None:
                loaded.append(timer)
        elif timer.status not in (*LIVE_TIMER_STATES, "cancelled"):
            continue  # claimed or fired: never scheduled twice
        timer.fire_at = spec.fire_at
        timer.status = "pending" if spec.fire_at is not None else "paused"
        _keep(session, timer)


def _keep(session: Session, timer: Timer | NewTimer) -> None:
    """Have the session write a stored timer's change (a new one is `Appends`')."""
    if isinstance(timer, Timer):
        session.add(timer)


def _adjust_load(db: Session | Connection, before: CaseSnapshot, after: CaseSnapshot,
                 final_stages: frozenset[str], loads: MemberLoads | None = None) -> None:
    """Keep team members' open-case counts in step with assignment, transfer and closure,
    in `loads` when given (written with the rest of a batch), else at once."""
    ledger = loads if loads is not None else MemberLoads()
    closing = after.stage in final_stages
    moved = (after.assignee, after.team) != (before.assignee, before.team)
    was_open = before.stage not in final_stages and before.assignee
    if was_open and (closing or moved) and before.assignee:
        ledger.change(before.team, before.assignee, by=-1)
    if not closing and after.assignee and moved:
        ledger.change(after.team, after.assignee, by=+1)
    if loads is None:
        ledger.write(db)


# For the writers outside this module that collect a batch's changes (a chunk of rungs).
adjust_load = _adjust_load
