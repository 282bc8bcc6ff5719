"""ISO 8601 durations (`PT20M`, `P3D`) as used throughout the policy files."""

from datetime import timedelta

import isodate


def parse_duration(text: object) -> timedelta:
    """Parse an ISO 8601 duration into a timedelta; years and months are refused, and so
    is anything but a text (a policy's validators hand it what the file holds)."""
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
    """Format a timedelta as an ISO 8601 duration (`PT20M`, `P1DT2H`, `-PT5M`, `P0D`),
    as `isodate.duration_isoformat` does, without its pattern substitution: every case
    answer formats four of these, and that took 15 µs each."""
    micros = abs((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds)
    seconds, micros = divmod(micros, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = ["-P" if value < timedelta(0) else "P"]
    if days:
        parts.append(f"{days}D")
    if hours or minutes or seconds or micros:
        parts.append("T")
        if hours:
            parts.append(f"{hours}H")
        if minutes:
            parts.append(f"{minutes}M")
        if micros:
            parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "S")
        elif seconds:
            parts.append(f"{seconds}S")
    elif not days:
        parts.append("0D")
    return "".join(parts)
