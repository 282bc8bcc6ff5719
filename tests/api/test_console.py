"""The console in process: sign-in, the session cookie, forms' tokens, events posted from
the case page, the language switch, and that for one identity the console shows no
case that the API refuses."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.console import worklists as console_worklists
from api.console.session import COOKIE, LIFETIME
from core.runtime import Runtime
from engine.clock import FrozenClock
from tests.api.helpers import complaint
from tests.conftest import sweep
from tests.support import bearer, issue_key

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CASE_LINK = re.compile(r'href="/console/cases/(\d+)"')
PAGES = ["/console/queue", "/console/overview", "/console/workload", "/console/crises",
         "/console/calls", "/console/improvement", "/console/reports"]


@pytest.fixture
def app_client(runtime: Runtime) -> Iterator[TestClient]:
    # https, as the service's public URL in the tests: the session cookie is Secure.
    base = runtime.settings.resolved_public_url.split("://")[0] + "://testserver"
    with TestClient(create_app(manage_runtime=False), follow_redirects=False,
                    base_url=base) as client:
        yield client


def token_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found[1]


def sign_in(client: TestClient, key: str, next_page: str = "/console/queue") -> None:
    page = client.get("/console/sign-in", params={"next": next_page})
    assert page.status_code == 200
    answer = client.post("/console/sign-in", data={
        "csrf_token": token_of(page.text), "credentials": key, "next": next_page})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_page


def test_pages_need_a_session_and_send_back_after_sign_in(app_client: TestClient,
                                                          runtime: Runtime) -> None:
    answer = app_client.get("/console/crises")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fcrises"
    page = app_client.get("/console/sign-in", params={"next": "/console/crises"})
    answer = app_client.post("/console/sign-in", data={
        "csrf_token": token_of(page.text), "credentials": issue_key(runtime, "supervisor"),
        "next": "/console/crises"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/crises"
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/console" in cookie and f"Max-Age={int(LIFETIME.total_seconds())}" in cookie
    assert ("Secure" in cookie) == runtime.settings.resolved_public_url.startswith("https")
    assert app_client.get("/console/crises").status_code == 200


def test_sign_in_refuses_a_wrong_key_a_missing_token_and_integrations(
        app_client: TestClient, runtime: Runtime) -> None:
    page = app_client.get("/console/sign-in")
    token = token_of(page.text)
    wrong = app_client.post("/console/sign-in", data={"csrf_token": token,
                                                      "credentials": "cf_nothing"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.text
    no_token = app_client.post("/console/sign-in", data={
        "credentials": issue_key(runtime, "supervisor")})
    assert no_token.status_code == 403
    integration = app_client.post("/console/sign-in", data={
        "csrf_token": token, "credentials": issue_key(runtime, "agent", kind="integration")})
    assert integration.status_code == 403
    admin = app_client.post("/console/sign-in", data={
        "csrf_token": token, "credentials": issue_key(runtime, "admin")})
    assert admin.status_code == 403 and "admin" in admin.text
    assert app_client.get("/console/queue").status_code == 303  # still signed out


def test_the_session_ends_with_its_lifetime_and_with_its_key(
        app_client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    sign_in(app_client, issue_key(runtime, "supervisor"))
    assert app_client.get("/console/crises").status_code == 200
    clock.advance(LIFETIME)
    assert app_client.get("/console/crises").status_code == 303


def test_a_form_without_its_sessions_token_is_refused(app_client: TestClient,
                                                      runtime: Runtime) -> None:
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    case = api.post("/cases", json=complaint()).json()
    sign_in(app_client, issue_key(runtime, "supervisor"))
    answer = app_client.post(f"/console/cases/{case['id']}/events",
                             data={"event": "acknowledge"})
    assert answer.status_code == 403
    forged = app_client.post(f"/console/cases/{case['id']}/events",
                             data={"event": "acknowledge", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert api.get(f"/cases/{case['id']}").json()["stage"] == "assigned"


def test_the_case_page_sends_events_and_shows_the_apis_refusals(
        app_client: TestClient, runtime: Runtime) -> None:
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    case = api.post("/cases", json=complaint()).json()
    agent = case["assignee"]
    sign_in(app_client, issue_key(runtime, "agent", name=agent, teams=["complaints"]))
    page = app_client.get(f"/console/cases/{case['id']}")
    assert page.status_code == 200
    assert 'value="acknowledge"' in page.text and 'value="reassign"' not in page.text
    answer = app_client.post(f"/console/cases/{case['id']}/events", data={
        "csrf_token": token_of(page.text), "event": "acknowledge", "note": "calling back"})
    assert answer.status_code == 303
    page = app_client.get(answer.headers["location"])
    assert "已记录：确认受理。" in page.text and "calling back" in page.text
    assert api.get(f"/cases/{case['id']}").json()["stage"] == "in_progress"
    again = app_client.post(f"/console/cases/{case['id']}/events", data={
        "csrf_token": token_of(page.text), "event": "acknowledge"})
    assert again.status_code == 409
    assert "event &#39;acknowledge&#39; is not allowed in stage &#39;in_progress&#39;" \
        in again.text
    reassign = app_client.post(f"/console/cases/{case['id']}/events", data={
        "csrf_token": token_of(page.text), "event": "reassign", "data.assignee": "zhang.min"})
    assert reassign.status_code == 403 and "role agent may not send" in reassign.text


def test_the_case_page_draws_paused_time_and_needs_no_inline_style(
        app_client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    case = api.post("/cases", json=complaint()).json()
    sign_in(app_client, issue_key(runtime, "supervisor"))
    token = token_of(app_client.get(f"/console/cases/{case['id']}").text)
    for event in ("acknowledge", "wait_on_customer"):
        answer = app_client.post(f"/console/cases/{case['id']}/events",
                                 data={"csrf_token": token, "event": event})
        assert answer.status_code == 303, answer.text
    clock.advance(timedelta(hours=2))
    page = app_client.get(f"/console/cases/{case['id']}").text
    assert page.count('<rect class="pause"') == 1  # the resolution clock's, still paused
    assert "已暂停" in page
    assert "style=" not in page  # the console's CSP allows no inline style
    assert app_client.get(f"/console/cases/{case['id']}").headers[
        "content-security-policy"].startswith("default-src 'none'")


def test_the_language_switch_keeps_english_and_back(app_client: TestClient,
                                                    runtime: Runtime) -> None:
    sign_in(app_client, issue_key(runtime, "supervisor"))
    assert "危机" in app_client.get("/console/crises").text
    answer = app_client.get("/console/language", params={"to": "en", "next": "/console/crises"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/crises"
    english = app_client.get("/console/crises").text
    assert "No crisis in your scope." in english and "危机" not in english
    app_client.get("/console/language", params={"to": "zh-Hans"})
    assert "危机" in app_client.get("/console/crises").text
    elsewhere = app_client.get("/console/language", params={"to": "en",
                                                            "next": "https://evil.example/"})
    assert elsewhere.headers["location"] == "/console/queue"


def test_the_console_shows_no_case_the_api_refuses(app_client: TestClient,
                                                   runtime: Runtime) -> None:
    """A supervisor of billing only: every case page and every list page shows exactly
    the cases the API lets them read, and none of the other team's."""
    opener = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    ids = [opener.post("/cases", json=complaint(category=category)).json()["id"]
           for category in ("billing", "delivery", "refund", "delivery")]
    key = issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"])
    api = TestClient(app_client.app, headers=bearer(key))
    readable = {case_id for case_id in ids if api.get(f"/cases/{case_id}").status_code == 200}
    assert readable and readable != set(ids)
    sign_in(app_client, key)
    for case_id in ids:
        status = app_client.get(f"/console/cases/{case_id}").status_code
        assert (status == 200) == (case_id in readable), case_id
    for page in PAGES:
        answer = app_client.get(page)
        assert answer.status_code == 200, page
        shown = {int(found) for found in CASE_LINK.findall(answer.text)}
        assert shown <= readable, (page, shown - readable)
        if page == "/console/queue":  # every open case in scope, and only those
            assert shown == readable


