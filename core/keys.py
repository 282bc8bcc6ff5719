"""API keys: create (shown once), list, revoke, and authenticate a presented key.

A key is `cf_` and 43 random URL-safe characters. Only its SHA-256 is stored: a key
has 256 bits of entropy, so a fast hash is enough and lets the lookup use an index.
A revocation takes effect on the next request: every request looks its key up, in the
store or, on a SQLite file, in the `KeyCache` of keys its process checked lately, which
a revocation anywhere empties. Elsewhere (PostgreSQL) a request that writes in a
transaction of its own may take its key from the cache and have that transaction check
that the key is still valid (`valid_key_ids`), before it writes anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Connection, Engine, Integer, any_, sql, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, func, select

from domain.access import AccessRole, ActorKind, Identity, role_problem
from domain.policy import PolicySet
from domain.process import SYSTEM_ACTOR
from engine.db import sqlite_file
from engine.id_lists import among
from engine.models import ApiKey, table_of
from engine.pg_pipeline import DriverQuery

KEY_PREFIX = "cf_"
SHOWN_PREFIX = 11  # "cf_" and 8 characters: enough to tell keys apart, useless to guess
FIRST_ADMIN = "admin"
# Recording every use would turn each request into a write; once an hour says enough.
LAST_USED_RESOLUTION = timedelta(hours=1)
# A cached key is read again after this long: a process that died between committing a
# revocation and stamping it (see `KeyCache`) leaves the others trusting it no longer.
CACHED_FOR = timedelta(seconds=30)
STAMP_BYTES = 32  # a stamp is a uuid4's hex
REVOKED = "this API key was revoked"
_KEYS = table_of(ApiKey)
# Those of the keys `ids` that exist and are not revoked, as `valid_key_ids` finds them,
# for a batch's reads sent together on PostgreSQL (`engine.pg_pipeline`).
VALID_KEYS = DriverQuery(sql.select(_KEYS.c.id).where(
    _KEYS.c.id == any_(sql.bindparam("ids", type_=ARRAY(Integer()))),
    _KEYS.c.revoked_at.is_(None)))

log = logging.getLogger("caseflow.keys")


class KeyProblem(ValueError):
    """A key that cannot be created as asked; `field` names what is wrong."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field, self.reason = field_name, reason


class KeyNotFound(LookupError):
    def __init__(self, key_id: int) -> None:
        super().__init__(f"API key {key_id} not found")


class Unauthenticated(Exception):
    """Credentials that identify nobody: unknown, malformed, expired or revoked."""


class KeyRecord(NamedTuple):
    """What checking a key reads of its row."""

    id: int
    name: str
    kind: str
    role: str
    teams: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


# Built once: building a statement costs more than running it (every request runs this).
_BY_HASH = (sql.select(*(_KEYS.c[name] for name in KeyRecord._fields))
            .where(_KEYS.c.secret_hash == sql.bindparam("secret_hash")))


@dataclass(frozen=True)
class NewKey:
    record: ApiKey
    secret: str  # the only time the key itself exists outside its owner's hands


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    name: str,
    role: AccessRole,
    teams: list[str],
    kind: ActorKind,
    expires_at: datetime | None,
    created_by: str,
    policies: PolicySet,
    now: datetime,
) -> NewKey:
    """Create a key for a person or an integration and return it, once, with its record."""
    name = name.strip()
    if not name or any(not ch.isprintable() for ch in name):
        raise KeyProblem("name", "a non-empty name without control characters is required")
    if name == SYSTEM_ACTOR:
        raise KeyProblem("name", f"{SYSTEM_ACTOR!r} is reserved for the service")
    if kind is ActorKind.system:
        raise KeyProblem("kind", "must be person or integration")
    unknown = sorted(set(teams) - set(policies.teams))
    if unknown:
        raise KeyProblem("teams", f"unknown team(s) {unknown}; known: {sorted(policies.teams)}")
    problem = role_problem(role, frozenset(teams))
    if problem:
        raise KeyProblem("teams", problem)
    if expires_at is not None and expires_at <= now:
        raise KeyProblem("expires_at", "must lie in the future")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(name=name, kind=kind.value, role=role.value, teams=sorted(set(teams)),
                    prefix=secret[:SHOWN_PREFIX], secret_hash=hash_key(secret),
                    created_at=now, created_by=created_by, expires_at=expires_at)
    session.add(record)
    session.commit()
    return NewKey(record=record, secret=secret)


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    """Every key, oldest first; revoked ones only when asked."""
    query = select(ApiKey).order_by(col(ApiKey.id))
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return list(session.exec(query))


