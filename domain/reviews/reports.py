"""Render a review run's result for people: a markdown summary and flat tables.

The result is what `processes.reviews.runs` stores: summary lines, tables overall and per
team. The same tables become Prefect table artifacts; the markdown becomes the
markdown artifact. Team-scoped readers get `scoped_result` of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

RATIO_COLUMNS = {"share", "cumulative_share", "repeat_share"}


def cell(column: str, value: Any, unit: str | None = None) -> str:
    """Format a value for people: ratios as percentages, lists joined, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        if column in RATIO_COLUMNS or (column in ("value", "target") and unit == "ratio"):
            return f"{value:.1%}"
        if unit == "seconds" and column == "value":
            return f"{value / 60:.1f} min"
        return f"{value:g}"
    # Free text (a category someone typed) must stay inside its cell and row.
    return " ".join(str(value).split()).replace("|", "\\|")


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flatten rows for a table artifact: lists become text, the rest stays as it is."""
    return [{k: ", ".join(str(i) for i in v) if isinstance(v, list) else v
             for k, v in row.items()} for row in rows]


def markdown_table(rows: list[Mapping[str, Any]]) -> str:
    """Render `rows` as a markdown table (their keys are the columns), or say none."""
    if not rows:
        return "_none_"
    columns = [c for c in rows[0] if c not in ("numerator", "denominator")]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        unit = row.get("unit")
        lines.append("| " + " | ".join(cell(c, row.get(c), unit) for c in columns) + " |")
    return "\n".join(lines)


def _section(summary: list[str], tables: Mapping[str, list[Mapping[str, Any]]],
             level: str) -> list[str]:
    parts = [f"- {line}" for line in summary]
    for name, rows in tables.items():
        parts += ["", f"{level} {name.replace('-', ' ').capitalize()}", "",
                  markdown_table(list(rows))]
    return parts


def render_markdown(result: Mapping[str, Any]) -> str:
    """Render the run's report as markdown: period, summary, tables, each team's section."""
    period = result.get("period", {})
    lines = [f"# {result.get('title', result.get('review', 'Review'))}", "",
             f"Period {period.get('start', '?')} to {period.get('end', '?')} "
             f"({period.get('timezone', '')}); computed at {result.get('now', '?')}.", ""]
    lines += _section(result.get("summary", []), result.get("tables", {}), "##")
    for team, section in result.get("teams", {}).items():
        lines += ["", f"## Team {team}", ""]
        lines += _section(section.get("summary", []), section.get("tables", {}), "###")
    if result.get("findings"):
        ids = ", ".join(f"#{i}" for i in result["findings"])
        lines += ["", f"Findings added to the improvement backlog: {ids}."]
    return "\n".join(lines).strip() + "\n"


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


def run_artifacts(review: str, run_id: int | None, result: Mapping[str, Any]
                  ) -> list[Artifact]:
    """The artifacts a run publishes: its markdown report keyed by review, then a table
    per overall figure keyed by review and table."""
    period = result.get("period", {})
    about = (f"{result.get('title', review)}, {period.get('start', '')[:10]} to "
             f"{period.get('end', '')[:10]} (run {run_id})")
    return [Artifact(artifact_key(review), "markdown", render_markdown(result), about),
            *(Artifact(artifact_key(review, name), "table", flat_rows(rows), about)
              for name, rows in result.get("tables", {}).items())]
