"""The outbound notification port, and its apprise adapter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit

import apprise

log = logging.getLogger("caseflow.notify")


@dataclass(frozen=True)
class Delivery:
    ok: bool
    channel: str
    error: str | None = None


class Notifier(Protocol):
    def send(self, *, recipient: str, urls: list[str], title: str, body: str,
             key: str | None = None, keys: Sequence[str] = ()) -> Delivery: ...


# apprise's webhook plugins send extra headers named in the URL (`?+Name=value`).
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
KEY_HEADER = "Idempotency-Key"
KEYS_HEADER = "X-Caseflow-Keys"


def with_keys(url: str, key: str | None, keys: Sequence[str]) -> str:
    """A webhook URL that sends the message's idempotency key, and a digest's line keys, as
    headers a receiver can drop a re-sent message by; other URLs as they are."""
    if key is None or urlsplit(url).scheme.lower() not in WEBHOOK_SCHEMES:
        return url
    headers = {f"+{KEY_HEADER}": key} | ({f"+{KEYS_HEADER}": " ".join(keys)} if keys else {})
    return url + ("&" if "?" in url else "?") + urlencode(headers, quote_via=quote)


class AppriseNotifier:
    """Send through apprise URLs; a person without URLs is notified in the log only."""

    def send(self, *, recipient: str, urls: list[str], title: str, body: str,
             key: str | None = None, keys: Sequence[str] = ()) -> Delivery:
        if not urls:
            log.info("notify %s (no channel configured): %s", recipient, title)
            return Delivery(ok=True, channel="log")
        sender = apprise.Apprise()
        for url in urls:
            if not sender.add(with_keys(url, key, keys)):
                return Delivery(ok=False, channel="apprise", error="unusable apprise URL")
        try:
            ok = bool(sender.notify(title=title, body=body))
        except Exception as exc:  # a broken channel must not take the sweeper down
            log.warning("notify %s failed: %s", recipient, type(exc).__name__)
            return Delivery(ok=False, channel="apprise", error=type(exc).__name__)
        return Delivery(ok=ok, channel="apprise", error=None if ok else "channel refused")
