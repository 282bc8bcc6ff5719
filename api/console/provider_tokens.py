"""The console's requests to the OpenID Connect provider's token endpoint: a code
exchanged at sign-in, and a refresh token exchanged when the access token has expired.

The provider answers a refresh for a person it has disabled (or whose sign-in it has
ended) with an error, and the console session ends with it: a person disabled at the
provider keeps the console no longer than their last access token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jwt

from core.settings import Settings

TOKEN_TIMEOUT = 10.0  # seconds for the provider to answer


class ProviderProblem(Exception):
    """The provider's answer gives no token (HTTP 502 on the sign-in page)."""


@dataclass(frozen=True)
class ProviderTokens:
    """What the token endpoint gives: the access token, and the refresh token and the
    ID token if the provider gives them (a provider may keep the refresh token it gave
    before, and gives an ID token at sign-in, not always on a refresh: then None)."""

    access: str
    refresh: str | None = None
    id_token: str | None = None


def expired(access_token: str, now: datetime) -> bool:
    """Whether the provider's `access_token` has expired by `now` (its `exp`), read
    without checking it: only to renew it before the check, which a token that merely
    expired would fail and count against the client's address as a failed sign-in."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False,
                                                   "verify_exp": False})
    except jwt.PyJWTError:
        return False  # not a token whose expiry can be read: the check refuses it
    expiry = claims.get("exp")
    return isinstance(expiry, int | float) and expiry <= now.timestamp()


def exchange_code(settings: Settings, code: str, verifier: str, redirect_uri: str
                  ) -> ProviderTokens:
    """The tokens the provider gives for a sign-in's `code` (ProviderProblem if none)."""
    return _tokens(settings, {"grant_type": "authorization_code", "code": code,
                              "code_verifier": verifier, "redirect_uri": redirect_uri})


def refresh(settings: Settings, refresh_token: str) -> ProviderTokens:
    """New tokens for `refresh_token` (ProviderProblem if the provider refuses)."""
    return _tokens(settings, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _tokens(settings: Settings, grant: dict[str, str]) -> ProviderTokens:
    form = {**grant, "client_id": settings.oidc_client_id or ""}
    if settings.oidc_client_secret is not None:
        form["client_secret"] = settings.oidc_client_secret.get_secret_value()
    try:
        answer = httpx.post(settings.oidc_token_url or "", data=form, timeout=TOKEN_TIMEOUT,
                            headers={"Accept": "application/json"})
        body: Any = answer.json()
    except (httpx.HTTPError, ValueError):
        raise ProviderProblem("the identity provider did not answer") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if answer.status_code != 200 or not isinstance(token, str) or not token:
        reason = body.get("error", answer.status_code) if isinstance(body, dict) else \
            answer.status_code
        raise ProviderProblem(f"the identity provider gave no token ({reason})")
    return ProviderTokens(token, _text(body.get("refresh_token")), _text(body.get("id_token")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
