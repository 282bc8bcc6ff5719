"""Signing in to the console with the organisation's OpenID Connect provider: the
authorization-code flow with PKCE against a real local HTTP server standing in for
the provider (its key set, its token endpoint and its end-session endpoint)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from api.app import create_app
from api.console.session import COOKIE, MAX_COOKIE_BYTES, cookie_value, session_in
from core import runtime as runtime_module
from engine.clock import FrozenClock
from tests.support import issue_key

ISSUER, AUDIENCE, CLIENT = "https://id.example.test/realms/service", "caseflow", "console"
SIGNING = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
Renewal = tuple[str, Callable[[], str]]  # the person, and what mints their next token


class Provider:
    """The provider's side: codes it issued, each with the PKCE challenge and the
    token it stands for, and the refresh tokens it gave, each renewing one person's
    access token until the provider disables them."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, str, str, Renewal | None]] = {}
        self.exchanges: list[dict[str, str]] = []
        self.renewals: dict[str, Renewal] = {}  # refresh token -> the person, a new token
        self.disabled: set[str] = set()
        self.id_tokens: dict[str, str] = {}  # code -> the ID token its exchange gives
        self.first_refresh: dict[str, str] = {}  # code -> the refresh token it gives
        self.sign_outs: list[dict[str, str]] = []  # the end-session endpoint's calls

    def authorize(self, location: str, token: str, renewal: Renewal | None = None,
                  id_token: str | None = None, refresh_token: str | None = None
                  ) -> tuple[str, str]:
        """What the provider's sign-in page does: (code, state) to send back; with a
        `renewal`, the code's exchange gives a refresh token too (`refresh_token`, or a
        short random one), and an `id_token`."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = (query["code_challenge"], query["redirect_uri"], token, renewal)
        if id_token is not None:
            self.id_tokens[code] = id_token
        if refresh_token is not None and renewal is not None:
            self.first_refresh[code] = refresh_token
        return code, query["state"]

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form)
        found = self.codes.pop(form.get("code", ""), None)
        id_token = self.id_tokens.pop(form.get("code", ""), None)
        first_refresh = self.first_refresh.pop(form.get("code", ""), None)
        if found is None:
            return 400, {"error": "invalid_grant"}
        challenge, uri, token, renewal = found
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != challenge:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != uri or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_request"}
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                     **({"refresh_token": self._refresh_token(renewal, first_refresh)}
                        if renewal else {}),
                     **({"id_token": id_token} if id_token else {})}

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # Each refresh token is good once (rotated), and never for a disabled person.
        renewal = self.renewals.pop(form.get("refresh_token", ""), None)
        if renewal is None or renewal[0] in self.disabled or form.get("client_id") != CLIENT:
            return 400, {"error": "invalid_grant"}
        return 200, {"access_token": renewal[1](), "token_type": "Bearer", "expires_in": 300,
                     "refresh_token": self._refresh_token(renewal)}

    def _refresh_token(self, renewal: Renewal, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(24)
        self.renewals[token] = renewal
        return token


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Provider, str]]:
    state = Provider()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING.public_key()))
    keys = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            address = urlsplit(self.path)
            if address.path != "/logout":
                self._answer(200, keys)
                return
            # The end-session endpoint: it ends the person's session here (recorded)
            # and sends them back where the client asked, with its state.
            query = {k: v[0] for k, v in parse_qs(address.query).items()}
            state.sign_outs.append(query)
            back = query.get("post_logout_redirect_uri", "")
            self.send_response(302)
            self.send_header("Location", f"{back}?state={query.get('state', '')}")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            status, body = state.exchange(form)
            self._answer(status, json.dumps(body))

        def _answer(self, status: int, body: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def console(make_runtime, provider) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    _, url = provider
    rt = make_runtime(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=f"{url}/certs",
                      oidc_name_claim="preferred_username", oidc_client_id=CLIENT,
                      oidc_authorization_url="https://id.example.test/auth",
                      oidc_token_url=f"{url}/token", oidc_end_session_url=f"{url}/logout")
    base = rt.settings.resolved_public_url.split("://")[0] + "://testserver"
    with TestClient(create_app(manage_runtime=False), follow_redirects=False,
                    base_url=base) as client:
        yield client


def access_token(clock: FrozenClock, **claims: Any) -> str:
    now = clock.now()
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "8f2c", "preferred_username": "wang.fang",
               "caseflow_role": "supervisor", "caseflow_teams": ["complaints"],
               "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())}
    payload.update(claims)
    return jwt.encode(payload, SIGNING, algorithm="RS256", headers={"kid": "k1"})


def start(console: TestClient, next_page: str = "/console/crises") -> str:
    page = console.get("/console/sign-in")
    assert "/console/sign-in/provider" in page.text
    answer = console.get("/console/sign-in/provider", params={"next": next_page})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("https://id.example.test/auth?")
    return location


def test_a_person_signs_in_at_the_provider_and_comes_back_signed_in(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, _ = provider
    code, sent_state = state.authorize(start(console), access_token(clock))
    answer = console.get("/console/sign-in/provider/callback",
                         params={"code": code, "state": sent_state})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/crises"
    page = console.get("/console/crises")
    assert page.status_code == 200 and "wang.fang" in page.text
    assert state.exchanges[-1]["client_id"] == CLIENT
    assert "client_secret" not in state.exchanges[-1]  # a public client: PKCE alone
    clock.advance(timedelta(minutes=6))  # the token expired: so did the session
    assert console.get("/console/crises").status_code == 303


def test_a_callback_with_another_state_or_verifier_signs_nobody_in(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, _ = provider
    code, _ = state.authorize(start(console), access_token(clock))
    forged = console.get("/console/sign-in/provider/callback",
                         params={"code": code, "state": "guessed"})
    assert forged.status_code == 400
    assert console.get("/console/crises").status_code == 303
    stranger = TestClient(console.app, follow_redirects=False, base_url=str(console.base_url))
    code, sent_state = state.authorize(start(console), access_token(clock))
    stolen = stranger.get("/console/sign-in/provider/callback",
                          params={"code": code, "state": sent_state})
    assert stolen.status_code == 400  # no session of theirs started this sign-in


def test_the_providers_refusals_show_on_the_sign_in_page(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, _ = provider
    _, sent_state = state.authorize(start(console), access_token(clock))
    denied = console.get("/console/sign-in/provider/callback",
                         params={"error": "access_denied", "state": sent_state})
    assert denied.status_code == 401 and "access_denied" in denied.text
    _, sent_state = state.authorize(start(console), access_token(clock))
    unknown = console.get("/console/sign-in/provider/callback",
                          params={"code": "never-issued", "state": sent_state})
    assert unknown.status_code == 502 and "invalid_grant" in unknown.text
    code, sent_state = state.authorize(start(console), access_token(
        clock, caseflow_role="scheduler", caseflow_teams=None))
    no_console = console.get("/console/sign-in/provider/callback",
                             params={"code": code, "state": sent_state})
    assert no_console.status_code == 403 and "scheduler" in no_console.text
    assert console.get("/console/crises").status_code == 303


def test_an_expired_token_is_renewed_until_the_provider_disables_the_person(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, _ = provider
    person = secrets.token_hex(8)  # the provider's account: this test's alone
    renewal = (person, lambda: access_token(clock))
    code, sent_state = state.authorize(start(console), access_token(clock), renewal)
    assert console.get("/console/sign-in/provider/callback",
                       params={"code": code, "state": sent_state}).status_code == 303
    assert console.get("/console/queue").status_code == 200
    for _ in range(2):  # each renewal with the refresh token the last one gave
        clock.advance(timedelta(minutes=6))
        answer = console.get("/console/queue", params={"team": "complaints"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console/queue?team=complaints"
        assert state.exchanges[-1]["grant_type"] == "refresh_token"
        page = console.get(answer.headers["location"])
        assert page.status_code == 200 and "wang.fang" in page.text
    # A form posted with an expired token is renewed and sent again as it was.
    token = CSRF.search(page.text)
    assert token is not None
    form = {"csrf_token": token[1], "case": "999999", "assignee": "li.wei"}
    clock.advance(timedelta(minutes=6))
    answer = console.post("/console/workload/reassign", data=form)
    assert answer.status_code == 307 and answer.headers["location"] == "/console/workload/reassign"
    again = console.post(answer.headers["location"], data=form)
    assert again.status_code == 404, again.text  # read with its token: no such case

    state.disabled.add(person)
    clock.advance(timedelta(minutes=6))
    answer = console.get("/console/queue")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=")
    assert state.exchanges[-1]["grant_type"] == "refresh_token"  # asked, and refused
    assert console.get("/console/queue").headers["location"].startswith("/console/sign-in")


def id_token(clock: FrozenClock, **claims: Any) -> str:
    now = clock.now()
    payload = {"iss": ISSUER, "aud": CLIENT, "sub": "8f2c", "iat": int(now.timestamp()),
               "exp": int((now + timedelta(minutes=5)).timestamp())}
    payload.update(claims)
    return jwt.encode(payload, SIGNING, algorithm="RS256", headers={"kid": "k1"})


def signed_in_at_provider(console: TestClient, provider: Provider, access: str,
                          renewal: Renewal | None = None, id_token: str | None = None,
                          refresh_token: str | None = None) -> str:
    """Sign in at the provider; the session cookie's value."""
    code, sent_state = provider.authorize(start(console), access, renewal, id_token,
                                          refresh_token)
    answer = console.get("/console/sign-in/provider/callback",
                         params={"code": code, "state": sent_state})
    assert answer.status_code == 303, answer.text
    return console.cookies[COOKIE]


