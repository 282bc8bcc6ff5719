"""What the console says, in Simplified Chinese (the default) or English: its own
catalogue (the `console` domain, core/locale/*/LC_MESSAGES/console.po) over the
service's, times in a zone to the minute, and durations as people say them.

English is the source text (the msgid), as in the service's catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache

from core.i18n import catalogues
from domain.durations import parse_duration
from domain.kpi_definitions import DEFINITIONS
from domain.messages import EN, ZH, MessageContext, language_of
from domain.reviews.reports import cell

DOMAIN = "console"


def console_catalogues() -> dict[str, dict[str, str]]:
    """Each language's console strings, by English source text."""
    return catalogues(DOMAIN)


@cache
def _context() -> MessageContext:
    # English too: the service's English names of codes (csat_average -> average CSAT).
    merged = {language: {**catalogues().get(language, {}),
                         **console_catalogues().get(language, {})}
              for language in {*catalogues(), *console_catalogues()}}
    return MessageContext(catalogues=merged)


@dataclass(frozen=True)
class Wording:
    """The console's words in one language."""

    language: str

    @property
    def other(self) -> str:
        """The language one click away."""
        return EN if self.language == ZH else ZH

    def __call__(self, msgid: str, **params: object) -> str:
        return _context().text(self.language, msgid, **params)

    def name(self, kind: str, value: str | None) -> str:
        """A code's name: `stage`, `in_progress` -> 处理中 / in progress."""
        return _context().name(self.language, kind, value)

    def span(self, span: timedelta) -> str:
        """A duration to the minute: `1 小时 5 分钟` / `1 h 5 min` (under a minute said so)."""
        minutes = int(abs(span).total_seconds() // 60)
        if minutes == 0:
            return self("less than 1 min")
        days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
        parts = [self("{n} d", n=days) if days else "", self("{n} h", n=hours) if hours else "",
                 self("{n} min", n=mins) if mins else ""]
        return " ".join(part for part in parts if part)

    def left(self, remaining: timedelta) -> str:
        """`还剩 12 分钟` / `12 min left`, or `已超时 1 小时 5 分钟` / `overdue by 1 h 5 min`."""
        if remaining < timedelta(0):
            return self("overdue by {span}", span=self.span(remaining))
        return self("{span} left", span=self.span(remaining))

    def time(self, moment: datetime | None, zone: tzinfo) -> str:
        """A moment in `zone`, to the minute: `2026-12-06 14:05`."""
        if moment is None:
            return self("none")
        if moment.tzinfo is None:  # the store's moments are in UTC
            moment = moment.replace(tzinfo=UTC)
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    def figure(self, kpi: str | None, value: object) -> str:
        """A KPI's figure as the reports say it: a ratio as a percentage (`0.95` ->
        `95.0%`), seconds in minutes, numbers in the language's notation; `none` if
        there is no figure."""
        if value is None:
            return self("none")
        definition = DEFINITIONS.get(kpi or "")
        return cell("value", value, definition.unit.value if definition else None,
                    m=_context(), language=self.language)


def wording_for(cookie: str | None) -> Wording:
    """The language of the console's cookie; Simplified Chinese unless it says English."""
    return Wording(EN if language_of(cookie) == EN else ZH)


# Timeline details whose values are codes with names for people.
_NAMED_DETAILS = {"stage_from": "stage", "stage_to": "stage", "priority": "priority",
                  "priority_from": "priority", "category": "category", "clock": "clock",
                  "rung": "rung", "channel": "channel"}
_HIDDEN_DETAILS = frozenset({"request_id"})
_BY_CLOCK = frozenset({"targets"})


def detail_items(words: Wording, details: dict[str, object] | None) -> list[tuple[str, str]]:
    """A timeline event's details as (label, text) pairs people read: codes named,
    nothing empty, nested values flattened to `key: value`."""
    items = []
    for key, value in (details or {}).items():
        if value is None or value == "" or key in _HIDDEN_DETAILS:
            continue
        items.append((words.name("field", key), _detail_text(words, key, value)))
    return items


def _detail_text(words: Wording, key: str, value: object) -> str:
    if key in _NAMED_DETAILS and isinstance(value, str):
        return words.name(_NAMED_DETAILS[key], value)
    if isinstance(value, dict):
        # A clock's targets are keyed by clock and given as ISO 8601 durations.
        kind = "clock" if key in _BY_CLOCK else "field"
        return ", ".join(f"{words.name(kind, str(k))}: {_detail_text(words, key, v)}"
                         for k, v in value.items() if v is not None)
    if key in _BY_CLOCK and isinstance(value, str) and value.startswith("P"):
        try:
            return words.span(parse_duration(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(_detail_text(words, key, v) for v in value)
    if isinstance(value, bool):
        return words("yes") if value else words("no")
    return str(value)
