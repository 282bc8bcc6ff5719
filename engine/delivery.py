"""Deliver claimed outbox messages: one digest per recipient, with retries.

Staff are reached through their apprise URLs in teams.yaml. Customers (recipient
`customer:<id>`) are reached through the greetings policy's URL templates filled with
their contact, one message at a time: a digest of escalations is for staff only. A
customer with a preferred contact is reached there only (when a template serves it);
`customer:<id>:<contact>` names the contact (a survey goes where it was decided to go).
A process's publication channel (`channel:<process>:<channel>`, a crisis's website
notice) is reached through the URLs its adapter names, one message at a time and as
written: a public notice is never folded into a digest.

Staff get one message per delivery round, however many lines (`domain.digest`), and
every line of it is marked delivered by that one send: a crash between the send and its
record re-sends one message per recipient, which its idempotency key lets a receiver drop.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import and_, case, func, update
from sqlmodel import col, select

from domain.catalogue import definition
from domain.digest import DigestLine, compose_digest, shown_in_full
from domain.timers import ESCALATION
from engine import metrics
from engine.db import select_rows, session_scope
from engine.hooks import channel_urls
from engine.id_lists import among
from engine.models import Case, Customer, OutboxMessage, Timer, table_of

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("caseflow.delivery")
CUSTOMER_PREFIX = "customer:"
CHANNEL_PREFIX = "channel:"
CASES, OUTBOX, TIMERS = table_of(Case), table_of(OutboxMessage), table_of(Timer)
# An escalation's message key is its timer's key, then ":" and the recipient. Other
# messages' recipients may be longer than their keys (`customer:<id>:<contact>`), and
# PostgreSQL refuses a negative length.
_KEY_BEFORE_RECIPIENT = func.length(OUTBOX.c.key) - func.length(OUTBOX.c.recipient) - 1
_TIMER_OF_MESSAGE = and_(
    TIMERS.c.kind == ESCALATION,
    TIMERS.c.key == case((_KEY_BEFORE_RECIPIENT > 0,
                          func.substr(OUTBOX.c.key, 1, _KEY_BEFORE_RECIPIENT))))
# What a claimed message is grouped, ranked and counted by, without its text: a storm's
# texts are megabytes, of which a digest shows 50 lines a recipient.
_CLAIMED = (
    select_rows(OUTBOX.c.id, OUTBOX.c.key, OUTBOX.c.case_id, OUTBOX.c.recipient,
                OUTBOX.c.attempts, CASES.c.process, CASES.c.team,
                TIMERS.c.process.label("ladder_process"), TIMERS.c.step, TIMERS.c.fire_at)
    .select_from(OUTBOX.outerjoin(CASES, CASES.c.id == OUTBOX.c.case_id)
                 .outerjoin(TIMERS, _TIMER_OF_MESSAGE)))


def deliver_messages(runtime: Runtime, message_ids: list[int]) -> dict[str, int]:
    """Send the claimed messages grouped per recipient; return counts by outcome."""
    me = runtime.settings.instance_id
    with session_scope(runtime.engine) as session:
        claimed = session.execute(
            _CLAIMED.where(among(runtime.engine, OUTBOX.c.id, message_ids),
                           OUTBOX.c.status == "claimed", OUTBOX.c.claimed_by == me)
            .order_by(OUTBOX.c.id)).all()
    by_recipient: dict[str, list[Any]] = defaultdict(list)
    for message in claimed:
        by_recipient[message.recipient].append(message)
    customers = _customers(runtime, by_recipient)
    lines = {recipient: _digest_lines(runtime, group)
             for recipient, group in by_recipient.items() if not _as_written(recipient)}
    texts = _texts(runtime, [m.id for recipient, group in by_recipient.items()
                             if _as_written(recipient) for m in group]
                   + [line.id for group in lines.values() for line in shown_in_full(group)])
    outcomes = {"delivered": 0, "retrying": 0, "dead": 0, "digests": 0}
    # Claims last a lease; past it, another tick or instance may claim these rows again.
    # So sending stops at half the lease, and what is left goes back to the queue.
    send_until = runtime.clock.now() + runtime.lease / 2
    for position, (recipient, group) in enumerate(by_recipient.items()):
        if runtime.clock.now() >= send_until:
            left = [m for _, rest in list(by_recipient.items())[position:] for m in rest]
            _release(runtime, left)
            outcomes["released"] = len(left)
            break
        urls = _urls(runtime, recipient, customers)
        for batch in ([[m] for m in group] if _as_written(recipient) else [group]):
            keys: list[str] = []
            if _as_written(recipient):
                (title, body), key = texts[batch[0].id], batch[0].key
            else:
                title, body = compose_digest(lines[recipient], texts,
                                             runtime.policies.person_messages(recipient))
                key, keys = digest_keys(lines[recipient])
            result = runtime.notifier.send(recipient=recipient, urls=urls, title=title,
                                           body=body, key=key, keys=keys)
            outcomes["digests"] += 1
            outcome = _record(runtime, batch, ok=result.ok, channel=result.channel,
                              error=result.error)
            outcomes[outcome] += len(batch)
    return outcomes


def _as_written(recipient: str) -> bool:
    """Whether the recipient gets each message alone and as written (a customer, a
    channel), not in a digest."""
    return recipient.startswith((CUSTOMER_PREFIX, CHANNEL_PREFIX))


def _digest_lines(runtime: Runtime, group: Sequence[Any]) -> list[DigestLine]:
    """A recipient's claimed messages as digest lines: their cases' process and team, and
    an escalation's rung, level and due time from the timer that sent it."""
    lines = []
    for m in group:
        rung = level = due_at = None
        if m.step is not None:
            ladder = definition(m.ladder_process).ladder(runtime.policies)
            if m.step < len(ladder):
                rung, level, due_at = ladder[m.step].name, ladder[m.step].level, m.fire_at
        lines.append(DigestLine(id=m.id, key=m.key, case_id=m.case_id, process=m.process,
                                team=m.team, rung=rung, level=level, due_at=due_at))
    return lines


