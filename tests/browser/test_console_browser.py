"""The console in headless Chromium against the real service process (`caseflow serve`).

The service's clock runs 60 times as fast (CASEFLOW_CLOCK_SPEED), the way the
end-to-end tests move time with the real process: an urgent complaint's 10-minute
first response is due 10 seconds after it opens. Each page's screenshot goes to
tests/browser/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    api,
    horizontal_overflow,
    key_for,
    launch,
    shoot,
    sign_in,
)
from tests.e2e.service import ServiceProcess
from tests.support import write_policies

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PAGES = ["queue", "overview", "workload", "crises", "calls", "improvement", "reports"]
BREACH_WAIT = 60.0  # seconds of real time; the urgent clock needs 10


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("console")
    (root / "data").mkdir()
    svc = ServiceProcess(root / "data", write_policies(root / "policies"),
                         CASEFLOW_FLOW_RUNNER="inline", CASEFLOW_CLOCK_SPEED="60")
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield context.new_page()
    context.close()


def open_complaint(svc: ServiceProcess, key: str, subject: str, **extra: object) -> dict:
    with api(svc, key) as client:
        answer = client.post("/cases", json={"subject": subject, "customer": {
            "ref": f"ref-{subject}", "name": "林女士", "tier": "B", "phone": "13912345678"},
            **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def seed_improvement_and_reports(svc: ServiceProcess, supervisor: str) -> None:
    """A finding, a PDCA cycle and a review run, so those pages show something."""
    manager = key_for(svc, "manager", "liu.yang")
    scheduler = key_for(svc, "scheduler", "review-bot")
    with api(svc, manager) as client:
        answer = client.post("/findings", json={"title": "回复慢", "team": "complaints",
                                                "description": "首次响应超时集中在晚班"})
        assert answer.status_code == 201, answer.text
    with api(svc, supervisor) as client:
        answer = client.post("/pdca-cycles", json={
            "problem": "首次响应慢", "kpi": "complaint_on_time_rate", "target": 0.95,
            "scope": {"team": "complaints"}})
        assert answer.status_code == 201, answer.text
    with api(svc, scheduler) as client:
        answer = client.post("/reviews/daily-sla-digest/runs")
        assert answer.status_code in (200, 201), answer.text


def first_row_sla(page: Page) -> tuple[int, str]:
    row = page.locator("#queue tbody tr").first
    return int(row.get_attribute("data-case") or 0), row.locator("td.sla").inner_text()


def test_a_case_about_to_breach_tops_the_queue_then_shows_breached(
        service: ServiceProcess, page: Page) -> None:
    opener = key_for(service, "supervisor", "opener.breach", ["complaints"])
    open_complaint(service, opener, "routine enquiry", priority="routine", category="delivery")
    urgent = open_complaint(service, opener, "gas smell in the shop", priority="urgent",
                            category="delivery")
    sign_in(page, service, key_for(service, "supervisor", "wang.fang", ["complaints"]))
    case_id, badge = first_row_sla(page)
    assert case_id == urgent["id"]
    assert re.search(r"还剩 \d+ 分钟", badge), badge
    shoot(page, "queue-countdown")
    deadline = time.monotonic() + BREACH_WAIT
    while "已超时" not in badge and time.monotonic() < deadline:
        time.sleep(1)  # the service's clock runs a minute a second: reload and look again
        page.reload()
        case_id, badge = first_row_sla(page)
    assert case_id == urgent["id"] and "已超时" in badge, badge
    shoot(page, "queue-breached")


def test_the_case_page_acknowledges_and_the_timeline_shows_it(
        service: ServiceProcess, page: Page) -> None:
    opener = key_for(service, "supervisor", "opener.ack", ["complaints"])
    case = open_complaint(service, opener, "router keeps dropping", category="delivery")
    agent = key_for(service, "agent", case["assignee"], ["complaints"])
    sign_in(page, service, agent, f"/console/cases/{case['id']}")
    assert page.locator(".clock .bar").count() == 2  # first response and resolution
    shoot(page, "case-before")
    page.click("button:has-text('确认受理')")
    page.wait_for_url(re.compile(r".*done=acknowledge"))
    assert "已记录：确认受理。" in page.locator(".notice").inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "确认受理" in timeline and case["assignee"] in timeline
    shoot(page, "case-acknowledged")
    with api(service, opener) as client:
        assert client.get(f"/cases/{case['id']}").json()["stage"] == "in_progress"


def test_a_manager_approves_a_crisis_notice(service: ServiceProcess, page: Page) -> None:
    lead = key_for(service, "supervisor", "crisis.lead", ["complaints"])
    with api(service, lead) as client:
        crisis = client.post("/crises", json={"title": "支付系统中断"}).json()
        for event, data in (("confirm", {"likelihood": "likely", "impact": "severe"}),
                            ("draft_notice", {"channel": "website",
                                              "summary": "我们正在处理。"})):
            answer = client.post(f"/cases/{crisis['id']}/events",
                                 json={"type": event, "data": data})
            assert answer.status_code == 200, answer.text
    sign_in(page, service, key_for(service, "manager", "liu.yang"), "/console/crises")
    card = page.locator("section.card", has_text="支付系统中断")
    assert "S1" in card.inner_text() and "待批准" in card.inner_text()
    shoot(page, "crises-before")
    card.locator("button:has-text('批准')").click()
    page.wait_for_url(re.compile(r".*done=approve_notice"))
    card = page.locator("section.card", has_text="支付系统中断")
    assert "已批准" in card.inner_text()
    shoot(page, "crises-approved")
    with api(service, lead) as client:
        notice = client.get(f"/crises/{crisis['id']}").json()["notices"][0]
    assert (notice["status"], notice["approved_by"]) == ("approved", "liu.yang")


def test_the_language_switch(service: ServiceProcess, page: Page) -> None:
    sign_in(page, service, key_for(service, "agent", "zhang.min", ["complaints"]))
    assert page.locator("nav").inner_text().split()[0] == "队列"
    page.click("a.lang")
    page.wait_for_url(f"{service.url}/console/queue")
    assert page.locator("nav").inner_text().split()[0] == "Queue"
    assert page.locator("html").get_attribute("lang") == "en"
    shoot(page, "queue-english")
    page.click("a.lang")
    assert page.locator("nav").inner_text().split()[0] == "队列"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_page_fits_the_screen_without_horizontal_scroll(
        service: ServiceProcess, browser: Browser, viewport: dict[str, int]) -> None:
    opener = key_for(service, "supervisor", f"opener.{viewport['width']}", ["complaints"])
    case = open_complaint(service, opener, "a parcel with a long subject " * 3,
                          category="delivery")
    if viewport is DESKTOP:  # something on the improvement and reports pages
        seed_improvement_and_reports(service, opener)
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    try:
        sign_in(page, service, key_for(service, "supervisor", "wang.fang",
                                       ["complaints", "billing"]))
        suffix = "" if viewport is DESKTOP else "-phone"
        for name in [*PAGES, f"cases/{case['id']}"]:
            page.goto(f"{service.url}/console/{name}")
            assert page.locator("main").count() == 1, name
            assert horizontal_overflow(page) <= 0, (name, viewport)
            shoot(page, ("case" if name.startswith("cases/") else name) + suffix)
        chart = page.goto(f"{service.url}/console/reports/trends.svg?bucket=month")
        assert chart is not None and chart.status == 200
        assert chart.headers["content-type"].startswith("image/svg+xml")
    finally:
        context.close()


def test_a_supervisor_of_one_team_never_sees_another_teams_case(
        service: ServiceProcess, page: Page, tmp_path: Path) -> None:
    opener = key_for(service, "supervisor", "opener.scope", ["complaints", "billing"])
    theirs = open_complaint(service, opener, "OTHER-TEAM-SECRET refund late",
                            category="delivery")
    ours = open_complaint(service, opener, "OUR-TEAM invoice twice", category="billing")
    assert (theirs["team"], ours["team"]) == ("complaints", "billing")
    sign_in(page, service, key_for(service, "supervisor", "gao.yan", ["billing"]))
    for name in PAGES:
        page.goto(f"{service.url}/console/{name}")
        text = page.content()
        assert "OTHER-TEAM-SECRET" not in text, name
        assert f'href="/console/cases/{theirs["id"]}"' not in text, name
    page.goto(f"{service.url}/console/queue")
    assert "OUR-TEAM invoice twice" in page.content()
    answer = page.goto(f"{service.url}/console/cases/{theirs['id']}")
    assert answer is not None and answer.status == 404
    assert "OTHER-TEAM-SECRET" not in page.content()
    page.goto(f"{service.url}/console/queue?team=complaints")
    assert "OTHER-TEAM-SECRET" not in page.content()
