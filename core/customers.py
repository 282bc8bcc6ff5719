"""One customer across channels: recognise them by phone, e-mail or messaging id.

Seed 000 §3.3 asks for one customer record synced across channels. A caller's own id
(`ref`) is authoritative: a known ref is that customer, an unknown one a new customer.
Without a ref, the customer is whoever already owns one of the identities given (phone
first, then e-mail, then messaging ids), else a new record. Every identity given is
then remembered for that customer, unless it belongs to someone else already; two
customers are never merged, and a phone number or e-mail address another customer owns
is not copied onto the one recognised (their messages would reach the other). A value
that identifies nobody is kept as a contact but never used to recognise anyone: two
customers who typed "n/a" are not made one. That is a placeholder word ("n/a", "none",
"unknown"...) or one character repeated ("0000000", "xxx") as a messaging id or an
e-mail's local part, a phone number without enough digits or of one repeated digit, an
e-mail without an `@` and a dotted domain.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, sql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, select

from domain.policy import Tier
from domain.process import Decision
from engine.db import connection_of
from engine.models import Customer, CustomerIdentity, table_of
from engine.pg_pipeline import DriverQuery
from engine.store import IDENTITIES, Appends, new_customer_id

MESSAGING = ("wecom", "wechat", "app")
GIVEN = "contact_given"  # in a case's data: [kind, contact_key] its opening request gave
MIN_PHONE_DIGITS = 7  # fewer is a typo or a placeholder, not someone's number
# What people type when a form insists on a value they do not have (punctuation dropped).
PLACEHOLDER_WORDS = frozenset({"na", "none", "null", "nil", "no", "nothing", "unknown",
                               "undefined", "tbd", "test", "void", "empty", "missing"})
CUSTOMERS = table_of(Customer)
# Built once: building a statement costs more than running it (every intake runs these).
_BY_REF = sql.select(CUSTOMERS).where(CUSTOMERS.c.external_ref == sql.bindparam("ref"))
_BY_REFS = sql.select(CUSTOMERS).where(
    CUSTOMERS.c.external_ref.in_(sql.bindparam("refs", expanding=True)))
# The same, for a batch's reads sent together on PostgreSQL (`engine.pg_pipeline`). Not
# prepared: a plan for any array, made while the table was small (a new store's), scans
# the whole table, and would for as long as the connection lives.
BY_REFS = DriverQuery(sql.select(CUSTOMERS).where(
    CUSTOMERS.c.external_ref == any_(sql.bindparam("refs", type_=ARRAY(String())))),
    prepare=False)
_BY_ID = sql.select(CUSTOMERS).where(CUSTOMERS.c.id == sql.bindparam("customer_id"))
_CHANGE = (sql.update(CUSTOMERS).where(CUSTOMERS.c.id == sql.bindparam("customer_id"))
           .returning(*CUSTOMERS.c))
_NEW = sql.insert(CUSTOMERS).returning(*CUSTOMERS.c)
_OWNER = sql.select(IDENTITIES.c.customer_id).where(
    IDENTITIES.c.kind == sql.bindparam("kind"), IDENTITIES.c.value == sql.bindparam("value"))
# The owners of any identity with one of `values`, for a batch's reads sent together on
# PostgreSQL (`engine.pg_pipeline`); not prepared, as `BY_REFS`.
OWNERS = DriverQuery(sql.select(IDENTITIES.c.kind, IDENTITIES.c.value,
                                IDENTITIES.c.customer_id).where(
    IDENTITIES.c.value == any_(sql.bindparam("values", type_=ARRAY(String())))),
    prepare=False)
_REMEMBER = sql.insert(IDENTITIES)
# A new customer's row as its insert writes it, not read back (`KnownCustomers.add`): the
# model's defaults for what the claim leaves out, every column given.
_NEW_ROW = {name: info.default for name, info in Customer.model_fields.items()}
_row_type: Callable[[str, list[str]], Callable[..., Any]] = namedtuple
_CUSTOMER_ROW = _row_type("customers_row", [column.key for column in CUSTOMERS.c])


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
        return [(kind, found) for kind, value in self._values()
                if value and (found := normalise(kind, value)) is not None]

    def given(self) -> list[list[str]]:
        """Each contact the claim gives, as `contact_key` spells it: what a case opened
        with it keeps in its data under `GIVEN` (what its team may see of the customer)."""
        return [[kind, contact_key(kind, value)] for kind, value in self._values()
                if value and value.strip()]

    def _values(self) -> list[tuple[str, str | None]]:
        return [("phone", self.phone), ("email", self.email),
                *[(kind, self.messaging.get(kind)) for kind in MESSAGING]]


def contact_key(kind: str, value: str) -> str:
    """One spelling of a contact, to tell whether two are the same: `normalise`d, or
    trimmed when it identifies nobody (a placeholder is still what was given)."""
    return normalise(kind, value) or value.strip()


def given_in(decision: Decision, claim: CustomerClaim) -> Decision:
    """A case's opening `decision`, with the identities `claim` gave kept in the case's
    data (not on its timeline): the contact details its team may see."""
    after = decision.after
    return replace(decision, after=replace(after, data={**after.data, GIVEN: claim.given()}))


def normalise(kind: str, value: str) -> str | None:
    """One spelling per identity: digits of a phone (China's +86 dropped), lower-case
    e-mail, trimmed messaging ids; None for a value that cannot identify anyone."""
    value = value.strip()
    if kind == "phone":
        digits = re.sub(r"[^\d+]", "", value)
        for prefix in ("+86", "0086"):
            if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
                digits = digits[len(prefix):]
        number = re.sub(r"\D", "", digits)
        usable = (len(number) >= MIN_PHONE_DIGITS and len(set(number)) > 1
                  and "+" not in digits[1:])
        return digits if usable else None
    if kind == "email":
        local, at, domain = value.lower().partition("@")
        usable = bool(at) and "." in domain.strip(".") and not is_placeholder(local)
        return f"{local}@{domain}" if usable else None
    return None if is_placeholder(value) else value


def is_placeholder(value: str) -> bool:
    """Whether `value` stands for no one: a placeholder word, or one character repeated
    (nothing but punctuation included)."""
    letters = re.sub(r"[\W_]", "", value.lower())
    return letters in PLACEHOLDER_WORDS or len(set(letters)) <= 1


class KnownCustomers:
    """The customers that a batch of complaints names by ref, read with one statement,
    and kept as the batch writes them: a lookup for each complaint cost a statement each,
    on PostgreSQL a round trip each. Read in the batch's transaction, like the lookups
    it replaces: a customer that a concurrent transaction makes meanwhile makes the
    batch fail on the unique ref, and its complaints are then written alone.

    With the batch's `appends`, on PostgreSQL, the new customers' rows wait there to be
    inserted with one statement, before the cases that point at them (`add`): an insert
    each, which had to answer with the new id, was a round trip each."""

    def __init__(self, db: Session | Connection, refs: list[str | None],
                 appends: Appends | None = None, *, found: list[Any] | None = None,
                 owners: Mapping[tuple[str, str], int | None] | None = None) -> None:
        """The customers of `refs`: those `found` already (`BY_REFS`' rows), else read.
        `owners`: identities already looked up (see `owners_of`), each with its owner or
        None."""
        self._refs = self.wanted(refs)
        self._rows: dict[str, Any] = {}
        self._appends = appends
        if self._refs and found is None:
            found = list(connection_of(db).execute(_BY_REFS, {"refs": sorted(self._refs)}))
        self._rows = {row.external_ref: row for row in found or []}
        self._owners: dict[tuple[str, str], int | None] = dict(owners or {})
        self._written: dict[int, Any] = {}

    @staticmethod
    def wanted(refs: list[str | None]) -> set[str]:
        """The refs to read of those given (an empty one names nobody)."""
        return {ref for ref in refs if ref}

    @staticmethod
    def owners_of(identities: set[tuple[str, str]], rows: list[Any]
                  ) -> dict[tuple[str, str], int | None]:
        """Each of `identities` with its owner among `OWNERS`' `rows`, or None."""
        found = {(row.kind, row.value): row.customer_id for row in rows}
        return {identity: found.get(identity) for identity in identities}

    def owner(self, db: Session | Connection, kind: str, value: str) -> int | None:
        """The customer who owns this identity, as the batch has it so far."""
        if (kind, value) not in self._owners:
            self._owners[(kind, value)] = _owner(db, kind, value)
        return self._owners[(kind, value)]

    def remember_identities(self, rows: list[dict[str, Any]]) -> bool:
        """New identities of the batch's customers, left to its appends to insert (with
        its other rows, after its customers), and owned from now on for the batch's
        lookups; False, with nothing done, where it has no appends."""
        if self._appends is None:
            return False
        self._appends.identities += rows
        for row in rows:
            self._owners[(row["kind"], row["value"])] = row["customer_id"]
        return True

    def covers(self, ref: str) -> bool:
        """Whether `ref` was among those read, so that `get` knows its customer."""
        return ref in self._refs

    def get(self, ref: str) -> Any | None:
        """The customer `ref` names, as the batch has it so far; None for a new one."""
        return self._rows.get(ref)

    def remember(self, row: Any) -> None:
        """The batch wrote this customer's row (new or changed)."""
        if row.external_ref in self._refs:
            self._rows[row.external_ref] = row
        self._written[row.id] = row

    def written(self, customer_id: int) -> Any | None:
        """The row of this customer as the batch wrote it, if it did: perhaps not
        inserted yet (`add`)."""
        return self._written.get(customer_id)

    def add(self, db: Session | Connection, values: Mapping[str, Any]) -> Any | None:
        """A new customer's row, left to the batch's appends to insert, with an id taken
        for it; None where it cannot wait (no appends, or SQLite, whose ids come from
        the insert): the caller inserts it."""
        if self._appends is None:
            return None
        customer_id = new_customer_id(db, self._appends)
        if customer_id is None:
            return None
        row = {**_NEW_ROW, **values, "id": customer_id}
        self._appends.customers.append(row)
        return _CUSTOMER_ROW(**row)

    def insert_waiting(self, db: Session | Connection) -> None:
        """Insert the new customers waiting in the batch's appends, before a statement
        that points at one of them or changes it."""
        if self._appends is not None:
            self._appends.insert_customers(db)


def recognise(session: Session, claim: CustomerClaim, *, channel: str | None,
              now: datetime) -> Customer:
    """The customer the claim stands for, as a model in `session` (see `recognise_row`)."""
    row = recognise_row(session, claim, channel=channel, now=now)
    customer = session.get(Customer, row.id, populate_existing=True)
    assert customer is not None
    return customer


def recognise_row(db: Session | Connection, claim: CustomerClaim, *, channel: str | None,
                  now: datetime, care: Mapping[str, Any] | None = None,
                  known: KnownCustomers | None = None) -> Any:
    """The customer the claim stands for, created if new, with its identities remembered,
    and `care` (consent and preference columns) set: its row as stored. `known`, when
    given (a batch's), answers the lookup by ref, and learns what is written.

    Written with plain statements, no model objects: every complaint intake runs this.
    Two callers racing to create the same new customer make one of them fail on a
    unique key; the caller retries and then recognises the winner.
    """
    db = connection_of(db)
    owners = {identity: known.owner(db, *identity) if known is not None else _owner(db, *identity)
              for identity in claim.identities()}
    customer = None
    if claim.ref and known is not None and known.covers(claim.ref):
        customer = known.get(claim.ref)
    elif claim.ref:
        customer = db.execute(_BY_REF, {"ref": claim.ref}).first()
    else:
        owner = next((found for found in owners.values() if found is not None), None)
        if owner is not None:
            customer = known.written(owner) if known is not None else None
            if customer is None:
                customer = db.execute(_BY_ID, {"customer_id": owner}).first()
    customer_id = customer.id if customer is not None else None
    values: dict[str, Any] = dict(care or {})
    if claim.tier is not None:
        values["tier"] = claim.tier.value
    if claim.name is not None:
        values["name"] = claim.name
    for kind in ("phone", "email"):
        value = getattr(claim, kind)
        normal = normalise(kind, value) if value is not None else None
        owner = owners.get((kind, normal)) if normal is not None else None
        # Recognised by another identity, a contact someone else owns is not theirs to
        # take: messages to this customer must not reach that one (a ref is the caller's
        # word that it is theirs).
        if value is not None and (claim.ref or owner in (None, customer_id)):
            values[kind] = value
    if customer is None:
        # An empty ref is no ref, as for the lookup above: stored as '', it would be the
        # one customer every later empty ref collides with on the unique column.
        new = {"external_ref": claim.ref or None, "created_at": now, **values}
        customer = known.add(db, new) if known is not None else None
        if customer is None:
            customer = db.execute(_NEW, new).one()
    else:
        changed = {name: value for name, value in values.items()
                   if getattr(customer, name) != value}
        if changed:
            if known is not None:  # it may be one the batch has not inserted yet
                known.insert_waiting(db)
            customer = db.execute(_CHANGE, {"customer_id": customer.id, **changed}).one()
    if known is not None:
        known.remember(customer)
    unowned = [{"customer_id": customer.id, "kind": kind, "value": value, "channel": channel,
                "first_seen_at": now} for (kind, value), owner in owners.items() if owner is None]
    if unowned and (known is None or not known.remember_identities(unowned)):
        db.execute(_REMEMBER, unowned)
    return customer


def find_by_identity(session: Session, claim: CustomerClaim) -> Customer | None:
    """The customer who owns one of the claim's identities (phone first), if any."""
    for kind, value in claim.identities():
        owner = _owner(session, kind, value)
        if owner is not None:
            return session.get(Customer, owner)
    return None


def _owner(db: Session | Connection, kind: str, value: str) -> int | None:
    return connection_of(db).execute(_OWNER, {"kind": kind, "value": value}).scalar()


def identities_of(session: Session, customer_id: int) -> list[CustomerIdentity]:
    """Every identity a customer is recognised by, oldest first."""
    return list(session.exec(select(CustomerIdentity)
                             .where(CustomerIdentity.customer_id == customer_id)
                             .order_by(col(CustomerIdentity.id))))
