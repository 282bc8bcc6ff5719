"""Signing in and out, and the language switch.

A person signs in with their API key, or, where the organisation's OpenID Connect
provider is configured, with an access token it issued; either is checked exactly as
the API checks a bearer token. Integration keys and roles without cases (admin,
scheduler) have no console.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.auth import client_address, identify
from api.console.session import (
    LANGUAGE_COOKIE,
    PATH,
    ConsoleSession,
    end_session,
    is_https,
    new_session,
    read_session,
    write_session,
)
from api.console.web import read_form, render, see_other, words_of
from api.console.wording import Wording
from core import runtime as runtime_module
from core.settings import Settings
from domain.access import ActorKind, Identity, Permission
from domain.messages import EN, ZH

router = APIRouter()
HOME = "/console/queue"
SIGN_IN = "/console/sign-in"
MAX_CREDENTIALS = 4096


def safe_next(target: str | None) -> str:
    """Only a console page: never an address elsewhere (an open redirect)."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return HOME


def refusal_of(identity: Identity, words: Wording) -> str | None:
    """Why a valid identity has no console (an integration, a role without cases)."""
    if identity.kind != ActorKind.person:
        return words("This key belongs to an integration, not a person.")
    if not identity.can(Permission.read_cases):
        return words("Role {role} works with the API, not the console.",
                     role=identity.role.value)
    return None


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    rt = runtime_module.current()
    session = read_session(request, rt) or new_session(rt)
    page = render(None, request, "sign_in.html", csrf=session.csrf, back_to=safe_next(next),
                  oidc=rt.oidc is not None, provider=rt.settings.oidc_sign_in, problem=None)
    write_session(page, rt, session)
    return page


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    rt = runtime_module.current()
    session = read_session(request, rt)
    form = await read_form(request, session)
    words = words_of(request)
    back_to = safe_next(form.get("next"))
    credentials = form.get("credentials", "").strip()
    problem = None
    status = 401
    if not credentials or len(credentials) > MAX_CREDENTIALS:
        problem = words("Enter your API key.")
    else:
        try:
            identity = await identify(rt, HTTPAuthorizationCredentials(
                scheme="Bearer", credentials=credentials), client_address(request))
        except HTTPException as exc:
            problem, status = str(exc.detail), exc.status_code
        else:
            problem = refusal_of(identity, words)
            status = 403
    if problem is not None:
        assert session is not None  # read_form checked its token
        return render(None, request, "sign_in.html", status=status, csrf=session.csrf,
                      back_to=back_to, oidc=rt.oidc is not None,
                      provider=rt.settings.oidc_sign_in, problem=problem)
    answer = see_other(back_to)
    write_session(answer, rt, new_session(rt, credentials))
    return answer


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the console's session; for a person who signed in at the provider, where its
    end-session endpoint is set, go on to end theirs there too (RP-Initiated Logout)."""
    rt = runtime_module.current()
    session = read_session(request, rt)
    await read_form(request, session)
    assert session is not None  # read_form checked its token
    end_session_url = rt.settings.oidc_end_session_url
    if session.provider and end_session_url:
        answer = see_other(provider_sign_out(rt.settings, end_session_url, session))
    else:
        answer = see_other(SIGN_IN)
    end_session(answer, rt)
    return answer


def provider_sign_out(settings: Settings, end_session_url: str, session: ConsoleSession) -> str:
    """The provider's end-session address for `session`'s person: it ends their session
    there and sends them back to the console's sign-in page, which must be registered at
    the provider as the client's post-logout redirect URI. The `state` comes back with
    them; the sign-in page needs nothing from it, so it is not kept."""
    query = {"client_id": settings.oidc_client_id or "",
             "post_logout_redirect_uri": settings.resolved_public_url + SIGN_IN,
             "state": secrets.token_urlsafe(16)}
    if session.id_token is not None:
        query["id_token_hint"] = session.id_token
    return end_session_url + ("&" if "?" in end_session_url else "?") + urlencode(query)


@router.get("/language")
async def switch_language(request: Request, to: str = ZH, next: str | None = None) -> Response:
    """Remember the language (a year) and go back to the page."""
    rt = runtime_module.current()
    answer = see_other(safe_next(next))
    answer.set_cookie(LANGUAGE_COOKIE, EN if to == EN else ZH, max_age=365 * 86400,
                      path=PATH, httponly=True, samesite="lax", secure=is_https(rt))
    return answer
