"""Every endpoint × every kind of caller: the status each gets, as one table.

The case under test belongs to team `complaints`. `agent` and `supervisor` work for that
team, `agent_other` and `supervisor_other` for `billing` only, so for them the case
does not exist (404, like an unknown id). A role that may never do a thing gets 403;
credentials that identify nobody get 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from core.keys import authenticate_key, revoke_key
from core.runtime import Runtime
from tests.api.helpers import complaint
from tests.conftest import sweep
from tests.support import bearer, issue_key, shanghai

CALLERS = ["none", "garbage", "expired", "revoked", "agent", "agent_other", "supervisor",
           "supervisor_other", "manager", "director", "admin", "scheduler", "integration"]

# Expected status per endpoint, in the order of CALLERS.
#            none garb expd revk agnt agOt supv suOt mngr dirc admn schd intg
MATRIX = {
    "open case":       [401, 401, 401, 401, 201, 201, 201, 201, 403, 403, 403, 403, 201],
    "list cases":      [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "read case":       [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "add a note":      [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "acknowledge":     [401, 401, 401, 401, 200, 404, 200, 404, 403, 403, 403, 403, 200],
    "acknowledge escalation":
                       [401, 401, 401, 401, 403, 404, 200, 404, 200, 200, 403, 403, 403],
    "reassign":        [401, 401, 401, 401, 403, 404, 200, 404, 403, 403, 403, 403, 403],
    "change priority": [401, 401, 401, 401, 403, 404, 200, 404, 403, 403, 403, 403, 403],
    "who am I":        [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    "create key":      [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 201, 403, 403],
    "list keys":       [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403],
    "revoke key":      [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403],
    "reload policies": [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403],
    "health":          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    "live":            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    "ready":           [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    # Open unless CASEFLOW_METRICS_KEY is set (tests/api/test_metrics.py): no API key
    # counts, and none is needed.
    "metrics":         [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    "list findings":   [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "read finding":    [401, 401, 401, 401, 403, 403, 200, 404, 200, 200, 403, 403, 403],
    "add finding":     [401, 401, 401, 401, 403, 403, 201, 422, 201, 201, 403, 403, 403],
    "dismiss finding": [401, 401, 401, 401, 403, 403, 200, 404, 200, 200, 403, 403, 403],
    # A finding about the whole service (as reviews write them) is every supervisor's.
    "read service finding": [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "dismiss service finding": [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403,
                                403],
    "run review":      [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 403, 201, 403],
    "list reviews":    [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "list review runs": [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "read review run": [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "latest review run": [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "trends":          [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "trends chart":    [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    "promote finding": [401, 401, 401, 401, 403, 403, 201, 404, 201, 201, 403, 403, 403],
    "plan cycle":      [401, 401, 401, 401, 403, 403, 201, 422, 201, 201, 403, 403, 403],
    "list cycles":     [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "read cycle":      [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "start pilot":     [401, 401, 401, 401, 403, 404, 200, 404, 200, 200, 403, 403, 403],
    "list follow-ups": [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "read follow-up":  [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "record call":     [401, 401, 401, 401, 200, 404, 200, 404, 403, 403, 403, 403, 200],
    "book service":    [401, 401, 401, 401, 201, 201, 201, 201, 403, 403, 403, 403, 201],
    "list services":   [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "read service":    [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "accept service":  [401, 401, 401, 401, 200, 404, 200, 404, 403, 403, 403, 403, 200],
    "list locations":  [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "location slots":  [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "customer cases":  [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "find customer":   [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "raise crisis":    [401, 401, 401, 401, 403, 403, 201, 422, 201, 201, 403, 403, 403],
    "list crises":     [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 403, 403, 200],
    "read crisis":     [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
    "confirm crisis":  [401, 401, 401, 401, 403, 404, 200, 404, 200, 200, 403, 403, 403],
    "approve notice":  [401, 401, 401, 401, 403, 404, 403, 404, 200, 200, 403, 403, 403],
    "link complaints": [401, 401, 401, 401, 403, 403, 200, 404, 200, 200, 403, 403, 403],
    "compensation":    [401, 401, 401, 401, 200, 404, 200, 404, 200, 200, 403, 403, 200],
}
# A crisis about delivery complaints, which team `complaints` handles.
CRISIS = {"title": "Depot fire", "category": "delivery"}
# A service request at the Xuhui store, served by team `complaints`.
SERVICE = {"location": "xuhui-store", "channel": "web", "service": "repair"}
# A cycle for team `complaints`: its supervisor's, and any manager's or director's to run.
CYCLE = {"problem": "late answers", "kpi": "complaint_on_time_rate", "target": 0.95,
         "scope": {"team": "complaints"}}


@dataclass
class World:
    rt: Runtime
    client: TestClient
    case_id: int
    headers: dict[str, dict[str, str]]
    customers: int = 0
    slots: int = 0

    def victim_key(self) -> int:
        """A fresh key for a revocation to hit."""
        new = self.client.post("/admin/keys", headers=self.headers["admin"],
                               json={"name": "victim", "role": "scheduler"})
        assert new.status_code == 201
        return new.json()["id"]

    def finding(self) -> int:
        """A fresh finding about team `complaints`, added by its supervisor."""
        new = self.client.post("/findings", headers=self.headers["supervisor"],
                               json={"title": "slow refunds", "team": "complaints"})
        assert new.status_code == 201, new.text
        return new.json()["id"]

    def service_finding(self) -> int:
        """A fresh finding about the whole service (no team), added by a manager."""
        new = self.client.post("/findings", headers=self.headers["manager"],
                               json={"title": "long hold times"})
        assert new.status_code == 201, new.text
        return new.json()["id"]

    def cycle(self) -> int:
        """A fresh PDCA cycle of team `complaints`, planned by its supervisor."""
        new = self.client.post("/pdca-cycles", headers=self.headers["supervisor"], json=CYCLE)
        assert new.status_code == 201, new.text
        return new.json()["id"]

    def followup(self, *, calling: bool = False) -> int:
        """A fresh follow-up of a confirmed `complaints` complaint; with `calling`, time
        travels until its return-visit call task is open (no answer after P5D)."""
        self.customers += 1
        body = complaint(customer={"ref": f"fu-{self.customers}", "tier": "B",
                                   "phone": "13812345678"})
        case = self.client.post("/cases", json=body, headers=self.headers["supervisor"])
        for event in ("acknowledge", "resolve", "confirm"):
            self.client.post(f"/cases/{case.json()['id']}/events", json={"type": event},
                             headers=self.headers["supervisor"])
        follow_id = self.client.get(f"/cases/{case.json()['id']}",
                                    headers=self.headers["supervisor"]).json()["timeline"][-1]
        assert follow_id["type"] == "followup_opened", follow_id
        if calling:
            for days in (1, 5):  # the survey goes, then the call task opens
                self.rt.clock.advance(timedelta(days=days, minutes=1))  # type: ignore[attr-defined]
                sweep(self.rt)
        return follow_id["details"]["followup"]

    def escalated(self, assignee: str = "li.wei") -> int:
        """A fresh complaint of `assignee`'s whose first-response clock has escalated."""
        headers = self.headers["supervisor"]
        case_id = self.client.post("/cases", json=complaint(), headers=headers).json()["id"]
        self.client.post(f"/cases/{case_id}/events", headers=headers,
                         json={"type": "reassign", "data": {"assignee": assignee}})
        self.rt.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
        sweep(self.rt)  # the warning, at 75%
        return case_id

    def service_request(self) -> dict:
        """A fresh service request of a new customer at the `complaints` team's store."""
        self.customers += 1
        new = self.client.post("/service-requests", headers=self.headers["supervisor"],
                               json={**SERVICE, "customer": {"wecom": f"sr-{self.customers}"}})
        assert new.status_code == 201, new.text
        return {**new.json(), "customer_wecom": f"sr-{self.customers}"}

    def next_slot(self) -> str:
        """A free slot at the store: one per call (each takes a seat)."""
        self.slots += 1
        return (shanghai(2026, 11, 21, 10, 0) + timedelta(minutes=30 * self.slots)).isoformat()

    def crisis(self, *, confirmed: bool = False, drafted: bool = False) -> int:
        """A fresh crisis candidate of team `complaints`, raised by its supervisor; with
        `confirmed`, confirmed S1; with `drafted`, also a website notice to approve."""
        new = self.client.post("/crises", headers=self.headers["supervisor"], json=CRISIS)
        assert new.status_code == 201, new.text
        crisis_id = new.json()["id"]
        steps = [("confirm", {"likelihood": "likely", "impact": "severe"})] if (
            confirmed or drafted) else []
        if drafted:
            steps.append(("draft_notice", {"channel": "website", "summary": "Delays."}))
        for kind, data in steps:
            done = self.client.post(f"/cases/{crisis_id}/events", json={
                "type": kind, "data": data}, headers=self.headers["supervisor"])
            assert done.status_code == 200, done.text
        return crisis_id

    def review_run(self) -> int:
        """The daily digest's run for yesterday, triggered by the scheduler (once)."""
        run = self.client.post("/reviews/daily-sla-digest/runs",
                               headers=self.headers["scheduler"])
        assert run.status_code in (200, 201), run.text
        return run.json()["run"]["id"]