def _texts(runtime: Runtime, message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The subject and body of the messages shown, by id, read in one query."""
    if not message_ids:
        return {}
    with session_scope(runtime.engine) as session:
        return {row.id: (row.subject, row.body) for row in session.execute(
            select_rows(OUTBOX.c.id, OUTBOX.c.subject, OUTBOX.c.body)
            .where(among(runtime.engine, OUTBOX.c.id, message_ids)))}


def _release(runtime: Runtime, messages: list[Any]) -> None:
    """Put claimed messages back in the queue, due now, for the next tick."""
    with session_scope(runtime.engine) as session:
        session.execute(update(OutboxMessage)
                        .where(among(runtime.engine, OUTBOX.c.id, [m.id for m in messages]),
                               col(OutboxMessage.status) == "claimed")
                        .values(status="pending", claimed_by=None, claimed_at=None)
                        .execution_options(synchronize_session=False))


def _customer_id(recipient: str) -> int:
    return int(recipient.removeprefix(CUSTOMER_PREFIX).partition(":")[0])


def _customers(runtime: Runtime, recipients: Iterable[str]) -> dict[int, Customer]:
    """The customers among `recipients`, read in one query (a compensation batch's
    messages are thousands of customers, one message each)."""
    wanted = {_customer_id(r) for r in recipients if r.startswith(CUSTOMER_PREFIX)}
    if not wanted:
        return {}
    with session_scope(runtime.engine) as session:
        found = session.exec(select(Customer).where(col(Customer.id).in_(wanted)))
        return {customer.id: customer for customer in found if customer.id is not None}


def _urls(runtime: Runtime, recipient: str, customers: Mapping[int, Customer]) -> list[str]:
    """A person's apprise URLs, a channel's, or a customer's from the greetings templates."""
    if recipient.startswith(CHANNEL_PREFIX):
        process, _, channel = recipient.removeprefix(CHANNEL_PREFIX).partition(":")
        return channel_urls(runtime.policies, process, channel)
    if not recipient.startswith(CUSTOMER_PREFIX):
        person = runtime.policies.people.get(recipient)
        return person.notify if person else []
    templates = runtime.policies.greetings.customer_channels
    named = recipient.removeprefix(CUSTOMER_PREFIX).partition(":")[2]
    customer = customers.get(_customer_id(recipient))
    if customer is None:
        return []
    # The contact is read at delivery, not copied into the outbox: a changed address is used.
    contacts = {"email": customer.email, "phone": customer.phone}
    usable = {kind: template.format(**{kind: quote(value, safe="@+")})
              for kind, template in templates.items() if (value := contacts.get(kind))}
    for wanted in (named, customer.preferred_channel):
        if wanted in usable:
            return [usable[wanted]]
    # A named contact gone since: one other way in, rather than none or every one.
    return list(usable.values())[:1] if named else list(usable.values())


def digest_keys(lines: list[DigestLine]) -> tuple[str, list[str]]:
    """The idempotency key a receiver gets (the message's own; for a digest, one made from
    all its lines' keys, so the same digest sent again has the same key) and the keys of
    the lines it shows in full (a storm's thousands would not fit in a header)."""
    if len(lines) == 1:
        return lines[0].key, []
    keys = [line.key for line in lines]
    digest = "digest:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
    return digest, [line.key for line in shown_in_full(lines)]


def _record(runtime: Runtime, group: list[Any], *, ok: bool, channel: str,
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
        session.execute(update(OutboxMessage).where(among(runtime.engine, OUTBOX.c.id, ids))
                        .values(**values).execution_options(synchronize_session=False))
    kind = metrics.recipient_kind(group[0].recipient)
    if ok:
        metrics.DELIVERIES_DONE.labels(kind).inc(len(group))
    else:
        metrics.DELIVERIES_FAILED.labels(kind).inc(len(group))
        if outcome == "dead":
            metrics.DELIVERIES_DEAD.labels(kind).inc(len(group))
    return outcome
