"""A complaint as the store recorded it: what opened it, what people did, how it ended.

The replay (`domain.whatif.replay`) starts from the opening facts and replays the
people's events; the service's own events (classification, assignment, warnings,
escalations, auto-close) it derives again from the policies. `outcome` is what the
store holds now, to compare a replay with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access import ActorKind
from domain.policy import Tier
from domain.whatif.outcome import Outcome

# Timeline entries the service writes itself while a complaint opens, escalates or closes
# by its timer: the replay derives them from the policies instead of reading them.
DERIVED = frozenset({"opened", "classify", "assign", "sla_warning", "escalated", "auto_close"})
# What a decision adds to an event's data on the timeline, which the event did not carry.
ADDED_DETAILS = frozenset({"note", "stage_from", "stage_to", "reassigned_from",
                           "priority_from"})
# Each actor kind by its stored text: a lookup by value costs an enum call per entry.
_ACTOR_KINDS = {kind.value: kind for kind in ActorKind}
# The classification reason of a priority the caller chose (`classify`'s).
SET_BY_CALLER = "set by the caller"


@dataclass(frozen=True)
class RecordedEvent:
    """An event a person or an integration sent, as its timeline entry recorded it."""

    type: str
    actor: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    actor_kind: ActorKind = ActorKind.person

    @classmethod
    def from_entry(cls, type_: str, actor: str, actor_kind: str, at: datetime,
                   details: Mapping[str, Any]) -> RecordedEvent:
        """The event behind a timeline entry: its details less what the decision added."""
        note = details.get("note")
        return cls(type=type_, actor=actor, at=at,
                   actor_kind=_ACTOR_KINDS.get(actor_kind) or ActorKind(actor_kind),
                   note=note if isinstance(note, str) else None,
                   data={k: v for k, v in details.items() if k not in ADDED_DETAILS})


@dataclass(frozen=True)
class RecordedCase:
    """One complaint's opening facts, its people's events in order, and its outcome."""

    id: int
    team: str
    tier: Tier
    priority: str  # as classified at opening
    requested: bool  # the caller chose the priority: no rule re-classifies it
    assignee: str  # as routed at opening
    opened_at: datetime
    opened_by: str
    channel: str | None
    category: str | None
    text: str  # subject and description, which classification rules read
    events: tuple[RecordedEvent, ...]
    outcome: Outcome
