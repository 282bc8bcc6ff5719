"""Bearer tokens from an OpenID Connect provider: keys the test generates, served over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from api.app import create_app
from core import runtime as runtime_module
from tests.api.helpers import complaint
from tests.e2e.service import free_port
from tests.support import bearer, issue_key

ISSUER, AUDIENCE = "https://id.example.test/realms/service", "caseflow"
SIGNING = rsa.generate_private_key(public_exponent=65537, key_size=2048)
IMPOSTOR = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """The provider's key set, published by a real local HTTP server."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()
    server.server_close()


@pytest.fixture
def oidc_client(make_runtime, jwks_url) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    # This provider owns preferred_username (it is the person's id in teams.yaml).
    make_runtime(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_url,
                 oidc_name_claim="preferred_username")
    with TestClient(create_app(manage_runtime=False)) as client:
        yield client


def token(clock, key=SIGNING, **claims: Any) -> str:  # type: ignore[no-untyped-def]
    now = clock.now()
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "8f2c", "preferred_username": "li.wei",
               "caseflow_role": "agent", "caseflow_teams": ["complaints"],
               "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_valid_token_acts_as_the_person_it_names(oidc_client, clock):
    headers = bearer(token(clock))
    assert oidc_client.get("/me", headers=headers).json() == {
        "name": "li.wei", "kind": "person", "role": "agent", "teams": ["complaints"],
        "key_id": None}
    opened = oidc_client.post("/cases", json=complaint(), headers=headers)
    assert opened.status_code == 201
    assert opened.json()["timeline"][0]["actor"] == "li.wei"
    manager = bearer(token(clock, caseflow_role="manager", caseflow_teams=None))
    assert oidc_client.get(f"/cases/{opened.json()['id']}", headers=manager).status_code == 200
    outsider = bearer(token(clock, preferred_username="sun.hao", caseflow_teams=["billing"]))
    assert oidc_client.get(f"/cases/{opened.json()['id']}", headers=outsider).status_code == 404


def test_a_token_expires_by_the_service_clock(oidc_client, clock):
    headers = bearer(token(clock))
    clock.advance(timedelta(minutes=5))  # at exp, within the 30 s leeway
    assert oidc_client.get("/me", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=30))
    refused = oidc_client.get("/me", headers=headers)
    assert (refused.status_code, refused.json()["detail"]) == (401,
                                                               "the bearer token has expired")


@pytest.mark.parametrize("claims", [
    {"iss": "https://elsewhere.test"}, {"aud": "another-app"}, {"exp": None},
    {"key": IMPOSTOR}])
def test_a_token_from_elsewhere_or_forged_is_401(oidc_client, clock, claims):
    refused = oidc_client.get("/me", headers=bearer(token(clock, **claims)))
    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("invalid bearer token")


def test_an_unsigned_token_is_401(oidc_client, clock):
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "caseflow_role": "admin",
                           "exp": 4102444800}, None, algorithm="none", headers={"kid": "k1"})
    assert oidc_client.get("/me", headers=bearer(unsigned)).status_code == 401


@pytest.mark.parametrize(("claims", "reason"), [
    ({"caseflow_role": None}, "names no Caseflow role"),
    ({"caseflow_role": "customer"}, "names no Caseflow role"),
    ({"caseflow_teams": None}, "role agent needs at least one team"),
    ({"caseflow_teams": "complaints"}, "must be a list of teams"),
    ({"preferred_username": "system"}, "reserved for the service"),
])
def test_a_genuine_token_without_a_fitting_role_is_403(oidc_client, clock, claims, reason):
    refused = oidc_client.get("/me", headers=bearer(token(clock, **claims)))
    assert refused.status_code == 403
    assert reason in refused.json()["detail"]


def test_an_unreachable_provider_is_a_clear_401_not_a_crash(make_runtime, clock):
    make_runtime(oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                 oidc_jwks_url=f"http://127.0.0.1:{free_port()}/certs")
    with TestClient(create_app(manage_runtime=False)) as client:
        refused = client.get("/me", headers=bearer(token(clock)))
    assert refused.status_code == 401
    assert "keys cannot be fetched" in refused.json()["detail"]


def test_api_keys_keep_working_beside_tokens(oidc_client):
    key = bearer(issue_key(runtime_module.current(), "supervisor"))
    assert oidc_client.get("/me", headers=key).json()["role"] == "supervisor"


def test_by_default_a_token_is_named_by_its_subject(make_runtime, jwks_url, clock):
    make_runtime(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_url)
    with TestClient(create_app(manage_runtime=False)) as client:
        me = client.get("/me", headers=bearer(token(clock, preferred_username="zhao.lei")))
    assert me.json()["name"] == "8f2c"  # the subject, not the editable username