def _a_call_waiting(supervisor: TestClient, runtime: Runtime, clock: FrozenClock
                    ) -> list[dict]:
    """A complaint closed, its survey sent and left unanswered: its return-visit call
    waits (the follow-ups in stage `calling`)."""
    body = complaint(customer={"ref": "fu-1", "name": "Lin", "tier": "B",
                               "phone": "13812345678"})
    case = supervisor.post("/cases", json=body).json()
    for event in ("acknowledge", "resolve", "confirm"):
        supervisor.post(f"/cases/{case['id']}/events", json={"type": event})
    for days in (1, 5):  # the survey goes, then (no answer) the call task opens
        clock.advance(timedelta(days=days, minutes=1))
        sweep(runtime)
    followups = supervisor.get("/follow-ups", params={"stage": "calling"}).json()["items"]
    assert len(followups) == 1
    return followups


def test_an_agent_records_a_return_visit_call_from_the_calls_page(
        app_client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    supervisor = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    followups = _a_call_waiting(supervisor, runtime, clock)
    agent = followups[0]["case"]["assignee"]
    sign_in(app_client, issue_key(runtime, "agent", name=agent, teams=["complaints"]),
            "/console/calls")
    page = app_client.get("/console/calls")
    assert f'href="/console/cases/{followups[0]["id"]}"' in page.text
    assert "13812345678" in page.text and 'value="record_call"' in page.text
    answer = app_client.post(f"/console/cases/{followups[0]['id']}/events", data={
        "csrf_token": token_of(page.text), "event": "record_call", "back": "/console/calls",
        "data.reached": "yes", "data.csat": "4", "data.notes": "happy now"})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/console/calls?done=record_call")
    recorded = supervisor.get(f"/follow-ups/{followups[0]['id']}").json()
    assert recorded["answer"]["csat"] == 4 and recorded["answer"]["by"] == agent
    bad = app_client.post(f"/console/cases/{followups[0]['id']}/events", data={
        "csrf_token": token_of(page.text), "event": "record_call", "data.csat": "four"})
    assert bad.status_code == 422 and "data.csat" in bad.text


def test_a_supervisor_reassigns_from_the_workload_page(app_client: TestClient,
                                                       runtime: Runtime) -> None:
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    case = api.post("/cases", json=complaint()).json()
    sign_in(app_client, issue_key(runtime, "supervisor", teams=["complaints"]),
            "/console/workload")
    page = app_client.get("/console/workload")
    assert f'value="{case["id"]}"' in page.text  # the person's oldest case, offered
    target = next(p for p in ("li.wei", "zhang.min") if p != case["assignee"])
    answer = app_client.post("/console/workload/reassign", data={
        "csrf_token": token_of(page.text), "case": str(case["id"]), "data.assignee": target})
    assert answer.status_code == 303, answer.text
    assert api.get(f"/cases/{case['id']}").json()["assignee"] == target
    refused = app_client.post("/console/workload/reassign", data={
        "csrf_token": token_of(page.text), "case": str(case["id"]), "data.assignee": "nobody"})
    assert refused.status_code == 422 and "data.assignee" in refused.text


def test_the_reports_page_and_chart_show_csat_in_either_language(
        app_client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    supervisor = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    followup = _a_call_waiting(supervisor, runtime, clock)[0]
    answer = supervisor.post(f"/cases/{followup['id']}/events", json={
        "type": "record_call", "data": {"reached": True, "csat": 4}})
    assert answer.status_code == 200, answer.text
    trend = supervisor.get("/reports/trends", params={"bucket": "month", "count": 1}).json()
    assert trend["points"][0]["csat"] == {"value": 4.0, "count": 1, "total": 4}
    sign_in(app_client, issue_key(runtime, "supervisor", teams=["complaints"]),
            "/console/reports")
    page = app_client.get("/console/reports").text
    assert "满意度（CSAT）" in page and "4.00（1 份回答）" in page
    chart = app_client.get("/console/reports/trends.svg").text
    assert "受理投诉数、按时率与满意度" in chart and "满意度 4.00（1 份回答）" in chart
    assert chart.count('class="csat"') == 1
    app_client.get("/console/language", params={"to": "en"})
    english = app_client.get("/console/reports").text
    assert "<th>CSAT</th>" in english and "4.00 from 1 answers" in english
    chart = app_client.get("/console/reports/trends.svg").text
    assert "CSAT 4.00 from 1 answers" in chart and "满意度" not in chart
    billing = TestClient(app_client.app, headers=bearer(
        issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"])))
    theirs = billing.get("/reports/trends", params={"bucket": "month", "count": 1}).json()
    assert theirs["points"][0]["csat"] == {"value": None, "count": 0, "total": 0}


def test_ended_crises_findings_and_cycles_are_listed_on_request_in_scope_and_paged(
        app_client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.console import crises, improvement

    lead = TestClient(app_client.app, headers=bearer(issue_key(runtime, "manager")))

    def crisis(category: str, *, dismissed: bool) -> int:
        new = lead.post("/crises", json={"title": f"{category} outage", "category": category})
        assert new.status_code == 201, new.text
        if dismissed:
            lead.post(f"/cases/{new.json()['id']}/events",
                      json={"type": "dismiss", "data": {"reason": "a false alarm"}})
        return int(new.json()["id"])

    def cycle(team: str, *, abandoned: bool) -> int:
        new = lead.post("/pdca-cycles", json={
            "problem": f"late answers in {team}", "kpi": "complaint_on_time_rate",
            "target": 0.95, "scope": {"team": team}})
        assert new.status_code == 201, new.text
        if abandoned:
            lead.post(f"/cases/{new.json()['id']}/events",
                      json={"type": "abandon", "data": {"reason": "merged"}})
        return int(new.json()["id"])

    def finding(team: str, title: str, *, dismissed: bool) -> None:
        new = lead.post("/findings", json={"title": title, "team": team})
        assert new.status_code == 201, new.text
        if dismissed:
            lead.post(f"/findings/{new.json()['id']}/dismiss", json={"reason": "done"})

    ours_ended = [crisis("delivery", dismissed=True), crisis("quality", dismissed=True)]
    ours_open = crisis("delivery", dismissed=False)
    theirs_ended = crisis("billing", dismissed=True)
    cycles_ended = [cycle("complaints", abandoned=True), cycle("complaints", abandoned=True)]
    cycle_open = cycle("complaints", abandoned=False)
    their_cycle = cycle("billing", abandoned=True)
    finding("complaints", "slow refunds", dismissed=True)
    finding("complaints", "rude replies", dismissed=True)
    finding("complaints", "lost parcels", dismissed=False)
    finding("billing", "double charges", dismissed=True)

    key = issue_key(runtime, "supervisor", name="gao.yan", teams=["complaints"])
    api = TestClient(app_client.app, headers=bearer(key))
    sign_in(app_client, key, "/console/crises")

    def shown(path: str) -> list[int]:
        answer = app_client.get(path)
        assert answer.status_code == 200, path
        found = [int(i) for i in dict.fromkeys(CASE_LINK.findall(answer.text))]
        for case_id in found:  # nothing the API would refuse this supervisor
            assert api.get(f"/cases/{case_id}").status_code == 200, (path, case_id)
        return found

    assert shown("/console/crises") == [ours_open]
    assert shown("/console/crises?state=ended") == sorted(ours_ended, reverse=True)
    assert theirs_ended not in shown("/console/crises?state=ended")
    assert api.get(f"/cases/{theirs_ended}").status_code == 404
    assert shown("/console/improvement") == [cycle_open]
    assert shown("/console/improvement?state=ended") == sorted(cycles_ended, reverse=True)
    assert api.get(f"/cases/{their_cycle}").status_code == 404
    ended = app_client.get("/console/improvement?state=ended").text
    assert "slow refunds" in ended and "rude replies" in ended
    assert "lost parcels" not in ended and "double charges" not in ended
    under_way = app_client.get("/console/improvement").text
    assert "lost parcels" in under_way
    # The on-time rate's target as the reports say a ratio, not as a fraction.
    assert "95.0%" in under_way and ">0.95<" not in under_way

    # A page at a time: the newest first, then the older ones through the link.
    monkeypatch.setattr(crises, "SHOWN", 1)
    monkeypatch.setattr(improvement, "SHOWN", 1)
    first = app_client.get("/console/crises?state=ended").text
    older = re.search(r'href="(/console/crises\?state=ended&amp;before=\d+)"', first)
    assert older and shown("/console/crises?state=ended") == [max(ours_ended)]
    assert shown(older[1].replace("&amp;", "&")) == [min(ours_ended)]
    assert "before=" not in app_client.get(older[1].replace("&amp;", "&")).text
    first = app_client.get("/console/improvement?state=ended").text
    assert shown("/console/improvement?state=ended") == [max(cycles_ended)]
    assert "rude replies" in first and "slow refunds" not in first
    findings_older = re.search(r'href="/console/improvement\?state=ended&amp;'
                               r'(findings_before=\d+)"', first)
    assert findings_older
    assert "slow refunds" in app_client.get(
        f"/console/improvement?state=ended&{findings_older[1]}").text
    app_client.get("/console/language", params={"to": "en"})
    assert "Ended" in app_client.get("/console/crises?state=ended").text


def test_the_queues_filters_say_how_many_open_cases_each_value_selects(
        app_client: TestClient, runtime: Runtime) -> None:
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    for priority in ("urgent", "urgent", "ordinary"):
        api.post("/cases", json=complaint(priority=priority))
    api.post("/cases", json=complaint(category="billing", priority="urgent"))
    sign_in(app_client, issue_key(runtime, "supervisor", name="gao.yan", teams=["complaints"]))
    page = app_client.get("/console/queue").text
    assert '<option value="complaints">complaints (3)</option>' in page
    assert '<option value="billing">billing (0)</option>' not in page  # not in their scope
    assert re.search(r'<option value="urgent">[^<]+ \(2\)</option>', page)
    chosen = app_client.get("/console/queue", params={"priority": "urgent"}).text
    # The other priorities keep their counts; the team counts only the urgent ones now.
    assert re.search(r'<option value="ordinary">[^<]+ \(1\)</option>', chosen)
    assert '<option value="complaints">complaints (2)</option>' in chosen


NEXT_PAGE = re.compile(r'id="next-page" href="\?([^"]+)"')


def test_the_queue_pages_on_after_its_last_row_and_refuses_a_made_up_link(
        app_client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_worklists, "PAGE", 2)
    api = TestClient(app_client.app, headers=bearer(issue_key(runtime, "supervisor")))
    for priority in ("urgent", "routine", "ordinary", "urgent", "routine"):
        api.post("/cases", json=complaint(priority=priority))
    api.post("/cases", json=complaint(category="billing"))
    complaints_only = issue_key(runtime, "supervisor", name="gao.yan", teams=["complaints"])
    expected = [item["id"] for item in TestClient(app_client.app, headers=bearer(
        complaints_only)).get("/cases", params={"sort": "due"}).json()["items"]]
    assert len(expected) == 5
    sign_in(app_client, complaints_only)
    shown, query = [], "priority="  # an empty filter, kept in the links
    for _ in range(5):
        answer = app_client.get(f"/console/queue?{query}")
        assert answer.status_code == 200
        shown += [int(found) for found in dict.fromkeys(CASE_LINK.findall(answer.text))]
        following = NEXT_PAGE.search(answer.text)
        if following is None:
            break
        query = html.unescape(following[1])
    assert shown == expected  # in the API's order, each once, none of billing's
    refused = app_client.get("/console/queue", params={"after": "not-a-cursor"})
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert [int(found) for found in dict.fromkeys(CASE_LINK.findall(refused.text))] == \
        expected[:2]


def _every_review_run(runtime: Runtime, clock: FrozenClock) -> dict[str, int]:
    """Run each shipped review over real cases: a complaint answered late and one left to
    breach on Wednesday 18 November; each review at its first slot after it."""
    from processes.reviews.runs import run_due_review
    from tests.store.helpers import open_complaint, send
    from tests.support import shanghai

    clock.set(shanghai(2026, 11, 18, 10, 0))
    late = open_complaint(runtime, priority="ordinary", category="delivery")
    open_complaint(runtime, priority="ordinary", category="delivery", ref="cust-2")
    clock.set(shanghai(2026, 11, 18, 10, 30))  # over the 20-minute first response
    send(runtime, late, "acknowledge")
    sweep(runtime)
    slots = {"sla_digest": shanghai(2026, 11, 19, 9, 0),
             "greetings": shanghai(2026, 11, 19, 9, 0),
             "complaint_categories": shanghai(2026, 11, 23, 9, 0),
             "satisfaction": shanghai(2026, 12, 1, 9, 0),
             "service_quality": shanghai(2027, 1, 1, 9, 0),
             "skill_assessment_reminder": shanghai(2027, 1, 1, 9, 0)}
    ran = {}
    for name, review in sorted(runtime.policies.reviews.items(),
                               key=lambda item: slots[item[1].computes]):
        clock.set(slots[review.computes])
        outcome = run_due_review(runtime, name)
        assert outcome.run is not None and outcome.run.status == "succeeded", name
        ran[review.computes] = outcome.run.id
    assert set(ran) == set(slots)
    return ran


HEADER = re.compile(r"<th>([^<]*)</th>")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_review_runs_read_as_reports_in_the_visitors_language_and_scope(
        app_client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    ran = _every_review_run(runtime, clock)
    sign_in(app_client, issue_key(runtime, "supervisor", teams=["complaints"]),
            "/console/reports")

    def runs_section(language: str, computes: str) -> str:
        app_client.get("/console/language", params={"to": language})
        page = app_client.get("/console/reports", params={"run": ran[computes]})
        assert page.status_code == 200
        return page.text.split('<section class="card">')[2]

    for computes in ran:
        for language in ("zh", "en"):
            shown = runs_section(language, computes)
            assert not re.search(r"\d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT", shown), computes
            for key in (computes, "at_risk", "at-risk", "breached_in_period", "case_id"):
                assert "_" not in computes or key not in shown, (computes, language, key)
            for label in ("computes", "succeeded", "summary", "findings", "tables", "scope",
                          "review", "title", "period"):
                assert f">{label}<" not in shown, (computes, language, label)
            for header in HEADER.findall(shown):
                assert "_" not in header and (language == "en" or CJK.search(header)), \
                    (computes, language, header)

    digest = runs_section("zh", "sla_digest")
    assert "<h3>每日 SLA 摘要 <span class=\"badge\">已完成</span></h3>" in digest
    assert "2026年11月18日" in digest and "已完成" in digest
    # The picker names each run by its title and period as people say them.
    assert "每周投诉类别回顾 · 2026年11月16日 – 22日" in digest.replace("\u2009", " ")
    # The late answer's breach, at 10:20 in Shanghai, to the minute.
    assert "2026-11-18 10:20 (UTC+08:00)" in digest and "首次响应" in digest
    assert "breached in the period" not in digest and "团队" in digest
    english = runs_section("en", "sla_digest")
    assert "Daily SLA digest" in english and "Nov 18, 2026" in english
    assert "Weekly complaint-category review · Nov 16 – 22, 2026" in english.replace(
        "\u2009", " ")
    assert "breached in the period" in english and "已超时" not in english
    assert "2026-11-18 10:20 (UTC+08:00)" in english and "first response" in english
    # A supervisor of complaints sees their team's section, not billing's.
    assert "Team complaints" in english and "Team billing" not in english
    # An empty table is said so, in words.
    assert "<h5>repeat complaints</h5>\n<p class=\"muted\">none</p>" in runs_section(
        "en", "complaint_categories")
    assert "<h5>重复投诉</h5>\n<p class=\"muted\">无</p>" in runs_section(
        "zh", "complaint_categories")
    # A supervisor of billing sees billing's section, and none of complaints' cases.
    with TestClient(app_client.app, follow_redirects=False,
                    base_url=str(app_client.base_url)) as billing:
        sign_in(billing, issue_key(runtime, "supervisor", name="gao.yan", teams=["billing"]),
                "/console/reports")
        theirs = billing.get("/console/reports", params={"run": ran["sla_digest"]}).text
    assert "billing 团队" in theirs and "complaints 团队" not in theirs
    assert "chen.jing" not in theirs and "首次响应" not in theirs