def sign_out(console: TestClient) -> httpx.Response:
    page = console.get("/console/queue")
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token is not None
    answer = console.post("/console/sign-out", data={"csrf_token": token[1]})
    assert answer.status_code == 303, answer.text
    assert COOKIE not in console.cookies  # the console's session ended here, at once
    return answer


def test_signing_out_ends_the_session_at_the_provider_too(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, url = provider
    hint = id_token(clock)
    signed_in_at_provider(console, state, access_token(clock), id_token=hint)
    location = sign_out(console).headers["location"]
    assert location.startswith(f"{url}/logout?")
    at_provider = httpx.get(location)  # the browser follows it to the provider
    called = state.sign_outs[-1]
    sign_in_page = runtime_module.current().settings.resolved_public_url + "/console/sign-in"
    assert called["client_id"] == CLIENT and called["id_token_hint"] == hint
    assert called["post_logout_redirect_uri"] == sign_in_page
    assert len(called["state"]) >= 16
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == sign_in_page
    assert console.get(back.path, params=back.query).status_code == 200
    assert console.get("/console/queue").status_code == 303  # signed out here too


def keycloak_sized(clock: FrozenClock) -> tuple[str, str, str]:
    """An access, a refresh and an ID token of the sizes a Keycloak realm issues with
    its default client scopes (profile, email, roles, web origins), signed with RS256 (the
    refresh token with HS512): 1.4, 0.6 and 1.0 kB."""
    person = {"sid": secrets.token_hex(18), "email_verified": True, "name": "Wang Fang",
              "given_name": "Fang", "family_name": "Wang", "email": "wang.fang@example.test",
              "session_state": secrets.token_hex(18), "acr": "1", "typ": "Bearer"}
    access = access_token(clock, jti=secrets.token_hex(18), azp=CLIENT,
                          scope="openid profile email", **person,
                          **{"allowed-origins": ["https://caseflow.example.test"],
                             "realm_access": {"roles": ["default-roles-service",
                                                        "offline_access", "uma_authorization"]},
                             "resource_access": {"account": {"roles": [
                                 "manage-account", "manage-account-links", "view-profile"]}}})
    refresh = jwt.encode({"exp": 1, "iat": 1, "jti": secrets.token_hex(18), "iss": ISSUER,
                          "aud": ISSUER, "sub": "8f2c", "typ": "Refresh", "azp": CLIENT,
                          "session_state": person["session_state"], "sid": person["sid"],
                          "scope": "openid profile email"}, secrets.token_bytes(64),
                         algorithm="HS512")
    identity = id_token(clock, jti=secrets.token_hex(18), auth_time=1, typ="ID", azp=CLIENT,
                        at_hash=secrets.token_urlsafe(16), preferred_username="wang.fang",
                        **{k: v for k, v in person.items() if k != "typ"})
    return access, refresh, identity


def test_an_id_token_that_would_overfill_the_cookie_is_not_kept(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, url = provider
    access, refresh, hint = keycloak_sized(clock)
    assert len(access) > 1400 and len(refresh) > 550 and len(hint) > 1000
    renewal = (secrets.token_hex(8), lambda: access_token(clock))
    cookie = signed_in_at_provider(console, state, access, renewal, hint, refresh)
    # With the ID token the cookie would pass what browsers keep, so it holds the rest.
    session = session_in(cookie, runtime_module.current())
    assert session is not None and session.refresh == refresh and session.id_token is None
    assert len(COOKIE) + 1 + len(cookie) <= MAX_COOKIE_BYTES
    with_hint = cookie_value(runtime_module.current(), replace(session, id_token=hint))
    assert len(COOKIE) + 1 + len(with_hint) > MAX_COOKIE_BYTES
    location = sign_out(console).headers["location"]
    assert location.startswith(f"{url}/logout?")
    httpx.get(location)
    assert "id_token_hint" not in state.sign_outs[-1]
    assert state.sign_outs[-1]["client_id"] == CLIENT


def test_people_signed_in_with_a_key_or_token_sign_out_of_the_console_alone(
        console: TestClient, provider: tuple[Provider, str], clock: FrozenClock) -> None:
    state, _ = provider
    calls = len(state.sign_outs)
    rt = runtime_module.current()
    for credentials in (issue_key(rt, "supervisor", teams=["complaints"]),
                        access_token(clock)):  # a provider's token pasted in the form
        page = console.get("/console/sign-in")
        token = CSRF.search(page.text)
        assert token is not None
        assert console.post("/console/sign-in", data={
            "csrf_token": token[1], "credentials": credentials}).status_code == 303
        assert sign_out(console).headers["location"] == "/console/sign-in"
    assert len(state.sign_outs) == calls


def test_a_bad_end_session_address_stops_the_service_at_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from core.settings import Settings

    monkeypatch.setenv("CASEFLOW_OIDC_END_SESSION_URL", "id.example.test/logout")
    with pytest.raises(ValueError, match="oidc_end_session_url"):
        Settings(policies=tmp_path)
    monkeypatch.setenv("CASEFLOW_OIDC_END_SESSION_URL", "https://id.example.test/logout")
    with pytest.raises(ValueError, match="CASEFLOW_OIDC_END_SESSION_URL"):
        Settings(policies=tmp_path)  # without the provider's sign-in settings