REQUESTS: dict[str, Callable[[World, dict[str, str]], httpx.Response]] = {
    "open case": lambda w, h: w.client.post("/cases", json=complaint(), headers=h),
    "list cases": lambda w, h: w.client.get("/cases", headers=h),
    "read case": lambda w, h: w.client.get(f"/cases/{w.case_id}", headers=h),
    "add a note": lambda w, h: _event(w, h, {"type": "add_note", "note": "called"}),
    "acknowledge": lambda w, h: _event(w, h, {"type": "acknowledge"}),
    "acknowledge escalation": lambda w, h: w.client.post(
        f"/cases/{w.escalated()}/events", headers=h,
        json={"type": "acknowledge_escalation", "data": {"clock": "first_response"}}),
    "reassign": lambda w, h: _event(w, h, {"type": "reassign",
                                           "data": {"assignee": "chen.jing"}}),
    "change priority": lambda w, h: _event(w, h, {"type": "change_priority",
                                                  "data": {"priority": "urgent"}}),
    "who am I": lambda w, h: w.client.get("/me", headers=h),
    "create key": lambda w, h: w.client.post(
        "/admin/keys", headers=h, json={"name": "zhou.xin", "role": "agent",
                                        "teams": ["billing"]}),
    "list keys": lambda w, h: w.client.get("/admin/keys", headers=h),
    "revoke key": lambda w, h: w.client.post(f"/admin/keys/{w.victim_key()}/revoke",
                                             headers=h),
    "reload policies": lambda w, h: w.client.post("/admin/policies/reload", headers=h),
    "health": lambda w, h: w.client.get("/health", headers=h),
    "live": lambda w, h: w.client.get("/livez", headers=h),
    "ready": lambda w, h: w.client.get("/readyz", headers=h),
    "metrics": lambda w, h: w.client.get("/metrics", headers=h),
    "list findings": lambda w, h: w.client.get("/findings", headers=h),
    "read finding": lambda w, h: w.client.get(f"/findings/{w.finding()}", headers=h),
    "add finding": lambda w, h: w.client.post(
        "/findings", json={"title": "long waits", "team": "complaints"}, headers=h),
    "dismiss finding": lambda w, h: w.client.post(f"/findings/{w.finding()}/dismiss",
                                                  json={"reason": "seasonal"}, headers=h),
    "read service finding": lambda w, h: w.client.get(f"/findings/{w.service_finding()}",
                                                      headers=h),
    "dismiss service finding": lambda w, h: w.client.post(
        f"/findings/{w.service_finding()}/dismiss", json={"reason": "seasonal"}, headers=h),
    "run review": lambda w, h: w.client.post("/reviews/daily-sla-digest/runs", headers=h),
    "list reviews": lambda w, h: w.client.get("/reports/reviews", headers=h),
    "list review runs": lambda w, h: w.client.get("/reports/runs", headers=h),
    "read review run": lambda w, h: w.client.get(f"/reports/runs/{w.review_run()}",
                                                 headers=h),
    "latest review run": lambda w, h: (w.review_run(), w.client.get(
        "/reports/reviews/daily-sla-digest/latest", headers=h))[1],
    "promote finding": lambda w, h: w.client.post(
        f"/findings/{w.finding()}/promote", headers=h,
        json={"kpi": "reopen_rate", "target": 0.05}),
    "plan cycle": lambda w, h: w.client.post("/pdca-cycles", headers=h, json=CYCLE),
    "list cycles": lambda w, h: w.client.get("/pdca-cycles", headers=h),
    "read cycle": lambda w, h: w.client.get(f"/pdca-cycles/{w.cycle()}", headers=h),
    "start pilot": lambda w, h: w.client.post(f"/cases/{w.cycle()}/events", headers=h,
                                              json={"type": "start_pilot"}),
    "list follow-ups": lambda w, h: (w.followup(), w.client.get("/follow-ups", headers=h))[1],
    "read follow-up": lambda w, h: w.client.get(f"/follow-ups/{w.followup()}", headers=h),
    "record call": lambda w, h: w.client.post(
        f"/cases/{w.followup(calling=True)}/events", headers=h,
        json={"type": "record_call", "data": {"reached": True, "csat": 4, "nps": 9}}),
    "book service": lambda w, h: w.client.post(
        "/service-requests", headers=h, json={**SERVICE, "customer": {"ref": "sr-any"}}),
    "list services": lambda w, h: w.client.get("/service-requests", headers=h),
    "read service": lambda w, h: w.client.get(
        f"/service-requests/{w.service_request()['id']}", headers=h),
    "accept service": lambda w, h: w.client.post(
        f"/cases/{w.service_request()['id']}/events", headers=h,
        json={"type": "accept", "data": {"slot": w.next_slot()}}),
    "list locations": lambda w, h: w.client.get("/locations", headers=h),
    "location slots": lambda w, h: w.client.get("/locations/xuhui-store/slots", headers=h,
                                                params={"day": "2026-11-21"}),
    "customer cases": lambda w, h: w.client.get(
        f"/customers/{w.service_request()['case']['customer']['id']}/cases", headers=h),
    "find customer": lambda w, h: w.client.get("/customers", headers=h, params={
        "kind": "wecom", "value": w.service_request()["customer_wecom"]}),
    "raise crisis": lambda w, h: w.client.post("/crises", json=CRISIS, headers=h),
    "list crises": lambda w, h: (w.crisis(), w.client.get("/crises", headers=h))[1],
    "read crisis": lambda w, h: w.client.get(f"/crises/{w.crisis()}", headers=h),
    "confirm crisis": lambda w, h: w.client.post(
        f"/cases/{w.crisis()}/events", headers=h,
        json={"type": "confirm", "data": {"likelihood": "possible", "impact": "major"}}),
    "approve notice": lambda w, h: w.client.post(
        f"/cases/{w.crisis(drafted=True)}/events", headers=h,
        json={"type": "approve_notice", "data": {"notice": 1}}),
    "link complaints": lambda w, h: w.client.post(
        f"/crises/{w.crisis()}/links", json={"case_ids": [w.case_id]}, headers=h),
    "compensation": lambda w, h: w.client.get(f"/crises/{w.crisis()}/compensation",
                                              headers=h),
    "trends": lambda w, h: w.client.get("/reports/trends", params={"count": 3}, headers=h),
    "trends chart": lambda w, h: w.client.get("/reports/trends.svg", params={"count": 3},
                                              headers=h),
}


