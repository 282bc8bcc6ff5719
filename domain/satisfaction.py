"""Satisfaction answers: the scores a survey asks, their ranges, and what counts as low.

CSAT (1-5) and NPS (0-10) are the industry's two headline figures; speed, attitude and
resolution (1-5 each) are the service dimensions seed 003 names. A customer is reached
through a contact (e-mail or phone) that the greetings policy has a URL template for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.policy import PolicySet
from domain.process import InvalidEvent

CONTACTS = ("email", "phone")
# Each score and its range: CSAT and NPS, and seed 003's three dimensions.
SCORES = {"csat": (1, 5), "nps": (0, 10), "speed": (1, 5), "attitude": (1, 5),
          "resolution": (1, 5)}
DIMENSIONS = ("speed", "attitude", "resolution")
MAX_TEXT = 2000


def check_scores(data: Mapping[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, int]:
    """The scores in `data`, checked against their ranges; `InvalidEvent` names a bad one."""
    scores = {}
    for name, (low, high) in SCORES.items():
        value = data.get(name)
        if value is None and name not in required:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidEvent(name, f"a whole number from {low} to {high}")
        scores[name] = value
    return scores


def check_text(value: object, field_name: str) -> str | None:
    """Free text as stored: stripped, at most MAX_TEXT characters, None when empty."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidEvent(field_name, f"text of at most {MAX_TEXT} characters")
    return value.strip() or None


def is_low(scores: Mapping[str, int], policies: PolicySet) -> bool:
    """A score at or below the policy's thresholds (CSAT ≤ 2 or NPS ≤ 6 by default)."""
    low = policies.followup.low_score
    return ("csat" in scores and scores["csat"] <= low.csat_at_most) or (
        "nps" in scores and scores["nps"] <= low.nps_at_most)


def choose_channel(contacts: list[str], preferred: str | None,
                   policies: PolicySet) -> str | None:
    """The contact to send through: the preferred one if usable, else email, else phone.

    Usable means the customer has it and the greetings policy has a URL template for it;
    with no templates at all, messages go to the service log, so any contact will do.
    """
    templates = policies.greetings.customer_channels
    usable = [c for c in CONTACTS if c in contacts and (not templates or c in templates)]
    if preferred in usable:
        return preferred
    return usable[0] if usable else None
