"""/livez and /readyz on the real app: ready only with the store reachable and at head."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from engine.db import make_engine, migration_scripts

NO_KEY = {"Authorization": ""}  # probes carry no key


def test_live_and_ready_without_a_key(client):
    live = client.get("/livez", headers=NO_KEY)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = client.get("/readyz", headers=NO_KEY)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "failed": [],
                            "checks": {"store": "ok", "migrations": "ok"}}


def test_not_ready_while_the_store_is_behind_a_migration(client, runtime):
    with Session(runtime.engine) as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0012'"))
        session.commit()
    ready = client.get("/readyz", headers=NO_KEY)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready" and body["failed"] == ["migrations"]
    assert body["checks"]["store"] == "ok"
    said, head = body["checks"]["migrations"], migration_scripts().get_current_head()
    assert "0012" in said and f"needs {head}" in said
    assert client.get("/livez", headers=NO_KEY).status_code == 200


def test_not_ready_while_the_store_is_unreachable_yet_alive(client, runtime):
    working = runtime.engine
    # Nothing listens on port 1: every connection is refused at once.
    runtime.engine = make_engine("postgresql+psycopg://caseflow@127.0.0.1:1/none")
    try:
        ready = client.get("/readyz", headers=NO_KEY)
        assert ready.status_code == 503
        body = ready.json()
        assert body["failed"] == ["store", "migrations"]
        assert body["checks"]["store"].startswith("unreachable")
        # Alive all the same: /livez reads nothing from the store.
        assert client.get("/livez", headers=NO_KEY).status_code == 200
        # And /metrics still answers, saying the store did not.
        metrics = client.get("/metrics", headers=NO_KEY)
        assert metrics.status_code == 200 and "caseflow_store_up 0.0" in metrics.text
    finally:
        runtime.engine.dispose()
        runtime.engine = working
