"""A case opened for a known customer reveals to its team no contact detail that no case
of the team was given: knowing a customer's `ref` (or one of their numbers) is not
enough to read the rest of what is stored about them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.customers import GIVEN
from engine.models import Case
from tests.api.helpers import complaint, post_event
from tests.support import bearer, issue_key

PHONE, EMAIL = "13912345678", "wu@example.com"


@pytest.fixture
def callers(runtime) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {
        "billing": bearer(issue_key(runtime, "agent", name="sun.hao", teams=["billing"])),
        "agent": bearer(issue_key(runtime, "agent", teams=["complaints"])),
        "colleague": bearer(issue_key(runtime, "supervisor", name="gao.yan",
                                      teams=["complaints"])),
        "manager": bearer(issue_key(runtime, "manager")),
    }


def _open(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    answer = client.post("/cases", json=complaint(**fields), headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _contact(case: dict[str, Any]) -> tuple[str | None, str | None]:
    return case["customer"]["phone"], case["customer"]["email"]


def _identities(client: TestClient, customer_id: int, headers: dict[str, str]) -> set:
    answer = client.get(f"/customers/{customer_id}/cases", headers=headers)
    assert answer.status_code == 200, answer.text
    return {(i["kind"], i["value"]) for i in answer.json()["identities"]}


@pytest.fixture
def known(client, callers) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Customer wu, known to billing by their ref, phone, e-mail and WeCom id."""
    case = _open(client, callers["billing"], category="billing",
                 customer={"ref": "wu-1", "name": "Wu", "phone": PHONE, "email": EMAIL})
    booked = client.post("/service-requests", headers=callers["billing"], json={
        "customer": {"ref": "wu-1", "wecom": "wu-wx"}, "location": "pudong-centre",
        "channel": "wecom", "service": "repair"})
    assert booked.status_code == 201, booked.text
    assert _contact(case) == (PHONE, EMAIL)
    return case


def test_a_ref_alone_reveals_no_stored_contact_however_many_cases_it_opens(
        client, callers, known):
    customer_id = known["customer"]["id"]
    for _ in range(2):  # a second case of the team is no licence either
        opened = _open(client, callers["agent"], customer={"ref": "wu-1"})
        assert opened["team"] == "complaints" and opened["customer"]["id"] == customer_id
        assert opened["customer"]["name"] == "Wu"
        assert _contact(opened) == (None, None)
        for caller in ("agent", "colleague"):
            read = client.get(f"/cases/{opened['id']}", headers=callers[caller]).json()
            assert _contact(read) == (None, None)
    assert _identities(client, customer_id, callers["agent"]) == set()
    assert post_event(client, opened["id"], "acknowledge").status_code == 200
    # Those who could see them still do: billing in full, a manager masked.
    assert _contact(client.get(f"/cases/{known['id']}", headers=callers["billing"]).json()) \
        == (PHONE, EMAIL)
    assert _contact(client.get(f"/cases/{opened['id']}", headers=callers["manager"]).json()) \
        == ("139****5678", "w***@example.com")
    assert _identities(client, customer_id, callers["billing"]) == {
        ("phone", PHONE), ("email", EMAIL), ("wecom", "wu-wx")}


def test_a_team_sees_the_contacts_its_cases_were_given(client, callers, known):
    customer_id = known["customer"]["id"]
    by_ref = _open(client, callers["agent"], customer={"ref": "wu-1"})
    # Recognised by the phone number the agent has (spelled their way, and stored so):
    # the e-mail stays billing's.
    spelled = "+86 139 1234 5678"
    by_phone = _open(client, callers["agent"], customer={"phone": spelled})
    assert by_phone["customer"]["id"] == customer_id
    assert _contact(by_phone) == (spelled, None)
    for case in (by_ref, by_phone):  # the team's cases show what any of them was given
        read = client.get(f"/cases/{case['id']}", headers=callers["colleague"]).json()
        assert _contact(read) == (spelled, None)
    assert _identities(client, customer_id, callers["agent"]) == {("phone", PHONE)}
    post_event(client, by_phone["id"], "acknowledge")
    assert _contact(client.get(f"/cases/{by_ref['id']}", headers=callers["agent"]).json()) \
        == (spelled, None)


def test_a_lookup_by_one_identity_lists_only_that_one_and_those_given(client, callers,
                                                                      known):
    _open(client, callers["agent"], customer={"ref": "wu-1"})
    found = client.get("/customers", params={"kind": "email", "value": "WU@example.com"},
                       headers=callers["agent"])
    assert found.status_code == 200
    assert {(i["kind"], i["value"]) for i in found.json()["identities"]} == {
        ("email", EMAIL)}
    assert len(found.json()["cases"]) == 1  # the team's case only


def test_a_service_request_for_a_known_customer_shows_only_what_it_gave(client, callers,
                                                                        known):
    booked = client.post("/service-requests", headers=callers["agent"], json={
        "customer": {"ref": "wu-1", "wecom": "wu-wx"}, "location": "xuhui-store",
        "channel": "wecom", "service": "repair"})
    assert booked.status_code == 201, booked.text
    assert _contact(booked.json()["case"]) == (None, None)
    assert _identities(client, known["customer"]["id"], callers["agent"]) == {
        ("wecom", "wu-wx")}


def test_a_case_opened_before_cases_kept_what_they_were_given_shows_it_all(
        client, callers, known, runtime):
    opened = _open(client, callers["agent"], customer={"ref": "wu-1"})
    with Session(runtime.engine) as session:  # as a case from before the upgrade
        case = session.get(Case, opened["id"])
        assert case is not None and case.data[GIVEN] == []
        case.data = {name: value for name, value in case.data.items() if name != GIVEN}
        session.add(case)
        session.commit()
    read = client.get(f"/cases/{opened['id']}", headers=callers["agent"]).json()
    assert _contact(read) == (PHONE, EMAIL)
