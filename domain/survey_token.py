"""Survey links: a token signed with HMAC-SHA256 that carries only a random nonce and expiry.

A token is `base64url(nonce ‖ expiry) . base64url(HMAC-SHA256(secret, purpose ‖ nonce ‖
expiry))`. The nonce is random and names the survey in the store; nothing in a token
says whose survey it is or which case it follows, so a link reveals nothing beyond its
own expiry. Without the secret nobody can make a token the service accepts, so altered
or guessed links are refused before the store is asked. Single use is the store's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

PURPOSE = b"caseflow-survey-link-v1\x00"
NONCE_BYTES = 16
_EXPIRY_BYTES = 8
_MAC_BYTES = 32
MAX_TOKEN_LENGTH = 100
_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class TokenInvalid(ValueError):
    """Not a link the service made: malformed, altered, or signed with another secret."""


class TokenExpired(ValueError):
    """A genuine link whose time is over."""


@dataclass(frozen=True)
class TokenClaims:
    nonce: str  # hex, as the store keeps it
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, PURPOSE + payload, hashlib.sha256).digest()


def sign(secret: bytes, nonce: bytes, expires_at: datetime) -> str:
    """Make the token for a survey's nonce, valid until `expires_at`."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a nonce has {NONCE_BYTES} bytes")
    payload = nonce + int(expires_at.timestamp()).to_bytes(_EXPIRY_BYTES, "big")
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(secret: bytes, token: str, now: datetime) -> TokenClaims:
    """Return the token's claims; `TokenInvalid` if forged or altered, `TokenExpired` if late."""
    if len(token) > MAX_TOKEN_LENGTH or not _SHAPE.match(token):
        raise TokenInvalid("malformed")
    body, tag = token.split(".")
    try:
        payload, mac = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError):
        raise TokenInvalid("malformed") from None
    if len(payload) != NONCE_BYTES + _EXPIRY_BYTES or len(mac) != _MAC_BYTES:
        raise TokenInvalid("malformed")
    if _b64(payload) != body or _b64(mac) != tag:
        raise TokenInvalid("not canonical")  # spare bits set: one token, one spelling
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TokenInvalid("bad signature")
    expires_at = datetime.fromtimestamp(int.from_bytes(payload[NONCE_BYTES:], "big"), UTC)
    if now >= expires_at:
        raise TokenExpired(expires_at.isoformat())
    return TokenClaims(nonce=payload[:NONCE_BYTES].hex(), expires_at=expires_at)
