"""Customers' contact details: masked unless a policy lets a reader see them in full."""

from __future__ import annotations

import re

from domain.policy import Disclosure

_DIGIT = re.compile(r"\d")


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits: 13812345678 -> 138****5678."""
    digits = _DIGIT.findall(phone)
    if len(digits) < 8:
        return "*" * len(digits) if digits else "***"
    return "".join(digits[:3]) + "*" * (len(digits) - 7) + "".join(digits[-4:])


def mask_email(email: str) -> str:
    """Keep the first letter and the domain: lin.fang@example.com -> l***@example.com."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def disclose(value: str | None, kind: str, how: Disclosure) -> str | None:
    """A phone number or e-mail address as `how` allows it to be shown."""
    if value is None or how is Disclosure.omitted:
        return None
    if how is Disclosure.full:
        return value
    return mask_phone(value) if kind == "phone" else mask_email(value)
