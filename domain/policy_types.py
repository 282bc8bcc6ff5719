"""Field types the policy models share: a known timezone, a country with a holiday calendar,
a language we write, and the placeholders a message template uses.

They live apart from `domain.policy` so the section models in other modules (reviews,
quiet hours) can use them without importing the whole policy set.
"""

from __future__ import annotations

import string
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import AfterValidator

from domain.messages import LANGUAGES, language_of


def zone_problem(name: str) -> str | None:
    """Why `name` is not a timezone this machine knows, or None when it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {name!r}"
    return None


def _known_timezone(value: str) -> str:
    problem = zone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _known_country(value: str | None) -> str | None:
    if value and value not in holidays_lib.list_supported_countries():
        raise ValueError(f"no calendar for country {value!r}")
    return value


def _known_language(value: str | None) -> str | None:
    """The language a tag names (`zh-CN`, `zh_Hans` -> zh-Hans; `en-US` -> en)."""
    if value is None:
        return None
    found = language_of(value)
    if found is None:
        raise ValueError(f"unknown language {value!r}; use one of {', '.join(LANGUAGES)}")
    return found


def placeholders(template: str) -> set[str]:
    """The `{names}` a template fills in (`str.format` fields)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


TimezoneName = Annotated[str, AfterValidator(_known_timezone)]
CountryCode = Annotated[str | None, AfterValidator(_known_country)]
LanguageTag = Annotated[str | None, AfterValidator(_known_language)]
