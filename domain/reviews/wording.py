"""Review reports as people read them: figures formatted by Babel in each language, code
names from the catalogue, each sentence in the staff's languages (their own first).

A summary line is written once per language through the catalogue (`MessageContext`);
its figures are `Figure`s, formatted for that language when the line is: `Percent`,
`Number`, `Name` (a code's name) and `Counted` (a count with its noun, singular or plural).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from babel.dates import format_interval
from babel.numbers import format_decimal, format_percent

from domain.messages import MessageContext, babel_locale


class Figure(Protocol):
    def said(self, m: MessageContext, language: str) -> str:
        """The figure as people of `language` read it."""
        ...


@dataclass(frozen=True)
class Percent:
    """A share (0.786) as a percentage (78.6%); `n/a` without a value."""

    value: float | None
    digits: int = 1

    def said(self, m: MessageContext, language: str) -> str:
        return percent(m, language, self.value, self.digits)


@dataclass(frozen=True)
class Number:
    """A number with at most `digits` decimals (`+` before a positive one if `signed`)."""

    value: float | None
    digits: int = 2
    signed: bool = False

    def said(self, m: MessageContext, language: str) -> str:
        text = number(m, language, self.value, self.digits)
        return f"+{text}" if self.signed and self.value is not None and self.value > 0 \
            else text


@dataclass(frozen=True)
class Name:
    """A code's name in the catalogue (`kpi`, `nps` -> 净推荐值 / NPS)."""

    kind: str
    code: str | None

    def said(self, m: MessageContext, language: str) -> str:
        return m.name(language, kind=self.kind, value=self.code)


@dataclass(frozen=True)
class Counted:
    """A count with its noun: `1 detractor`, `2 detractors`, `2 位贬损者`."""

    count: int
    one: str
    many: str

    def said(self, m: MessageContext, language: str) -> str:
        return m.text(language, self.one if self.count == 1 else self.many,
                      n=number(m, language, self.count, 0))


def percent(m: MessageContext, language: str, value: float | None, digits: int = 1) -> str:
    """A share as a percentage in `language`'s notation."""
    if value is None:
        return m.text(language, "n/a")
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(value, pattern, locale=babel_locale(language))


def number(m: MessageContext, language: str, value: float | None, digits: int = 2) -> str:
    """A number in `language`'s notation, with at most `digits` decimals."""
    if value is None:
        return m.text(language, "n/a")
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, pattern, locale=babel_locale(language))


def period(language: str, start: datetime, end: datetime) -> str:
    """A review period [start, end) as its days: `2026年11月30日至12月6日`, `Nov 30 – Dec 6,
    2026`; one day alone when it covers one."""
    last: date = (end - timedelta(microseconds=1)).date()
    return format_interval(start.date(), last, "yMMMd", locale=babel_locale(language))


def said(m: MessageContext, msgid: str, **figures: Figure | str | int) -> str:
    """One sentence in the staff's languages, one line each, their own first; `figures`
    fill its {placeholders}, each formatted for the line's language."""
    def line(language: str) -> str:
        return m.text(language, msgid, **{key: _said(m, language, value)
                                          for key, value in figures.items()})
    return m.staff(line, "\n")


def _said(m: MessageContext, language: str, value: Figure | str | int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return number(m, language, value, 0)
    return value.said(m, language)
