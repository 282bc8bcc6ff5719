"""/docs and /redoc work without internet: every asset they load is the service's own."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest


class _Assets(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name) and (tag != "a"):
                self.urls.append(found[name] or "")


def _loaded(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    # Swagger UI's bundle and configuration are named in the page's script as well.
    quoted = re.findall(r"""(?:url|src|href)\s*[:=(]\s*['"]([^'"]+)['"]""", html)
    return parser.urls + quoted


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_nothing_from_another_host(sqlite_client, page):
    answer = sqlite_client.get(page)
    assert answer.status_code == 200
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", answer.text), answer.text
    assert "cdn" not in answer.text.lower() and "fonts.googleapis" not in answer.text
    urls = _loaded(answer.text)
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        assert url.startswith("/"), url  # the service's own, not another host's
        asset = sqlite_client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


def test_the_docs_assets_have_their_licences(sqlite_client):
    for url in ("/docs-assets/swagger-ui/LICENSE", "/docs-assets/redoc/LICENSE"):
        assert sqlite_client.get(url).status_code == 200


def test_swagger_ui_asks_no_outside_validator(sqlite_client):
    assert '"validatorUrl": null' in sqlite_client.get("/docs").text


def test_the_oauth2_redirect_page_answers(sqlite_client):
    assert sqlite_client.get("/docs/oauth2-redirect").status_code == 200