def revoke_key(session: Session, key_id: int, *, by: str, now: datetime) -> ApiKey:
    """Revoke a key from the next request on; revoking it again changes nothing."""
    record = session.get(ApiKey, key_id)
    if record is None:
        raise KeyNotFound(key_id)
    if record.revoked_at is None:
        record.revoked_at, record.revoked_by = now, by
        session.add(record)
        session.commit()
        KeyStamp.for_engine(session.get_bind().engine).bump()  # every process's cache lets go
        log.info("API key %s (%s, %s) revoked by %s", record.id, record.name, record.role, by)
    return record


def authenticate_key(engine: Engine, secret: str, now: datetime) -> Identity:
    """The identity behind a presented key; `Unauthenticated` says why there is none."""
    identity, touch_due = check_key(engine, secret, now)
    if touch_due:
        touch_key(engine, identity.key_id or 0, now)
    return identity


def check_key(engine: Engine, secret: str, now: datetime, cache: KeyCache | None = None
              ) -> tuple[Identity, bool]:
    """The identity behind a presented key, and whether its last use is due to be
    recorded (`touch_key`); reads only, from `cache` when it holds the key.
    `Unauthenticated` says why there is none."""
    secret_hash = hash_key(secret)
    record = cache.get(secret_hash, now) if cache is not None else None
    if record is None:
        # Stamp first: a revocation stamped after this read empties the cache again.
        seen = cache.stamp() if cache is not None else None
        record = read_key(engine, secret_hash)
        if record is not None and cache is not None:
            cache.put(secret_hash, record, seen, now)
    if record is None:
        raise Unauthenticated("unknown API key")
    return check_record(record, now)


def check_record(record: KeyRecord, now: datetime) -> tuple[Identity, bool]:
    """The identity of a key's record, and whether its last use is due to be recorded;
    `Unauthenticated` if it is revoked or expired."""
    if record.revoked_at is not None:
        raise Unauthenticated(REVOKED)
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthenticated("this API key has expired")
    touch_due = record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION
    return identity_of(record), touch_due


def valid_key_ids(connection: Connection, key_ids: set[int]) -> set[int]:
    """Those of `key_ids` whose keys exist and are not revoked, as the transaction of
    `connection` sees them: for a request whose key came from a `KeyCache` that no
    stamp keeps (see there), checked in the transaction that writes for it."""
    if not key_ids:
        return set()
    found = connection.execute(sql.select(_KEYS.c.id).where(
        among(connection.engine, _KEYS.c.id, sorted(key_ids)), _KEYS.c.revoked_at.is_(None)))
    return set(found.scalars())


def read_key(engine: Engine, secret_hash: str) -> KeyRecord | None:
    """The record of the key with this hash, as stored now."""
    # No session, and no transaction: every request runs this, and on PostgreSQL the end
    # of a transaction (the ROLLBACK as the connection went back to the pool) was a
    # round trip of its own.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(_BY_HASH, {"secret_hash": secret_hash}).first()
    return KeyRecord(*row) if row is not None else None


