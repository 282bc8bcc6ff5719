"""Render a review run's result for people: a markdown summary and flat tables.

The result is what `processes.reviews.runs` stores: summary lines (already in the staff's
languages, one a line), tables overall and per team. The markdown artifact is written in
the staff's languages, Simplified Chinese first unless the service or the team chose
English: titles, headings and column names in both, the cells' figures in the first
(numbers, percentages, periods by Babel; codes by their catalogue names; times to the
minute). The same tables, as data, become Prefect table artifacts. Team-scoped readers
get `scoped_result` of the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from domain.messages import EN, MessageContext, local_time
from domain.reviews.wording import Counted, number, percent, period

RATIO_COLUMNS = {"share", "cumulative_share", "repeat_share", "response_rate",
                 "csat_satisfied_share", "transferred_share"}
# Columns whose values are codes with a name in the catalogue, by the kind of name.
NAMED_COLUMNS = {"kpi": "kpi", "unit": "unit", "clock": "clock", "priority": "priority",
                 "category": "category", "channel": "channel", "process": "process"}
TeamMessages = Callable[[str], MessageContext]


def cell(column: str, value: Any, unit: str | None = None, *,
         m: MessageContext | None = None, language: str = EN) -> str:
    """Format a value for people of `language`: numbers in its notation (Babel), ratios as
    percentages, codes by their names, times to the minute, None as a dash."""
    m = m or MessageContext(language=EN)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return m.text(language, "yes" if value else "no")
    if isinstance(value, list):
        return m.text(language, ", ").join(cell(column, v, unit, m=m, language=language)
                                           for v in value)
    if isinstance(value, int | float):
        return _number(column, value, unit, m, language)
    if column in NAMED_COLUMNS:
        return _free(_name(m, language, NAMED_COLUMNS[column], str(value)))
    if column == "indicator":
        return _free(m.translated(language, str(value)))
    if column == "at":
        moment = datetime.fromisoformat(str(value))
        return local_time(moment, moment.tzinfo) if moment.tzinfo else str(value)
    return _free(str(value))


def _number(column: str, value: float, unit: str | None, m: MessageContext,
            language: str) -> str:
    if column in RATIO_COLUMNS or (column in ("value", "target") and unit == "ratio"):
        return percent(m, language, value)
    if unit == "seconds" and column == "value":
        return m.text(language, "{minutes} min", minutes=number(m, language, value / 60, 1))
    if isinstance(value, int) and not isinstance(value, bool) and column.endswith("_id"):
        return str(value)  # an id is a name, not an amount: no grouping
    return number(m, language, value, 2 if isinstance(value, float) else 0)


def _name(m: MessageContext, language: str, kind: str, code: str) -> str:
    # A KPI of one clock (`complaint_on_time_rate.first_response`) reads as both names.
    kpi, dot, clock = code.partition(".")
    if kind == "kpi" and dot:
        return m.text(language, "{kpi} ({clock})", kpi=m.name(language, "kpi", kpi),
                      clock=m.name(language, "clock", clock))
    return m.name(language, kind, code)


def _free(text: str) -> str:
    # Free text (a category someone typed) must stay inside its cell and row.
    return " ".join(text.split())


def _both(m: MessageContext, render: Callable[[str], str]) -> str:
    """A short label in the staff's languages side by side, once when they agree."""
    return " / ".join(dict.fromkeys(render(language) for language in m.staff_languages()))


def _both_name(m: MessageContext, kind: str, code: str) -> str:
    return _both(m, lambda language: m.name(language, kind, code))


