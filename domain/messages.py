"""What people read, in Simplified Chinese and English: catalogues, names, times, links.

English is the catalogues' source text (the msgid); each other language is a catalogue
read from a .po file at start (core/i18n.py) and handed to the domain inside the
`PolicySet` (`policies.messages`), so domain code renders text without any I/O.
Staff read both languages in one message, their team's language first (a team's
`language` in teams.yaml, else the service's `CASEFLOW_LANGUAGE`, zh-Hans by default); a
customer reads their own language, or the service's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo

from babel.dates import format_timedelta
from pydantic import BaseModel, ConfigDict, Field

ZH, EN = "zh-Hans", "en"
LANGUAGES = (ZH, EN)
# Babel's locale for each language: durations and plural rules come from it.
_BABEL_LOCALE = {ZH: "zh_Hans_CN", EN: "en"}
# Where the API serves a case of each process (api/ routers); complaints are at /cases.
CASE_PATHS = {"complaint": "cases", "followup": "follow-ups", "pdca": "pdca-cycles",
              "crisis": "crises", "service_request": "service-requests"}
_NUMBERED = re.compile(r"(\w+?)_(\d+)")
# The holidays package's language for holiday names in each.
HOLIDAY_LANGUAGE = {ZH: "zh_CN", EN: "en_US"}


def babel_locale(language: str) -> str:
    """Babel's locale for a language we write (numbers, dates, durations, plurals)."""
    return _BABEL_LOCALE.get(language, _BABEL_LOCALE[ZH])


def language_of(tag: str | None) -> str | None:
    """The language we write for a tag (`zh-CN`, `zh_Hans`, `en-US`...), None if neither."""
    if not tag:
        return None
    base = tag.strip().replace("_", "-").lower()
    if base == "zh" or base.startswith("zh-"):
        return ZH
    if base == "en" or base.startswith("en-"):
        return EN
    return None


def negotiate(accept_language: str | None, default: str) -> str:
    """The first language of an Accept-Language header we write, else `default`."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag))
    for weight, _, tag in sorted(ranked):
        found = language_of(tag)
        if found and weight < 0:
            return found
    return default


def local_time(moment: datetime, zone: tzinfo) -> str:
    """A moment as people read it, to the minute in their zone: `2026-11-20 10:30 (UTC+08:00)`."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


@functools.lru_cache(maxsize=1024)
def _duration(language: str, span: timedelta) -> str:
    # Remembered: every rung names its clock's target, a few spans in all, and Babel's
    # formatting was a fifth of writing an escalation's text (a storm writes thousands).
    minutes = int(span.total_seconds() // 60)
    parts = [timedelta(days=minutes // 1440), timedelta(hours=minutes // 60 % 24),
             timedelta(minutes=minutes % 60)]
    said = [format_timedelta(part, threshold=1, locale=_BABEL_LOCALE[language])
            for part in parts if part]
    return ("" if language == ZH else " ").join(said) or format_timedelta(
        span, locale=_BABEL_LOCALE[language])


class MessageContext(BaseModel):
    """The catalogues, the service's language and where a case's link starts."""

    model_config = ConfigDict(frozen=True)

    language: str = ZH
    public_url: str = "http://127.0.0.1:8000"
    # language -> English source text -> translation; English needs no catalogue.
    catalogues: Mapping[str, Mapping[str, str]] = Field(default_factory=dict)

    def text(self, language: str, msgid: str, **params: object) -> str:
        """`msgid` in `language`, its {placeholders} filled."""
        return self.catalogues.get(language, {}).get(msgid, msgid).format(**params)

    def translated(self, language: str, text: str) -> str:
        """`text` in `language` when the catalogue has it (a shipped policy's title), else
        as written (an operator's own): nothing in it is filled in."""
        return self.catalogues.get(language, {}).get(text, text)

    def name(self, language: str, kind: str, value: str | None) -> str:
        """A code's name for people (`clock`, `first_response` -> 首次响应 / first response)."""
        if value is None:
            return self.text(language, "none")
        catalogue = self.catalogues.get(language, {})
        found = catalogue.get(f"{kind}:{value}")
        numbered = _NUMBERED.fullmatch(value)
        if found is None and numbered:  # a repeating clock: update_2 -> 第 2 次状态更新
            found = catalogue.get(f"{kind}:{numbered[1]}_{{n}}", "").format(n=numbered[2])
        return found or value.replace("_", " ")

    def duration(self, language: str, span: timedelta) -> str:
        """A duration as people say it, to the minute (`1 day 4 hours`, `1天4小时`)."""
        return _duration(language, span)

    def case_link(self, process: str, case_id: int) -> str:
        """Where staff open the case: its process's address in the API."""
        return f"{self.public_url.rstrip('/')}/{CASE_PATHS.get(process, 'cases')}/{case_id}"

    def queue_link(self) -> str:
        """Where staff see every open case in their scope, most urgent first: the console's
        queue."""
        return f"{self.public_url.rstrip('/')}/console/queue"

    def for_customers(self, template: str, *, language: str | None = None,
                      **params: object) -> str:
        """A customer's message from a policy's template, in their `language` (None: the
        service's): the shipped templates have translations; an operator's own text is
        used as written."""
        return self.text(language or self.language, template, **params)

    def staff(self, render: Callable[[str], str], separator: str = "\n\n") -> str:
        """One text in both languages, this context's language first (staff read both):
        Simplified Chinese first unless the service or the team chose English."""
        return separator.join(render(language) for language in self.staff_languages())

    def staff_languages(self) -> tuple[str, ...]:
        """The languages staff read, this context's first."""
        return (self.language, *(other for other in LANGUAGES if other != self.language))

    def staff_subject(self, render: Callable[[str], str]) -> str:
        return self.staff(render, " / ")

