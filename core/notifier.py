"""The outbound notification port, and its apprise adapter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import apprise

log = logging.getLogger("caseflow.notify")


@dataclass(frozen=True)
class Delivery:
    ok: bool
    channel: str
    error: str | None = None


class Notifier(Protocol):
    def send(self, *, recipient: str, urls: list[str], title: str, body: str) -> Delivery: ...


class AppriseNotifier:
    """Send through apprise URLs; a person without URLs is notified in the log only."""

    def send(self, *, recipient: str, urls: list[str], title: str, body: str) -> Delivery:
        if not urls:
            log.info("notify %s (no channel configured): %s", recipient, title)
            return Delivery(ok=True, channel="log")
        sender = apprise.Apprise()
        for url in urls:
            if not sender.add(url):
                return Delivery(ok=False, channel="apprise", error="unusable apprise URL")
        try:
            ok = bool(sender.notify(title=title, body=body))
        except Exception as exc:  # a broken channel must not take the sweeper down
            log.warning("notify %s failed: %s", recipient, type(exc).__name__)
            return Delivery(ok=False, channel="apprise", error=type(exc).__name__)
        return Delivery(ok=ok, channel="apprise", error=None if ok else "channel refused")
