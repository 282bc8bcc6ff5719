"""Survey tokens: HMAC-signed, expiring, and carrying nothing but a random nonce and expiry."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from domain.survey_token import (
    NONCE_BYTES,
    TokenExpired,
    TokenInvalid,
    sign,
    verify,
)

SECRET = b"a-secret-of-at-least-thirty-two-bytes!!"
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=14)


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def test_a_token_verifies_until_it_expires() -> None:
    nonce = secrets.token_bytes(NONCE_BYTES)
    token = sign(SECRET, nonce, EXPIRES)
    claims = verify(SECRET, token, NOW)
    assert (claims.nonce, claims.expires_at) == (nonce.hex(), EXPIRES)
    assert verify(SECRET, token, EXPIRES - timedelta(seconds=1)).nonce == nonce.hex()
    with pytest.raises(TokenExpired):
        verify(SECRET, token, EXPIRES)


@pytest.mark.parametrize("seed", range(20))
def test_every_altered_character_is_refused(seed: int) -> None:
    token = sign(SECRET, secrets.token_bytes(NONCE_BYTES), EXPIRES)
    for at in range(len(token)):
        if token[at] == ".":
            continue
        with pytest.raises(TokenInvalid):
            verify(SECRET, _flip(token, at), NOW)
    # The last character carries two spare bits: a spelling that sets them is refused too.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = last.index(token[-1])
    with pytest.raises(TokenInvalid):
        verify(SECRET, token[:-1] + last[index ^ 1], NOW)


def test_a_longer_expiry_cannot_be_written_into_a_token() -> None:
    nonce = secrets.token_bytes(NONCE_BYTES)
    body, tag = sign(SECRET, nonce, EXPIRES).split(".")
    later = int((EXPIRES + timedelta(days=365)).timestamp()).to_bytes(8, "big")
    forged = base64.urlsafe_b64encode(nonce + later).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        verify(SECRET, f"{forged}.{tag}", NOW)


def test_another_secret_makes_tokens_this_service_refuses() -> None:
    theirs = sign(b"someone-elses-secret-of-32-bytes-or-more", secrets.token_bytes(16), EXPIRES)
    with pytest.raises(TokenInvalid):
        verify(SECRET, theirs, NOW)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "not a token", "x" * 200, "..",
                                   "YWJj.ZGVm", "====.====", "\u00e9t\u00e9.\u00e9t\u00e9"])
def test_malformed_tokens_are_invalid_not_errors(token: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(SECRET, token, NOW)


def test_a_token_holds_only_its_nonce_and_expiry() -> None:
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = sign(SECRET, nonce, EXPIRES).split(".")[0]
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert payload == nonce + int(EXPIRES.timestamp()).to_bytes(8, "big")
    # Two surveys' tokens share nothing but the expiry's encoding.
    other = sign(SECRET, secrets.token_bytes(NONCE_BYTES), EXPIRES).split(".")[0]
    assert body[:21] != other[:21]