def _event(world: World, headers: dict[str, str], body: dict) -> httpx.Response:
    """Send an event to a complaint just opened, so every caller finds it assigned."""
    fresh = world.client.post("/cases", json=complaint(), headers=world.headers["supervisor"])
    return world.client.post(f"/cases/{fresh.json()['id']}/events", json=body, headers=headers)


def _callers(rt: Runtime) -> dict[str, dict[str, str]]:
    now = rt.clock.now()
    expired = issue_key(rt, "agent", expires_at=now + timedelta(minutes=1))
    revoked = issue_key(rt, "agent", name="leaver")
    keys = {
        "expired": expired,
        "revoked": revoked,
        "agent": issue_key(rt, "agent", teams=["complaints"]),
        "agent_other": issue_key(rt, "agent", name="sun.hao", teams=["billing"]),
        "supervisor": issue_key(rt, "supervisor", teams=["complaints"]),
        "supervisor_other": issue_key(rt, "supervisor", name="gao.yan", teams=["billing"]),
        "manager": issue_key(rt, "manager"),
        "director": issue_key(rt, "director"),
        "admin": issue_key(rt, "admin"),
        "scheduler": issue_key(rt, "scheduler", kind="integration"),
        "integration": issue_key(rt, "agent", name="hotline-gateway", kind="integration",
                                 teams=["complaints"]),
    }
    with Session(rt.engine) as session:
        revoke_key(session, authenticate_key(rt.engine, revoked, now).key_id or 0, by="tests",
                   now=now)
    headers = {name: bearer(key) for name, key in keys.items()}
    headers["none"] = {}
    headers["garbage"] = bearer("cf_thisIsNotAKeyAnyoneWasGiven")
    return headers


