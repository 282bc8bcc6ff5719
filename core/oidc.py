"""Bearer tokens from the organisation's OpenID Connect provider, checked against its keys.

The token's signature, issuer and audience are checked by PyJWT; its lifetime is
checked against the service's clock, so tests move time instead of waiting. The role
and teams come from claims the provider is configured to add (names in the settings).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.keys import Unauthenticated
from core.settings import Settings
from domain.access import AccessRole, ActorKind, Identity, role_problem
from domain.process import SYSTEM_ACTOR

LEEWAY = timedelta(seconds=30)  # clocks of the provider and the service drift a little


class Forbidden(Exception):
    """A valid token that grants no Caseflow role."""


class OidcVerifier:
    """Verify bearer tokens of one issuer against its published key set."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience
        self._settings = settings
        self._keys = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, timeout=5)

    def identity(self, token: str, now: datetime) -> Identity:
        """The identity a token stands for; `Unauthenticated` or `Forbidden` if none."""
        s = self._settings
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, signing_key, algorithms=s.oidc_algorithms, audience=s.oidc_audience,
                issuer=s.oidc_issuer, options={"verify_exp": False, "verify_nbf": False,
                                               "verify_iat": False, "require": ["exp", "sub"]})
        except jwt.PyJWKClientConnectionError:
            raise Unauthenticated("the identity provider's keys cannot be fetched") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from None
        _check_lifetime(claims, now)
        role_claim = claims.get(s.oidc_role_claim, "")  # missing: "", which names no role
        try:
            role = AccessRole(role_claim)
        except ValueError:
            raise Forbidden(f"the token's {s.oidc_role_claim!r} claim names no Caseflow "
                            f"role; roles: {[r.value for r in AccessRole]}") from None
        teams_claim = claims.get(s.oidc_teams_claim) or []
        if not isinstance(teams_claim, list) or not all(isinstance(t, str) for t in teams_claim):
            raise Forbidden(f"the token's {s.oidc_teams_claim!r} claim must be a list of teams")
        teams = frozenset(teams_claim)
        problem = role_problem(role, teams)
        if problem:
            raise Forbidden(f"the token's claims do not fit: {problem}")
        name = str(claims.get(s.oidc_name_claim) or claims["sub"])[:120]
        if name == SYSTEM_ACTOR:
            raise Forbidden(f"{SYSTEM_ACTOR!r} is reserved for the service")
        return Identity(name=name, kind=ActorKind.person, role=role, teams=teams)


def _check_lifetime(claims: dict[str, Any], now: datetime) -> None:
    try:
        expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
        not_before = datetime.fromtimestamp(float(claims.get("nbf", 0)), UTC)
    except (TypeError, ValueError, OverflowError):
        raise Unauthenticated("invalid bearer token: exp and nbf must be timestamps") from None
    if now >= expires + LEEWAY:
        raise Unauthenticated("the bearer token has expired")
    if now < not_before - LEEWAY:
        raise Unauthenticated("the bearer token is not valid yet")
