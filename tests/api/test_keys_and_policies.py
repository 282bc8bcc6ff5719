"""The admin's side: API keys from creation to revocation, and policy reloads."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import yaml
from sqlmodel import Session, select

from engine.models import ApiKey
from tests.api.helpers import complaint, error_locs
from tests.support import bearer, issue_key


@pytest.fixture
def admin(runtime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(issue_key(runtime, "admin"))


def test_a_key_is_shown_once_stored_as_a_hash_and_works_at_once(client, runtime, admin):
    created = client.post("/admin/keys", headers=admin, json={
        "name": "li.wei", "role": "agent", "teams": ["complaints"]})
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("cf_") and body["prefix"] == key[:11]
    assert (body["created_by"], body["revoked_at"], body["expires_at"]) == ("root", None, None)
    me = client.get("/me", headers=bearer(key)).json()
    assert me == {"name": "li.wei", "kind": "person", "role": "agent", "teams": ["complaints"],
                  "key_id": body["id"]}
    listed = client.get("/admin/keys", headers=admin).json()
    assert key not in str(listed) and "secret_hash" not in str(listed)
    with Session(runtime.engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.id == body["id"])).one()
    assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(row.model_dump())
    assert row.last_used_at == runtime.clock.now()  # the /me call above


def test_revocation_takes_effect_on_the_next_request(client, admin):
    key = client.post("/admin/keys", headers=admin, json={
        "name": "hotline", "kind": "integration", "role": "agent",
        "teams": ["complaints"]}).json()
    assert client.post("/cases", json=complaint(), headers=bearer(key["key"])).status_code == 201
    revoked = client.post(f"/admin/keys/{key['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "root"
    refused = client.post("/cases", json=complaint(), headers=bearer(key["key"]))
    assert (refused.status_code, refused.json()["detail"]) == (401, "this API key was revoked")
    again = client.post(f"/admin/keys/{key['id']}/revoke", headers=admin).json()
    assert again["revoked_at"] == revoked.json()["revoked_at"]  # revoking twice changes nothing
    assert key["id"] not in [k["id"] for k in client.get("/admin/keys", headers=admin).json()]
    everything = client.get("/admin/keys", headers=admin, params={"include_revoked": True})
    assert key["id"] in [k["id"] for k in everything.json()]
    assert client.post("/admin/keys/9999/revoke", headers=admin).status_code == 404


def test_a_key_stops_working_when_it_expires(client, admin, clock):
    expires = clock.now() + timedelta(hours=1)
    key = client.post("/admin/keys", headers=admin, json={
        "name": "temp", "role": "manager", "expires_at": expires.isoformat()}).json()["key"]
    assert client.get("/cases", headers=bearer(key)).status_code == 200
    clock.advance(timedelta(minutes=59))
    assert client.get("/cases", headers=bearer(key)).status_code == 200
    clock.advance(timedelta(minutes=1))
    refused = client.get("/cases", headers=bearer(key))
    assert (refused.status_code, refused.json()["detail"]) == (401, "this API key has expired")


@pytest.mark.parametrize(("body", "loc", "reason"), [
    ({"name": "x", "role": "agent", "teams": ["nowhere"]}, ["body", "teams"], "unknown team"),
    ({"name": "x", "role": "agent"}, ["body", "teams"], "needs at least one team"),
    ({"name": "x", "role": "director", "teams": ["billing"]}, ["body", "teams"],
     "agents and supervisors only"),
    ({"name": "system", "role": "manager"}, ["body", "name"], "reserved"),
    ({"name": " \t", "role": "manager"}, ["body", "name"], "non-empty"),
    ({"name": "x", "role": "manager", "expires_at": "2020-01-01T00:00:00Z"},
     ["body", "expires_at"], "future"),
    ({"name": "x", "role": "manager", "expires_at": "2030-01-01T00:00:00"},
     ["body", "expires_at"], "timezone"),
    ({"name": "x", "role": "customer"}, ["body", "role"], ""),
    ({"name": "x", "role": "agent", "kind": "system", "teams": ["billing"]},
     ["body", "kind"], ""),
    ({"name": "x" * 121, "role": "manager"}, ["body", "name"], ""),
    ({"name": "x", "role": "manager", "key": "cf_chosen"}, ["body", "key"], ""),
])
def test_a_key_that_cannot_be_created_is_422_naming_the_field(client, admin, body, loc, reason):
    response = client.post("/admin/keys", headers=admin, json=body)
    assert response.status_code == 422
    assert loc in error_locs(response)
    assert reason in str(response.json())


def test_an_idempotency_key_belongs_to_its_caller(client, runtime):
    first, second = (bearer(issue_key(runtime, "agent", name=n)) for n in ("li.wei", "chen.jing"))
    headers = {"Idempotency-Key": "ticket-7"}
    a1 = client.post("/cases", json=complaint(), headers={**first, **headers})
    a2 = client.post("/cases", json=complaint(), headers={**first, **headers})
    b1 = client.post("/cases", json=complaint(), headers={**second, **headers})
    assert (a1.status_code, a2.status_code, b1.status_code) == (201, 200, 201)
    assert a1.json()["id"] == a2.json()["id"] != b1.json()["id"]


def test_contact_details_are_shown_as_the_privacy_policy_allows_each_role(client, runtime):
    customer = {"ref": "c-1", "name": "Lin", "phone": "13812345678", "email": "lin@example.com"}
    case_id = client.post("/cases", json=complaint(customer=customer)).json()["id"]
    seen = {}
    for role in ("agent", "supervisor", "manager", "director"):
        answer = client.get(f"/cases/{case_id}", headers=bearer(issue_key(runtime, role)))
        seen[role] = (answer.json()["customer"]["phone"], answer.json()["customer"]["email"])
    full, masked = ("13812345678", "lin@example.com"), ("138****5678", "l***@example.com")
    assert seen == {"agent": full, "supervisor": full, "manager": masked, "director": masked}


def test_a_policy_reload_applies_good_files_and_refuses_bad_ones(client, runtime, admin):
    directory = runtime.settings.policies
    unchanged = client.post("/admin/policies/reload", headers=admin).json()
    assert unchanged["changed"] is False
    teams_file = directory / "teams.yaml"
    teams = yaml.safe_load(teams_file.read_text())
    teams["teams"]["billing"]["members"].append("he.ping")
    teams_file.write_text(yaml.safe_dump(teams))
    reloaded = client.post("/admin/policies/reload", headers=admin).json()
    assert reloaded["changed"] is True and reloaded["previous_version"] == unchanged["version"]
    assert "he.ping" in runtime.policies.teams["billing"].members
    assert client.get("/health").json()["policy_version"] == reloaded["version"]

    complaint_file = directory / "complaint.yaml"
    complaint_file.write_text(complaint_file.read_text().replace("P3D", "three days"))
    refused = client.post("/admin/policies/reload", headers=admin)
    assert refused.status_code == 422
    message = refused.json()["detail"]["message"]
    assert "complaint.yaml" in message and "complaint.auto_close_after" in message
    assert runtime.policies.version == reloaded["version"]  # the running policies stay


def test_a_reload_may_not_drop_a_calendar_that_stored_clocks_use(client, runtime, admin):
    client.post("/cases", json=complaint())  # its clocks run on the 24x7 calendar
    directory = runtime.settings.policies
    calendars = yaml.safe_load((directory / "calendars.yaml").read_text())
    del calendars["calendars"]["24x7"]
    (directory / "calendars.yaml").write_text(yaml.safe_dump(calendars))
    for name in ("complaint.yaml", "crisis.yaml"):  # every file that names the calendar
        text = (directory / name).read_text()
        (directory / name).write_text(text.replace("calendar: 24x7",
                                                   "calendar: cn-working-hours"))
    refused = client.post("/admin/policies/reload", headers=admin)
    assert refused.status_code == 422
    message = refused.json()["detail"]["message"]
    assert "calendars.yaml" in message and "['24x7'] missing" in message


def test_opening_a_case_for_another_team_reveals_no_stored_contact(client, runtime):
    stored = {"ref": "c-9", "tier": "VIP", "phone": "13812345678", "email": "x@example.com"}
    assert client.post("/cases", json=complaint(customer=stored)).status_code == 201
    billing_agent = bearer(issue_key(runtime, "agent", name="sun.hao", teams=["billing"]))
    opened = client.post("/cases", json=complaint(customer={"ref": "c-9"}),
                         headers=billing_agent).json()
    assert opened["team"] == "complaints"  # routed outside the opener's scope
    assert (opened["customer"]["phone"], opened["customer"]["email"]) == (None, None)
    assert opened["tier"] == "VIP"  # a body without a tier keeps the stored one
