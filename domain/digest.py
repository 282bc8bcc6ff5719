"""One message per recipient per delivery round: what it covers, counted, and the most
urgent lines in full.

A storm gives a supervisor thousands of escalations at once. They reach them as one
digest: how many notifications and cases it covers, counted by process, team and rung,
then the LINES_IN_FULL most urgent lines each with its whole text, and a link to the
console's queue for the rest. Every line of the round is delivered by that one send, so
a crash between the send and its record re-sends one message per recipient.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from babel.numbers import format_decimal

from domain.messages import MessageContext, babel_locale

# Lines shown with their whole text; a person reads this many, the queue has the rest.
LINES_IN_FULL = 50


@dataclass(frozen=True)
class DigestLine:
    """One queued notification (its id and key) and what ranks and counts it: its case's
    process and team, and for an escalation its rung (name and ladder level) and when that
    fell due. Its text is apart (`compose_digest`'s `texts`): only the lines shown in full
    need theirs."""

    id: int
    key: str
    case_id: int | None = None
    process: str | None = None
    team: str | None = None
    rung: str | None = None
    level: int | None = None
    due_at: datetime | None = None


def most_urgent_first(lines: Sequence[DigestLine]) -> list[DigestLine]:
    """Highest escalation level first, then the longest overdue; other notices rank as
    level 0 rungs. The sort is stable: lines that tie keep their queued order."""
    return sorted(lines, key=lambda line: (
        -(line.level or 0), line.due_at is None, line.due_at or datetime.min))


def shown_in_full(lines: Sequence[DigestLine]) -> list[DigestLine]:
    """The lines a digest shows with their whole text: the LINES_IN_FULL most urgent."""
    return most_urgent_first(lines)[:LINES_IN_FULL]


def compose_digest(lines: Sequence[DigestLine], texts: Mapping[int, tuple[str, str]],
                   context: MessageContext) -> tuple[str, str]:
    """One line as it is; several as one digest: the most urgent first, each with its whole
    text under its subject, and past LINES_IN_FULL a count of all of them and the queue.
    `texts` has the subject and body of (at least) the lines shown in full, by id."""
    if len(lines) == 1:
        return texts[lines[0].id]
    # Escalations concern cases; a review's reminder, which concerns none, is a notice.
    what = ("Caseflow: {count} escalations need your attention"
            if all(line.case_id is not None for line in lines)
            else "Caseflow: {count} notices need your attention")
    title = context.staff_subject(lambda language: context.text(
        language, what, count=_number(language, len(lines))))
    shown = shown_in_full(lines)
    parts = [f"{n}. {texts[line.id][0]}\n" + textwrap.indent(texts[line.id][1], "   ")
             for n, line in enumerate(shown, 1)]
    if len(shown) < len(lines):
        parts.insert(0, context.staff(lambda language: _summary(lines, len(shown), context,
                                                                 language)))
    return title, "\n\n".join(parts)


def _summary(lines: Sequence[DigestLine], shown: int, context: MessageContext,
             language: str) -> str:
    """What a long digest covers, counted by process, team and rung, and where the rest is."""
    cases = len({line.case_id for line in lines if line.case_id is not None})
    groups = Counter((line.process, line.team, line.rung, line.level) for line in lines)
    text = [context.text(language, "This digest covers {count} notifications on {cases} cases:",
                         count=_number(language, len(lines)), cases=_number(language, cases))]
    for (process, team, rung, level), count in sorted(
            groups.items(), key=lambda item: (-(item[0][3] or 0), -item[1])):
        what = (context.text(language, "{rung} (level {level})", level=level,
                             rung=context.name(language, "rung", rung))
                if rung is not None else context.text(language, "other notices"))
        where = (context.text(language, "no case") if process is None
                 else context.name(language, "process", process) if team is None
                 else context.text(language, "{process}, team {team}", team=team,
                                   process=context.name(language, "process", process)))
        text.append(context.text(language, "- {where}: {what}: {count}", where=where,
                                 what=what, count=_number(language, count)))
    text.append(context.text(
        language, "The {shown} most urgent follow in full; all of them are in the queue: "
        "{link}", shown=_number(language, shown), link=context.queue_link()))
    return "\n".join(text)


def _number(language: str, value: int) -> str:
    """A count with the language's digit grouping (`10,000`)."""
    return format_decimal(value, locale=babel_locale(language))
