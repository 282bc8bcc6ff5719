"""Nothing personal or secret in the service log.

Every record passes a filter that masks phone numbers and e-mail addresses (whatever
the privacy policy allows elsewhere) and blanks API keys, bearer tokens, survey links and
database passwords, so a careless log line elsewhere cannot leak them. Contact details
written URL-encoded (`wu%40example.com`, `%2B86+139...` in an access log line) are
masked too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import unquote_plus

from domain.privacy import mask_email, mask_phone

_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Survey links: whoever holds one may answer as the customer (access log lines too).
    (re.compile(r"/s/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "/s/***"),
    # Caseflow API keys, and JSON Web Tokens (three base64url parts, header first).
    (re.compile(r"cf_[A-Za-z0-9_-]{8,}"), "cf_***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "<token>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1***"),
    # The password in a URL: postgresql://user:secret@host/db.
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
     lambda m: mask_email(m.group(0))),
    # Mainland mobile numbers, and any number written with a leading +country code.
    (re.compile(r"(?<![\d.])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![\d.])"),
     lambda m: mask_phone(m.group(0))),
    (re.compile(r"\+\d[\d -]{7,}\d"), lambda m: mask_phone(m.group(0))),
]


# A path segment or a query's name or value: where URL encoding may hide a contact.
_URL_PART = re.compile(r"[^\s\"'&=?/]+")
MAX_DECODINGS = 3  # a value encoded twice over (wu%2540example.com) is still seen through


def redact(text: str) -> str:
    """`text` with contact details masked (URL-encoded ones too) and secrets blanked."""
    return _redact_plain(_URL_PART.sub(_redact_encoded, text))


def _redact_plain(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_encoded(match: re.Match[str]) -> str:
    """A URL part, decoded and masked if decoding shows a contact in it; else as it was."""
    part = decoded = match.group(0)
    if "%" not in part and "+" not in part:
        return part
    for _ in range(MAX_DECODINGS):
        decoded, before = unquote_plus(decoded), decoded
        if decoded == before:
            break
        masked = _redact_plain(decoded)
        if masked != decoded:
            return masked
    return part


class RedactingFilter(logging.Filter):
    """Rewrite each record's message through `redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format call must not raise into its caller
            message = f"{record.msg} {record.args}"
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = cleaned, None
        return True
