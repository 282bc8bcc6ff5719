"""ISO 8601 durations (`PT20M`, `P3D`) as used throughout the policy files."""

from datetime import timedelta

import isodate


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration into a timedelta; years and months are refused."""
    if not isinstance(text, str) or not text.startswith("P"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT20M or P3D")
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT20M or P3D") from exc
    if not isinstance(value, timedelta):
        # Months and years have no fixed length; an SLA must be exact.
        raise ValueError(f"{text!r} uses years or months; use days (P30D) instead")
    if value <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return value


def format_duration(value: timedelta) -> str:
    """Format a timedelta as an ISO 8601 duration."""
    return isodate.duration_isoformat(value)
