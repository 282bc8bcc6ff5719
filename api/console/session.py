"""The console's session: one cookie, encrypted and signed, that holds the credentials a
person signed in with and the token that every form of theirs carries (CSRF).

The cookie is a Fernet token (cryptography: AES and HMAC-SHA256), so the browser can
neither read the API key in it nor change it. Each request checks those credentials the
way the API checks a bearer token (`api.auth.identify`), so a revoked key or an expired
provider token ends the session at once, and roles and team scopes are the API's.
The session's lifetime is counted on the service's clock, so tests move time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from core.runtime import Runtime

COOKIE = "caseflow_console"
LANGUAGE_COOKIE = "caseflow_console_lang"
LIFETIME = timedelta(hours=12)  # one working day, then sign in again
CSRF_FIELD = "csrf_token"
PATH = "/console"
# What browsers keep of one cookie, its name and value together (RFC 6265 asks at least
# this much of them, and the common ones store no more): a longer one is dropped.
MAX_COOKIE_BYTES = 4096


@dataclass(frozen=True)
class ConsoleSession:
    """What the cookie holds: the credentials (None before sign-in), the form token and
    when the session began (in UTC, by the service's clock)."""

    csrf: str
    issued_at: datetime
    credentials: str | None = None
    # A sign-in at the identity provider under way: its state, PKCE verifier and the
    # page to return to, until the provider sends the person back.
    pending: dict[str, str] | None = None
    # The provider's refresh token, for a new access token when this one expires.
    refresh: str | None = None
    # Signed in at the provider (not with a key or a pasted token): signing out ends the
    # provider's session too, where CASEFLOW_OIDC_END_SESSION_URL is set.
    provider: bool = False
    # The provider's ID token, the hint that names the person at its end-session
    # endpoint; kept only while the cookie still fits in MAX_COOKIE_BYTES (write_session).
    id_token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.credentials is not None


def _fernet(rt: Runtime) -> Fernet:
    # Derived from the service's secret (CASEFLOW_SURVEY_SECRET or the generated one), for
    # this use only: a survey link's signature opens no session, and no session a survey.
    derived = hmac.new(rt.survey_secret, b"caseflow console session", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def new_session(rt: Runtime, credentials: str | None = None) -> ConsoleSession:
    """A fresh session (and form token), e.g. at sign-in, so a token seen before is void."""
    return ConsoleSession(csrf=secrets.token_urlsafe(32), issued_at=rt.clock.now(),
                          credentials=credentials)


def read_session(request: Request, rt: Runtime) -> ConsoleSession | None:
    """The request's session, or None if it has none, a forged one or an expired one."""
    token = request.cookies.get(COOKIE)
    return session_in(token, rt) if token else None


def session_in(token: str, rt: Runtime) -> ConsoleSession | None:
    """The session a cookie's value holds, or None if it is forged or expired."""
    try:
        payload = json.loads(_fernet(rt).decrypt(token.encode("ascii")))
        pending = payload.get("pending")
        session = ConsoleSession(csrf=str(payload["csrf"]),
                                 issued_at=datetime.fromisoformat(payload["issued_at"]),
                                 credentials=payload.get("credentials"),
                                 pending={str(k): str(v) for k, v in pending.items()}
                                 if isinstance(pending, dict) else None,
                                 refresh=_text_or_none(payload.get("refresh")),
                                 provider=payload.get("provider") is True,
                                 id_token=_text_or_none(payload.get("id_token")))
    except (InvalidToken, ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError):
        return None
    if rt.clock.now() - session.issued_at >= LIFETIME:
        return None
    return session


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def write_session(response: Response, rt: Runtime, session: ConsoleSession) -> None:
    """Set the cookie: HttpOnly, SameSite=Lax, Secure when the service is reached by https.

    The ID token is left out when the cookie would not fit with it: a browser drops a
    cookie past MAX_COOKIE_BYTES, which would sign the person out at once, while without
    the hint the provider merely asks them to confirm signing out."""
    token = cookie_value(rt, session)
    if session.id_token is not None and len(COOKIE) + 1 + len(token) > MAX_COOKIE_BYTES:
        token = cookie_value(rt, replace(session, id_token=None))
    remaining = LIFETIME - (rt.clock.now() - session.issued_at)
    response.set_cookie(COOKIE, token, max_age=max(int(remaining.total_seconds()), 0),
                        path=PATH, httponly=True, samesite="lax", secure=is_https(rt))


def cookie_value(rt: Runtime, session: ConsoleSession) -> str:
    """The cookie's value for `session`: its fields as JSON, encrypted and signed."""
    payload = json.dumps({"csrf": session.csrf, "issued_at": session.issued_at.isoformat(),
                          "credentials": session.credentials, "pending": session.pending,
                          "refresh": session.refresh, "provider": session.provider,
                          "id_token": session.id_token})
    return _fernet(rt).encrypt(payload.encode()).decode("ascii")


def end_session(response: Response, rt: Runtime) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax",
                           secure=is_https(rt))


def is_https(rt: Runtime) -> bool:
    return rt.settings.resolved_public_url.startswith("https://")


def csrf_matches(session: ConsoleSession | None, submitted: str | None) -> bool:
    """Whether a form's token is its session's (compared in constant time)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "replace"))