class KeyStamp:
    """A file beside a SQLite database that changes whenever a key is revoked, so that
    every process using the file can tell. Other stores have none (`for_engine`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def for_engine(cls, engine: Engine) -> KeyStamp:
        database = sqlite_file(engine)
        return cls(Path(f"{database}.keys-revoked") if database else None)

    def read(self) -> bytes | None:
        """The stamp as it is now: empty before the first revocation; None with no file."""
        if self.path is None:
            return None
        # Every request reads it: the descriptor calls cost 2.6 µs, Path.read_bytes 6.3.
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            return os.read(descriptor, STAMP_BYTES)
        finally:
            os.close(descriptor)

    def bump(self) -> None:
        if self.path is None:
            return
        draft = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}")
        draft.write_bytes(uuid.uuid4().hex.encode())
        os.replace(draft, self.path)  # a reader sees the old stamp or the new, whole


class KeyCache:
    """The keys this process found lately, so that a request need not read its key.

    On SQLite every request read its key on the event loop: 0.15 ms of CPU, a sixth of
    what a complaint's HTTP handling cost. A cached key is trusted while the database's
    `KeyStamp` is what it was when the key was read, and for `CACHED_FOR` at most; a
    revocation, in any process, bumps the stamp after its commit. Its hourly record of
    a key's last use is remembered here too (`touched`).

    Without a stamp (PostgreSQL, in-memory SQLite), a cached key is answered only to a
    caller that checks its revocation itself, in the transaction that writes for the
    request (`valid_key_ids`): on PostgreSQL a key's read was a trip to a pool thread
    and two round trips, for each complaint opened. `stamped` says which.
    """

    def __init__(self, engine: Engine) -> None:
        self._stamp = KeyStamp.for_engine(engine)
        self._entries: dict[str, tuple[KeyRecord, datetime]] = {}
        self._seen: bytes | None = None  # the stamp the entries were read under
        self._lock = threading.Lock()

    def stamp(self) -> bytes | None:
        return self._stamp.read()

    @property
    def stamped(self) -> bool:
        """Whether a stamp tells this cache of revocations (a SQLite file)."""
        return self._stamp.path is not None

    def get(self, secret_hash: str, now: datetime, *, revocation_checked_later: bool = False
            ) -> KeyRecord | None:
        """The key's record as read before, unless a key was revoked since or it is old.
        Without a stamp, only to a caller whose transaction checks the key's revocation
        (`revocation_checked_later`)."""
        if self._stamp.path is None:
            if not revocation_checked_later:
                return None
            with self._lock:
                cached = self._entries.get(secret_hash)
        else:
            current = self._stamp.read()
            with self._lock:
                if current != self._seen:
                    self._entries.clear()
                    self._seen = current
                    return None
                cached = self._entries.get(secret_hash)
        if cached is None or now - cached[1] >= CACHED_FOR or now < cached[1]:
            return None
        return cached[0]

    def put(self, secret_hash: str, record: KeyRecord, seen: bytes | None, now: datetime
            ) -> None:
        """Keep a record read under stamp `seen` (read before the record)."""
        with self._lock:
            if seen == self._seen:
                self._entries[secret_hash] = (record, now)

    def touched(self, key_id: int, at: datetime) -> None:
        """Key `key_id`'s last use was recorded `at`."""
        with self._lock:
            for secret_hash, (record, read_at) in list(self._entries.items()):
                if record.id == key_id:
                    self._entries[secret_hash] = (record._replace(last_used_at=at), read_at)


def touch_key(engine: Engine, key_id: int, now: datetime) -> None:
    """Record that key `key_id` was used now (to the hour: one write per key per hour)."""
    with engine.begin() as connection:
        connection.execute(update(ApiKey).where(col(ApiKey.id) == key_id)
                           .values(last_used_at=now))


def identity_of(record: ApiKey | KeyRecord) -> Identity:
    return Identity(name=record.name, kind=ActorKind(record.kind), role=AccessRole(record.role),
                    teams=frozenset(record.teams), key_id=record.id)


def ensure_first_admin_key(engine: Engine, *, data_dir: Path, policies: PolicySet,
                           now: datetime) -> Path | None:
    """On a store with no keys at all, create an admin key and save it to a private file.

    Returns the file's path when a key was created, so start-up can say where it is.
    """
    with Session(engine, expire_on_commit=False) as session:
        if session.exec(select(func.count()).select_from(ApiKey)).one():
            return None
        new = create_key(session, name=FIRST_ADMIN, role=AccessRole.admin, teams=[],
                         kind=ActorKind.person, expires_at=None, created_by=SYSTEM_ACTOR,
                         policies=policies, now=now)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "admin-key.txt"
    # Created readable by its owner only; the key never goes to the log.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(new.secret + "\n")
    os.chmod(path, 0o600)
    return path
