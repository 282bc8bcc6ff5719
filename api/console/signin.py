"""Signing in and out, and the language switch.

A person signs in with their API key, or, where the organisation's OpenID Connect
provider is configured, with an access token it issued; either is checked exactly as
the API checks a bearer token. Integration keys and roles without cases (admin,
scheduler) have no console.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.auth import client_address, identify
from api.console.session import (
    LANGUAGE_COOKIE,
    PATH,
    end_session,
    is_https,
    new_session,
    read_session,
    write_session,
)
from api.console.web import read_form, render, see_other, words_of
from api.console.wording import Wording
from core import runtime as runtime_module
from domain.access import ActorKind, Identity, Permission
from domain.messages import EN, ZH

router = APIRouter()
HOME = "/console/queue"
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
    rt = runtime_module.current()
    await read_form(request, read_session(request, rt))
    answer = see_other("/console/sign-in")
    end_session(answer, rt)
    return answer


@router.get("/language")
async def switch_language(request: Request, to: str = ZH, next: str | None = None) -> Response:
    """Remember the language (a year) and go back to the page."""
    rt = runtime_module.current()
    answer = see_other(safe_next(next))
    answer.set_cookie(LANGUAGE_COOKIE, EN if to == EN else ZH, max_age=365 * 86400,
                      path=PATH, httponly=True, samesite="lax", secure=is_https(rt))
    return answer