@pytest.fixture
def world(runtime: Runtime, clock) -> World:  # type: ignore[no-untyped-def]
    headers = _callers(runtime)
    clock.advance(timedelta(minutes=2))  # past the expired key's end
    client = TestClient(create_app(manage_runtime=False))
    opened = client.post("/cases", json=complaint(), headers=headers["supervisor"])
    assert opened.status_code == 201 and opened.json()["team"] == "complaints"
    return World(runtime, client, opened.json()["id"], headers)


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_each_caller_gets_what_their_role_and_scope_allow(world: World, endpoint: str):
    got = []
    for caller in CALLERS:
        world.rt.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
        got.append(REQUESTS[endpoint](world, world.headers[caller]).status_code)
    assert dict(zip(CALLERS, got, strict=True)) == dict(
        zip(CALLERS, MATRIX[endpoint], strict=True))


def test_a_case_out_of_scope_reads_exactly_like_one_that_does_not_exist(world: World):
    outsider = world.headers["agent_other"]
    hidden = world.client.get(f"/cases/{world.case_id}", headers=outsider)
    missing = world.client.get(f"/cases/{world.case_id + 1000}", headers=outsider)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == f"case {world.case_id} not found"
    assert missing.json()["detail"] == f"case {world.case_id + 1000} not found"
    for body in ({"type": "add_note"}, {"type": "reassign"}, {"type": "no_such_event"}):
        answer = world.client.post(f"/cases/{world.case_id}/events", json=body,
                                   headers=outsider)
        assert (answer.status_code, answer.json()) == (404, hidden.json())


