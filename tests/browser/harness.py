"""Drive Debian's Chromium (Playwright cannot download browsers here) against the real
service process: keys, sign-in, screenshots and the horizontal-scroll check."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Playwright

from tests.e2e.service import ServiceProcess

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def key_for(svc: ServiceProcess, role: str, name: str, teams: list[str] | None = None) -> str:
    """A fresh API key for a person, made with the service's admin key."""
    created = httpx.post(f"{svc.url}/admin/keys", timeout=10,
                         headers={"Authorization": f"Bearer {svc.admin_key()}"},
                         json={"name": name, "role": role, "teams": teams or []})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def api(svc: ServiceProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=svc.url, timeout=10, headers={"Authorization": f"Bearer {key}"})


def sign_in(page: Page, svc: ServiceProcess, key: str, next_page: str = "/console/queue") -> None:
    page.goto(f"{svc.url}{next_page}")
    assert "/console/sign-in" in page.url
    page.fill("#credentials", key)
    page.click("form[action='/console/sign-in'] button[type=submit]")
    page.wait_for_url(f"{svc.url}{next_page}")


def shoot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"))