def _both_text(m: MessageContext, msgid: str, **params: object) -> str:
    return _both(m, lambda language: m.text(language, msgid, **params))


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flatten rows for a table artifact: lists become text, the rest stays as it is."""
    return [{k: ", ".join(str(i) for i in v) if isinstance(v, list) else v
             for k, v in row.items()} for row in rows]


# Figures a row carries for its basis cell rather than as columns of their own.
_HIDDEN = ("numerator", "denominator", "promoters", "passives", "detractors")


def markdown_table(rows: list[Mapping[str, Any]], m: MessageContext | None = None) -> str:
    """Render `rows` as a markdown table (their keys are the columns, headed by their names
    in the staff's languages; cells in the first), or say there are none."""
    m = m or MessageContext(language=EN)
    if not rows:
        return "_" + _both_text(m, "none") + "_"
    columns, body = table_cells(rows, m, m.language)
    head = [_both_name(m, "column", c) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(columns)]
    # A "|" someone typed must not end its cell.
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
    return "\n".join(lines)


def table_cells(rows: list[Mapping[str, Any]], m: MessageContext, language: str
                ) -> tuple[list[str], list[list[str]]]:
    """A table's columns (the rows' keys, less the figures its basis cell carries) and
    its cells as people of `language` read them: the markdown's and the console's."""
    if not rows:
        return [], []
    columns = [c for c in rows[0] if c not in _HIDDEN]
    body = [[_basis(m, language, row) if c == "basis" and "promoters" in row
             else cell(c, row.get(c), row.get("unit"), m=m, language=language)
             for c in columns] for row in rows]
    return columns, body


def _basis(m: MessageContext, language: str, row: Mapping[str, Any]) -> str:
    return m.text(language, ", ").join(
        Counted(row[key], one, many).said(m, language)
        for key, one, many in (("promoters", "{n} promoter", "{n} promoters"),
                               ("passives", "{n} passive", "{n} passives"),
                               ("detractors", "{n} detractor", "{n} detractors")))


def _section(m: MessageContext, summary: list[str],
             tables: Mapping[str, list[Mapping[str, Any]]], level: str) -> list[str]:
    # A summary line holds its languages one a line: the first in the item, the rest below.
    parts = ["- " + "\n  ".join(line.splitlines()) for line in summary]
    for name, rows in tables.items():
        heading = _both_name(m, "table", name)
        parts += ["", f"{level} {heading}", "", markdown_table(list(rows), m)]
    return parts


def render_markdown(result: Mapping[str, Any], m: MessageContext | None = None,
                    team_messages: TeamMessages | None = None) -> str:
    """Render the run's report as markdown for staff: its title, period and summary in
    their languages (the first, then English beside), tables with the first's figures, and
    each team's section in that team's languages."""
    m = m or MessageContext(language=EN)
    title = str(result.get("title", result.get("review", "Review")))
    lines = [f"# {_both(m, lambda language: m.translated(language, title))}", ""]
    lines += [_period_line(m, language, result) + "\n" for language in m.staff_languages()]
    lines += _section(m, result.get("summary", []), result.get("tables", {}), "##")
    for team, section in result.get("teams", {}).items():
        tm = team_messages(team) if team_messages else m
        lines += ["", f"## {_both_text(tm, 'Team {team}', team=team)}", ""]
        lines += _section(tm, section.get("summary", []), section.get("tables", {}), "###")
    if result.get("findings"):
        ids = [f"#{i}" for i in result["findings"]]
        lines += [""] + [m.text(language, "Findings added to the improvement backlog: {ids}.",
                                ids=m.text(language, ", ").join(ids)) + "\n"
                         for language in m.staff_languages()]
    return "\n".join(lines).strip() + "\n"


def _period_line(m: MessageContext, language: str, result: Mapping[str, Any]) -> str:
    found = result.get("period", {})
    try:
        start, end = (datetime.fromisoformat(found["start"]),
                      datetime.fromisoformat(found["end"]))
        now = datetime.fromisoformat(result["now"])
    except (KeyError, TypeError, ValueError):
        return m.text(language, "Period not recorded.")
    return m.text(language, "Period: {period} ({zone}); computed at {now}.",
                  period=_period(m, language, start, end), zone=found.get("timezone", ""),
                  now=local_time(now, now.tzinfo or start.tzinfo or UTC))


def _period(m: MessageContext, language: str, start: datetime, end: datetime) -> str:
    # Whole days are said as dates; a period cut elsewhere, to the minute in its zone.
    if start.time() == end.time() == time(0):
        return period(language, start, end)
    return m.text(language, "{start} to {end}", start=f"{start:%Y-%m-%d %H:%M}",
                  end=f"{end:%Y-%m-%d %H:%M}")


def said_in(line: str, m: MessageContext, language: str) -> str:
    """One stored summary line (its staff's languages one a line, theirs first, see
    `said`) in `language` alone; the first when it was written in fewer."""
    said = line.splitlines() or [""]
    languages = m.staff_languages()
    return said[languages.index(language)] if (language in languages and
                                               languages.index(language) < len(said)) \
        else said[0]


@dataclass(frozen=True)
class TableView:
    """One table of a report in one language: its heading, headers and cells."""

    heading: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class SectionView:
    """The report's overall part (no heading) or one team's: summary lines and tables."""

    heading: str | None
    summary: list[str]
    tables: list[TableView]


@dataclass(frozen=True)
class ReportView:
    """A run's report for people of one language, worded as the markdown report is."""

    title: str
    period: str
    sections: list[SectionView]
    findings: str | None


def report_view(result: Mapping[str, Any], language: str, m: MessageContext | None = None,
                team_messages: TeamMessages | None = None) -> ReportView:
    """The run's report in `language` alone, for a page: the title, the period line, each
    part's summary and tables (headers by their names, cells as `table_cells` says them)
    and the findings; parts with nothing in them left out."""
    m = m or MessageContext(language=EN)
    sections = [_section_view(m, language, None, result)]
    for team, section in result.get("teams", {}).items():
        tm = team_messages(team) if team_messages else m
        sections.append(_section_view(tm, language, tm.text(language, "Team {team}",
                                                             team=team), section))
    findings = None
    if result.get("findings"):
        findings = m.text(language, "Findings added to the improvement backlog: {ids}.",
                          ids=m.text(language, ", ").join(f"#{i}" for i in result["findings"]))
    return ReportView(title=m.translated(language, str(result.get("title",
                                                               result.get("review", "")))),
                      period=_period_line(m, language, result),
                      sections=[s for s in sections if s.summary or s.tables],
                      findings=findings)


def _section_view(m: MessageContext, language: str, heading: str | None,
                  section: Mapping[str, Any]) -> SectionView:
    tables = []
    for name, rows in section.get("tables", {}).items():
        columns, body = table_cells(list(rows), m, language)
        tables.append(TableView(m.name(language, "table", name),
                                [m.name(language, "column", c) for c in columns], body))
    return SectionView(heading, [said_in(line, m, language)
                                 for line in section.get("summary", [])], tables)


def scoped_result(result: Mapping[str, Any], teams: frozenset[str] | None
                  ) -> dict[str, Any]:
    """Cut the result down to what a reader limited to `teams` may see (None: all).

    Overall figures mix every team's cases, so a team-scoped reader sees only their
    teams' sections of a review that has them; a review without team sections (a
    satisfaction note, greetings counts) is shown whole.
    """
    if teams is None or not result.get("teams"):
        return dict(result)
    visible = {t: s for t, s in result["teams"].items() if t in teams}
    hidden = {"summary", "tables", "recurrence"}
    return {**{k: v for k, v in result.items() if k not in hidden}, "summary": [],
            "tables": {}, "teams": visible, "scope": sorted(teams)}


# Prefect's rule for artifact keys: lowercase letters, digits and dashes only.
_NOT_IN_KEY = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """An artifact key made of `parts`, valid by construction: lowercase, every run of
    other characters (a table named `by_team`, a space) turned into one dash."""
    return "-".join(p for p in (_NOT_IN_KEY.sub("-", part.lower()).strip("-")
                                for part in parts) if p)


@dataclass(frozen=True)
class Artifact:
    """One Prefect artifact of a run: the markdown report or one overall table."""

    key: str
    kind: Literal["markdown", "table"]
    content: str | list[dict[str, Any]]
    description: str


def run_artifacts(review: str, run_id: int | None, result: Mapping[str, Any],
                  m: MessageContext | None = None, team_messages: TeamMessages | None = None
                  ) -> list[Artifact]:
    """The artifacts a run publishes: its markdown report keyed by review (in the staff's
    languages, see `render_markdown`), then a table per overall figure keyed by review
    and table (data: their columns are the result's own keys)."""
    found = result.get("period", {})
    about = (f"{result.get('title', review)}, {found.get('start', '')[:10]} to "
             f"{found.get('end', '')[:10]} (run {run_id})")
    markdown = render_markdown(result, m, team_messages)
    return [Artifact(artifact_key(review), "markdown", markdown, about),
            *(Artifact(artifact_key(review, name), "table", flat_rows(rows), about)
              for name, rows in result.get("tables", {}).items())]