def test_listing_shows_only_the_callers_teams_and_what_is_assigned_to_them(world: World):
    def ids(caller: str, **params: str) -> set[int]:
        page = world.client.get("/cases", params=params, headers=world.headers[caller])
        return {item["id"] for item in page.json()["items"]}

    billing = world.client.post("/cases", json=complaint(category="billing"),
                                headers=world.headers["supervisor_other"]).json()
    assert billing["team"] == "billing"
    assert ids("agent") == {world.case_id}
    assert ids("agent_other") == {billing["id"]}
    assert ids("agent_other", team="complaints") == set()
    assert ids("manager") == ids("director") == {world.case_id, billing["id"]}
    # Reassigned to a member of its team whose key covers billing only, the complaint
    # joins that person's view (only the team's people may be assigned).
    world.headers["li.wei"] = bearer(issue_key(world.rt, "agent", name="li.wei",
                                               teams=["billing"]))
    assert ids("li.wei") == {billing["id"]}
    reassigned = world.client.post(f"/cases/{world.case_id}/events",
                                   headers=world.headers["supervisor"],
                                   json={"type": "reassign", "data": {"assignee": "li.wei"}})
    assert reassigned.status_code == 200, reassigned.text
    assert ids("li.wei") == {world.case_id, billing["id"]}


def test_the_401_says_why_and_challenges_for_a_bearer_token(world: World):
    reasons = {}
    for caller in ("none", "garbage", "expired", "revoked"):
        answer = world.client.get("/me", headers=world.headers[caller])
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        reasons[caller] = answer.json()["detail"]
    assert "Authorization: Bearer" in reasons["none"]
    assert reasons["garbage"] == "unknown API key"
    assert "expired" in reasons["expired"]
    assert "revoked" in reasons["revoked"]


def test_the_403_names_the_roles_that_may(world: World):
    answer = _event(world, world.headers["agent"], {"type": "reassign",
                                                    "data": {"assignee": "chen.jing"}})
    assert answer.status_code == 403
    assert answer.json()["detail"] == ("role agent may not send 'reassign'; that needs one of "
                                       "the roles ['supervisor']")
    answer = world.client.get("/cases", headers=world.headers["scheduler"])
    assert "role scheduler may not read cases" in answer.json()["detail"]


def test_nobody_may_end_the_escalation_of_their_own_lapse(world: World):
    ack = {"type": "acknowledge_escalation", "data": {"clock": "first_response"}}
    answer = world.client.post(f"/cases/{world.escalated('li.wei')}/events", json=ack,
                               headers=world.headers["agent"])
    assert answer.status_code == 403
    assert answer.json()["detail"] == ("role agent may not send 'acknowledge_escalation'; that "
                                       "needs one of the roles ['director', 'manager', "
                                       "'supervisor']")
    # A supervisor holding the case is refused too: the ladder reports to those above.
    own = world.escalated("wang.fang")
    answer = world.client.post(f"/cases/{own}/events", json=ack,
                               headers=world.headers["supervisor"])
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith(
        "wang.fang is the case's assignee and may not acknowledge the escalation")
    world.rt.clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
    sweep(world.rt)  # 31 of 20 minutes: past 150%
    case = world.client.get(f"/cases/{own}", headers=world.headers["manager"]).json()
    assert [e["details"]["step"] for e in case["timeline"]
            if e["type"] in ("sla_warning", "escalated")] == ["warning", "breach", "manager"]


def test_each_role_is_offered_only_the_events_it_may_send(world: World):
    def offered(caller: str) -> set[str]:
        case = world.client.get(f"/cases/{world.case_id}", headers=world.headers[caller])
        return set(case.json()["allowed_events"])

    assert {"reassign", "change_priority"} <= offered("supervisor")
    assert not {"reassign", "change_priority"} & offered("agent")
    assert "acknowledge" in offered("agent")
    assert offered("manager") == {"add_note", "acknowledge_escalation"}
