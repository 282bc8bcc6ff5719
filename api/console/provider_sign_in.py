"""Signing in with the organisation's OpenID Connect provider: the authorization-code
flow with PKCE (RFC 7636), where `CASEFLOW_OIDC_CLIENT_ID`, `..._AUTHORIZATION_URL` and
`..._TOKEN_URL` are set.

The console sends the person to the provider with a random `state` and a PKCE
challenge, both kept in its encrypted session cookie; when the provider sends them
back with a code, the console checks the state, exchanges the code (with the PKCE
verifier, and the client secret if there is one) for an access token, and checks that
token exactly as the API checks a bearer token. The session then holds the token, and
the refresh token if the provider gives one: when the access token expires, the console
asks the provider for another (`api.console.web.visit`), and the session ends when the
provider refuses (a person it disabled) or gave no refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import replace
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.auth import client_address, identify
from api.console.provider_tokens import ProviderProblem, exchange_code
from api.console.session import new_session, read_session, write_session
from api.console.signin import refusal_of, safe_next
from api.console.web import render, see_other, words_of
from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings

router = APIRouter()
CALLBACK = "/console/sign-in/provider/callback"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def redirect_uri(settings: Settings) -> str:
    return settings.resolved_public_url + CALLBACK


@router.get("/sign-in/provider")
async def start(request: Request, next: str | None = None) -> Response:
    """Send the person to the provider's sign-in page."""
    rt = runtime_module.current()
    settings = rt.settings
    if not settings.oidc_sign_in or rt.oidc is None:
        return see_other("/console/sign-in")
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    session = read_session(request, rt) or new_session(rt)
    session = replace(session, pending={"state": state, "verifier": verifier,
                                        "next": safe_next(next)})
    query = urlencode({"response_type": "code", "client_id": settings.oidc_client_id,
                       "redirect_uri": redirect_uri(settings), "scope": "openid",
                       "state": state, "code_challenge": _challenge(verifier),
                       "code_challenge_method": "S256"})
    answer = see_other(f"{settings.oidc_authorization_url}?{query}")
    write_session(answer, rt, session)
    return answer


def _problem_page(request: Request, rt: Runtime, status: int, problem: str) -> Response:
    session = new_session(rt)
    page = render(None, request, "sign_in.html", status=status, csrf=session.csrf,
                  back_to="/console/queue", oidc=True, provider=True, problem=problem)
    write_session(page, rt, session)
    return page


@router.get("/sign-in/provider/callback")
async def callback(request: Request, code: str | None = None, state: str | None = None,
                   error: str | None = None) -> Response:
    """Where the provider sends the person back: check, exchange, sign in."""
    rt = runtime_module.current()
    words = words_of(request)
    session = read_session(request, rt)
    pending = session.pending if session else None
    if pending is None or not state or not hmac.compare_digest(
            pending.get("state", "").encode(), state.encode("utf-8", "replace")):
        return _problem_page(request, rt, 400, words(
            "This sign-in was not started here, or has expired: sign in again."))
    if error or not code:
        return _problem_page(request, rt, 401, words(
            "The identity provider did not sign you in ({reason}).", reason=error or "no code"))
    try:
        tokens = await run_in_threadpool(exchange_code, rt.settings, code,
                                         pending["verifier"], redirect_uri(rt.settings))
        identity = await identify(rt, HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=tokens.access), client_address(request))
    except ProviderProblem as exc:
        return _problem_page(request, rt, 502, str(exc))
    except HTTPException as exc:
        return _problem_page(request, rt, exc.status_code, str(exc.detail))
    refused = refusal_of(identity, words)
    if refused is not None:
        return _problem_page(request, rt, 403, refused)
    answer = see_other(pending.get("next") or "/console/queue")
    write_session(answer, rt, replace(new_session(rt, tokens.access), refresh=tokens.refresh,
                                      provider=True, id_token=tokens.id_token))
    return answer
