"""Hand-offs: a case passed to another team, channel or location, timed and limited.

Seed 003 names needless transfers (不必要的中轉環節) a bottleneck and work-order dispatch
(轉派工單) a key node. Each transfer is kept in the case's `data.transfers` with who made
it, from where to where, why, and how long the case was held since the last hand-off.
More than `max_transfers` on one case escalates once per transfer beyond the limit,
through a process timer, so the supervisor's notice goes out like any escalation. Any
process can use these pieces; service requests do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from domain.durations import format_duration
from domain.escalation import resolve_role
from domain.policy import PolicySet, Role, Strict
from domain.process import CaseSnapshot, InvalidEvent, Notice
from domain.timers import PROCESS, TimerSpec

ESCALATION_TIMER = "transfer_escalation"
MAX_REASON = 500


class TransferPolicy(Strict):
    """More than `max_transfers` hand-offs on one case escalate to `notify` (and may
    hand the case to `reassign_to`)."""

    max_transfers: int = Field(ge=0, le=50)
    level: int = Field(default=1, ge=1, le=3)
    notify: list[Role] = Field(min_length=1)
    reassign_to: Role | None = None


def reason_of(data: Mapping[str, Any]) -> str:
    """The transfer's reason, required: 1 to MAX_REASON characters."""
    value = data.get("reason")
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON:
        raise InvalidEvent("data.reason", f"why it is handed on: text of 1 to {MAX_REASON} "
                                          "characters")
    return value.strip()


def record(case: CaseSnapshot, *, here: Mapping[str, Any], to: Mapping[str, Any],
           reason: str, actor: str, now: datetime) -> tuple[CaseSnapshot, dict[str, Any]]:
    """Move the case to `to` (team, channel, ...) and keep the hand-off on it.

    A case handed to another team leaves its assignee behind (None): the store routes it
    to a member of the new team.
    """
    transfers = list(case.data.get("transfers", []))
    since = datetime.fromisoformat(transfers[-1]["at"]) if transfers else case.opened_at
    entry = {"at": now.isoformat(), "by": actor, "from": dict(here), "to": {**here, **to},
             "reason": reason,
             "held_for": format_duration(max(now - since, timedelta(seconds=1)))}
    team = to.get("team", case.team)
    after = replace(case, team=team, channel=to.get("channel", case.channel),
                    assignee=case.assignee if team == case.team else None,
                    data={**case.data, "transfers": [*transfers, entry]})
    return after, {"from": entry["from"], "to": entry["to"], "held_for": entry["held_for"],
                   "transfers": len(transfers) + 1}


def _count(case: CaseSnapshot) -> int:
    return len(case.data.get("transfers", []))


def escalation_due(case: CaseSnapshot, rule: TransferPolicy) -> bool:
    """Whether the latest transfer went beyond the limit and has not escalated yet."""
    count = _count(case)
    return count > rule.max_transfers and case.data.get("transfers_escalated", 0) < count


def escalation_timer(case: CaseSnapshot, rule: TransferPolicy) -> list[TimerSpec]:
    """The timer that escalates the latest transfer beyond the limit, at its moment."""
    if not escalation_due(case, rule):
        return []
    count = _count(case)
    return [TimerSpec(f"{case.id}:transfers:{count}", PROCESS, ESCALATION_TIMER, None,
                      datetime.fromisoformat(case.data["transfers"][-1]["at"]))]


def escalate(case: CaseSnapshot, rule: TransferPolicy, policies: PolicySet
             ) -> tuple[CaseSnapshot, dict[str, Any]]:
    """Raise the escalation level, maybe reassign, and mark this count as escalated."""
    count = _count(case)
    assignee = case.assignee
    if rule.reassign_to is not None:
        assignee = resolve_role(case, rule.reassign_to, policies) or assignee
    after = replace(case, assignee=assignee,
                    escalation_level=max(case.escalation_level, rule.level),
                    data={**case.data, "transfers_escalated": count})
    return after, {"transfers": count, "max_transfers": rule.max_transfers,
                   "level": rule.level,
                   "reassigned_to": assignee if assignee != case.assignee else None}


def notices(after: CaseSnapshot, rule: TransferPolicy, policies: PolicySet, *,
            what: Callable[[str], str]) -> tuple[Notice, ...]:
    """Tell the people `rule.notify` names that `what` (the case, named in a language) was
    handed on too often."""
    count = _count(after)
    hops = " -> ".join(f"{t['to'].get('team')}/{t['to'].get('channel')} ({t['reason']})"
                       for t in after.data["transfers"])
    recipients: dict[str, str] = {}
    for role in rule.notify:
        person = resolve_role(after, role, policies)
        if person:
            recipients.setdefault(person, role.value)
    m = policies.staff_messages(after.team)

    def values(language: str) -> dict[str, object]:
        return {"process": m.name(language, "process", after.process), "case": after.id,
                "count": count, "most": rule.max_transfers, "what": what(language), "hops": hops,
                "level": after.escalation_level,
                "assignee": after.assignee or m.text(language, "none")}

    subject = m.staff_subject(lambda language: m.text(
        language, "[{process} #{case}] transferred {count} times (more than {most})",
        **values(language)))
    body = m.staff(lambda language: m.text(
        language, "{what} was handed on {count} times: {hops}. Escalation level {level}; "
        "assignee {assignee}.", **values(language)) + "\n" + m.text(
        language, "Open the case: {link}", link=m.case_link(after.process, after.id)))
    return tuple(Notice(person, role, subject, body, f"{after.id}:transfers:{count}:{person}")
                 for person, role in sorted(recipients.items()))
