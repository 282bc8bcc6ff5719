"""Appointments: when reminders go before one, and the messages that reach the customer.

A reminder goes a set time before the appointment, never in quiet hours (it waits for
their end, unless that is after the appointment), and only if its time had not passed
when the booking was made. Messages reach the customer on their preferred contact
through `greetings.customer_channels`; a customer who cannot be reached gets none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.durations import format_duration
from domain.policy import PolicySet
from domain.process import Notice
from domain.quiet_hours import QuietHours, next_allowed
from domain.satisfaction import choose_channel
from domain.service_request.policy import CustomerMessage


def reminders_due(booking: Mapping[str, Any], before: Iterable[timedelta],
                  quiet: QuietHours | None, sent: Iterable[Mapping[str, Any]]
                  ) -> list[tuple[str, datetime]]:
    """(label, when) of each reminder still to come for `booking` (slot, booked_at, seq)."""
    slot, booked = (datetime.fromisoformat(booking[k]) for k in ("slot", "booked_at"))
    done = {r["before"] for r in sent if r["seq"] == booking["seq"]}
    found = []
    for offset in before:
        label = format_duration(offset)
        when = next_allowed(slot - offset, quiet)
        # A reminder whose time passed before the booking was made would only repeat it.
        if label not in done and booked < slot - offset and when < slot:
            found.append((label, when))
    return found


def customer_notice(*, customer_id: int | None, message: CustomerMessage, key: str,
                    values: Mapping[str, Any], timezone: str, policies: PolicySet,
                    facts: Mapping[str, Any] | None) -> tuple[Notice, ...]:
    """The message to the customer on their preferred usable contact, with `{time}` in
    `timezone`; none when they cannot be reached (`facts`: contacts, preferred)."""
    contact = (choose_channel(list(facts["contacts"]), facts["preferred"], policies)
               if facts else None)
    if customer_id is None or contact is None:
        return ()
    language = facts.get("language") if facts else None
    when = values.get("time")
    filled = {**values, "time": when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
              if isinstance(when, datetime) else ""}
    return (Notice(recipient=f"customer:{customer_id}:{contact}", role="customer",
                   subject=policies.messages.for_customers(message.subject, language=language,
                                                           **filled),
                   body=policies.messages.for_customers(message.body, language=language,
                                                        **filled), key=key),)
