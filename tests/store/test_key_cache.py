"""The keys a process checked lately (`KeyCache`): kept until a revocation anywhere, or
until they are `CACHED_FOR` old, and never kept off a SQLite file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from core.keys import (
    CACHED_FOR,
    Unauthenticated,
    check_key,
    hash_key,
    read_key,
    revoke_key,
)
from engine.models import ApiKey
from tests.conftest import build_runtime
from tests.support import issue_key, write_policies


def _drop_behind_the_cache(rt, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Delete the key's row without revoking it: only a cache still knows it."""
    with Session(rt.engine) as session:
        session.exec(delete(ApiKey).where(ApiKey.secret_hash == hash_key(secret)))  # type: ignore[call-overload]
        session.commit()


def test_a_key_checked_before_is_not_read_again_until_it_is_old(sqlite_database, clock,
                                                                 tmp_path):
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    secret = issue_key(rt, "agent", name="desk")
    assert check_key(rt.engine, secret, clock.now(), rt.keys)[0].name == "desk"

    _drop_behind_the_cache(rt, secret)
    assert check_key(rt.engine, secret, clock.now(), rt.keys)[0].name == "desk"
    assert check_key(rt.engine, secret, clock.now() + CACHED_FOR - timedelta(seconds=1),
                     rt.keys)[0].name == "desk"
    with pytest.raises(Unauthenticated, match="unknown API key"):
        check_key(rt.engine, secret, clock.now() + CACHED_FOR, rt.keys)
    rt.engine.dispose()


def test_a_key_revoked_by_another_process_is_refused_at_its_next_request(
        sqlite_database, clock, tmp_path):
    policies = write_policies(tmp_path / "policies")
    here = build_runtime(sqlite_database, policies, clock)
    elsewhere = build_runtime(sqlite_database, policies, clock)  # its own engine and cache
    secret = issue_key(here, "agent")
    key_id = check_key(here.engine, secret, clock.now(), here.keys)[0].key_id
    assert check_key(elsewhere.engine, secret, clock.now(), elsewhere.keys)[0].key_id == key_id

    with Session(elsewhere.engine) as session:
        revoke_key(session, key_id or 0, by="root", now=clock.now())
    for rt in (here, elsewhere):
        with pytest.raises(Unauthenticated, match="revoked"):
            check_key(rt.engine, secret, clock.now(), rt.keys)
        rt.engine.dispose()


def test_a_key_read_just_before_its_revocation_is_not_served_after_it(
        sqlite_database, clock, tmp_path):
    """The record a check read before a revocation was stamped is not trusted after."""
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    secret = issue_key(rt, "agent")
    assert rt.keys.get(hash_key(secret), clock.now()) is None  # nothing cached yet
    seen = rt.keys.stamp()
    record = _record(rt, secret)  # read, not yet revoked
    with Session(rt.engine) as session:  # meanwhile, in another process
        revoke_key(session, record.id, by="root", now=clock.now())
    rt.keys.put(hash_key(secret), record, seen, clock.now())
    assert rt.keys.get(hash_key(secret), clock.now()) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        check_key(rt.engine, secret, clock.now(), rt.keys)
    rt.engine.dispose()


def _record(rt, secret: str):  # type: ignore[no-untyped-def]
    record = read_key(rt.engine, hash_key(secret))
    assert record is not None
    return record


def test_the_hourly_record_of_use_is_remembered_by_the_cache(sqlite_database, clock,
                                                             tmp_path):
    rt = build_runtime(sqlite_database, write_policies(tmp_path / "policies"), clock)
    secret = issue_key(rt, "agent")
    identity, touch_due = check_key(rt.engine, secret, clock.now(), rt.keys)
    assert touch_due
    rt.keys.touched(identity.key_id or 0, clock.now())
    assert check_key(rt.engine, secret, clock.now(), rt.keys)[1] is False
    rt.engine.dispose()


def test_nothing_is_cached_off_a_sqlite_file(database, clock, tmp_path):
    """PostgreSQL has no stamp beside it: every check reads the store."""
    rt = build_runtime(database, write_policies(tmp_path / "policies"), clock)
    secret = issue_key(rt, "agent")
    check_key(rt.engine, secret, clock.now(), rt.keys)
    _drop_behind_the_cache(rt, secret)
    if rt.engine.dialect.name == "sqlite":  # the cache still knows it
        assert check_key(rt.engine, secret, clock.now(), rt.keys)[0].key_id
    else:
        with pytest.raises(Unauthenticated, match="unknown API key"):
            check_key(rt.engine, secret, clock.now(), rt.keys)
    rt.engine.dispose()
