"""What every console page shares: who is visiting, their language and zone, the
templates, and forms checked against the session's token."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.auth import client_address, identify
from api.console import provider_tokens
from api.console.session import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    ConsoleSession,
    csrf_matches,
    read_session,
    write_session,
)
from api.console.wording import Wording, detail_items, wording_for
from core import runtime as runtime_module
from core import worklists
from core.runtime import Runtime
from domain.access import Identity, Permission

HERE = Path(__file__).resolve().parent
# Only the service's own styles and images, no scripts, forms posting back to it.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
MAX_FORM_BYTES = 64 * 1024
TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True,
                        lstrip_blocks=True)


class FormRefused(Exception):
    """A posted form the console will not read: too large, unreadable, or without its
    session's token (4xx, with the reason on a page)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class SessionRenewed(Exception):
    """A session whose provider token expired, renewed with its refresh token: the same
    page again, with the renewed session's cookie (its form token kept, so a form posted
    with it is sent again as it was)."""

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__("renewed")
        self.session = session


class SignInRequired(Exception):
    """A page asked for without a valid session: the sign-in page, then back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


@dataclass
class Visit:
    """One request to a signed-in page: the person, their session, language and zone."""

    request: Request
    rt: Runtime
    identity: Identity
    session: ConsoleSession
    words: Wording
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def can(self, permission: Permission) -> bool:
        return self.identity.can(permission)


def visitor_zone(rt: Runtime, identity: Identity) -> tzinfo:
    """Where the visitor works: their first team's timezone (the teams policy's), or the
    service's default for those who see every team."""
    teams = sorted(identity.teams)
    if teams:
        return worklists.team_zone(rt, teams[0])
    return ZoneInfo(worklists.DEFAULT_ZONE)


def words_of(request: Request) -> Wording:
    return wording_for(request.cookies.get(LANGUAGE_COOKIE))


async def visit(request: Request) -> Visit:
    """The signed-in person behind the request, checked as the API checks a bearer token;
    without a valid session, the sign-in page."""
    rt = runtime_module.current()
    session = read_session(request, rt)
    back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if session is None or session.credentials is None:
        raise SignInRequired(back_to)
    if session.refresh is not None and rt.settings.oidc_sign_in and \
            provider_tokens.expired(session.credentials, rt.clock.now()):
        raise SessionRenewed(await _renewed(request, rt, session, back_to))
    try:
        identity = await identify(rt, HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=session.credentials), client_address(request))
    except HTTPException as exc:
        if exc.status_code == 429:
            raise
        raise SignInRequired(back_to) from None
    return Visit(request=request, rt=rt, identity=identity, session=session,
                 words=words_of(request), zone=visitor_zone(rt, identity))


VisitDep = Annotated[Visit, Depends(visit)]


async def _renewed(request: Request, rt: Runtime, session: ConsoleSession, back_to: str
                   ) -> ConsoleSession:
    """`session` with a new access token from the provider, checked as at sign-in; the
    sign-in page if the provider refuses (a person it disabled) or the token is refused."""
    try:
        tokens = await run_in_threadpool(provider_tokens.refresh, rt.settings,
                                         session.refresh or "")
        await identify(rt, HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=tokens.access), client_address(request))
    except (provider_tokens.ProviderProblem, HTTPException):
        raise SignInRequired(back_to) from None
    return replace(session, credentials=tokens.access,
                   refresh=tokens.refresh or session.refresh,
                   id_token=tokens.id_token or session.id_token)


def render(visit: Visit | None, request: Request, template: str, *, status: int = 200,
           words: Wording | None = None, **context: Any) -> HTMLResponse:
    """A page from its template, with the visitor, their words and the form token."""
    words = words or (visit.words if visit else words_of(request))
    done, case = request.query_params.get("done"), request.query_params.get("case")
    if visit is not None and done and context.get("notice") is None:
        context["notice"] = words("Recorded: {event}.", event=words.name("event", done)) + (
            " " + words("Case {id}.", id=case) if case and case.isdigit() else "")
    page = TEMPLATES.get_template(template).render(
        t=words, words=words, visit=visit, me=visit.identity if visit else None,
        csrf=visit.session.csrf if visit else context.pop("csrf", ""),
        csrf_field=CSRF_FIELD, path=request.url.path, details=detail_items, **context)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


async def read_form(request: Request, session: ConsoleSession | None) -> dict[str, str]:
    """A posted form (URL-encoded), its token checked against the session's (403 if not)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused(413, "The form is too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read.") from None
    form = {name: values[-1] for name, values in parsed.items()}
    if not csrf_matches(session, form.pop(CSRF_FIELD, None)):
        raise FormRefused(403, "The form's token does not match your session: reload the "
                               "page and send it again.")
    return form


def see_other(location: str) -> Response:
    return RedirectResponse(location, status_code=303)


def install(app: FastAPI) -> None:
    """Send a visitor without a session to the sign-in page, then back where they were."""

    @app.exception_handler(SessionRenewed)
    async def _renewed_session(request: Request, exc: SessionRenewed) -> Response:
        # 307 keeps a form's method and body; a page asked for again is a plain GET.
        status = 303 if request.method in ("GET", "HEAD") else 307
        answer = RedirectResponse(str(request.url.path) + (
            f"?{request.url.query}" if request.url.query else ""), status_code=status)
        write_session(answer, runtime_module.current(), exc.session)
        return answer

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return see_other(f"/console/sign-in?next={quote(exc.back_to, safe='')}")

    @app.exception_handler(FormRefused)
    async def _refused(request: Request, exc: FormRefused) -> Response:
        words = words_of(request)
        return render(None, request, "refused.html", status=exc.status, words=words,
                      problem=words(exc.reason))
