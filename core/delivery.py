"""Deliver claimed outbox messages: one digest per recipient, with retries."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from core.db import session_scope
from core.models import OutboxMessage
from core.runtime import Runtime

log = logging.getLogger("caseflow.delivery")


def deliver_messages(runtime: Runtime, message_ids: list[int]) -> dict[str, int]:
    """Send the claimed messages grouped per recipient; return counts by outcome."""
    me = runtime.settings.instance_id
    with session_scope(runtime.engine) as session:
        messages = list(session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.id).in_(message_ids), OutboxMessage.status == "claimed",
                   OutboxMessage.claimed_by == me)
            .order_by(col(OutboxMessage.id))))
    by_recipient: dict[str, list[OutboxMessage]] = defaultdict(list)
    for message in messages:
        by_recipient[message.recipient].append(message)
    outcomes = {"delivered": 0, "retrying": 0, "dead": 0, "digests": 0}
    for recipient, group in by_recipient.items():
        title, body = compose_digest(group)
        person = runtime.policies.people.get(recipient)
        result = runtime.notifier.send(recipient=recipient, urls=person.notify if person else [],
                                       title=title, body=body)
        outcomes["digests"] += 1
        outcome = _record(runtime, group, ok=result.ok, channel=result.channel,
                          error=result.error)
        outcomes[outcome] += len(group)
    return outcomes


def compose_digest(messages: list[OutboxMessage]) -> tuple[str, str]:
    """One message as it is; several as one digest, most recent last."""
    if len(messages) == 1:
        only = messages[0]
        return only.subject, f"{only.body}\n\n[key {only.key}]"
    title = f"Caseflow: {len(messages)} escalations need your attention"
    lines = [f"- {m.subject} [key {m.key}]" for m in messages]
    return title, "\n".join(lines)


def _record(runtime: Runtime, group: list[OutboxMessage], *, ok: bool, channel: str,
            error: str | None) -> str:
    now = runtime.clock.now()
    ids = [m.id for m in group]
    if ok:
        values: dict[str, object] = {"status": "delivered", "delivered_at": now,
                                     "channel": channel}
        outcome = "delivered"
    else:
        attempts = max(m.attempts for m in group) + 1
        dead = attempts >= runtime.settings.notify_max_attempts
        backoff = timedelta(seconds=runtime.settings.notify_retry_seconds * 2 ** (attempts - 1))
        values = {"status": "dead" if dead else "pending", "attempts": attempts,
                  "last_error": error, "next_attempt_at": now + backoff,
                  "claimed_by": None, "claimed_at": None}
        outcome = "dead" if dead else "retrying"
        log.warning("delivery to %s failed (%s), attempt %s", group[0].recipient, error,
                    attempts)
    with session_scope(runtime.engine) as session:
        session.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(ids))
                        .values(**values).execution_options(synchronize_session=False))
    return outcome
